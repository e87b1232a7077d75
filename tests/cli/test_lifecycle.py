"""revoke, list, show, crl, bundle and audit through the command line."""

from __future__ import annotations

from cryptography import x509


def issue(cli, *args: str) -> str:
    return cli.json("issue", *args)["serial"]


def test_revoke_then_crl_lists_the_serial_with_its_reason(initialized):
    serial = issue(initialized, "client", "--cn", "alice")
    revoked = initialized.json("revoke", serial, "--reason", "keyCompromise")
    assert revoked["status"] == "revoked"
    assert revoked["revocation_reason"] == "key-compromise"
    facts = initialized.json("crl", "--out", "crl.pem")
    assert (facts["number"], facts["entries"]) == (1, 1)
    crl = x509.load_pem_x509_crl((initialized.workdir / "crl.pem").read_bytes())
    entry = crl.get_revoked_certificate_by_serial_number(int(serial, 16))
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.key_compromise


def test_crl_numbers_keep_increasing_across_runs(initialized):
    numbers = [initialized.json("crl", "--out", f"c{i}.pem")["number"] for i in range(3)]
    assert numbers == [1, 2, 3]
    der = initialized.ok("crl", "--format", "der", "--out", "c.der").stdout
    assert "number:" in der
    parsed = x509.load_der_x509_crl((initialized.workdir / "c.der").read_bytes())
    assert parsed.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 4


def test_crl_to_standard_output_is_pem(initialized):
    output = initialized.ok("crl").stdout
    assert output.startswith("-----BEGIN X509 CRL-----")


def test_revoking_twice_or_an_unknown_serial_is_one_line(initialized):
    serial = issue(initialized, "client", "--cn", "alice")
    initialized.ok("revoke", serial)
    assert "already revoked" in initialized.fails("revoke", serial)
    assert "no certificate with serial abc" in initialized.fails("revoke", "ABC")
    assert "not a hexadecimal serial" in initialized.fails("revoke", "xyz")
    assert "not a revocation reason" in initialized.fails("revoke", serial, "--reason", "oops")
    revokes = [e for e in initialized.json("audit") if e["action"] == "revoke"]
    assert len(revokes) == 1


def test_serials_are_accepted_with_colons_and_in_upper_case(initialized):
    serial = issue(initialized, "client", "--cn", "alice")
    colons = ":".join(serial.upper().zfill(40)[i : i + 2] for i in range(0, 40, 2))
    assert initialized.json("show", colons)["serial"] == serial


def test_list_filters_by_status_profile_and_expiry(initialized):
    alice = issue(initialized, "client", "--cn", "alice", "--lifetime", "10d")
    bob = issue(initialized, "client", "--cn", "bob", "--lifetime", "60d")
    api = issue(initialized, "server", "--dns", "api.internal", "--lifetime", "20d")
    initialized.ok("revoke", bob)

    def serials(*args):
        return [c["serial"] for c in initialized.json("list", *args)["certificates"]]

    assert serials() == [alice, api, bob]
    assert serials("--status", "revoked") == [bob]
    assert serials("--status", "active") == [alice, api]
    assert serials("--profile", "server") == [api]
    assert serials("--expiring-within", "15") == [alice]
    assert "not one of active, expired, revoked" in initialized.fails("list", "--status", "x")


def test_list_pages_with_a_cursor(initialized):
    issued = [issue(initialized, "client", "--cn", f"c{i}") for i in range(5)]
    first = initialized.json("list", "--limit", "2")
    second = initialized.json("list", "--limit", "10", "--cursor", first["next_cursor"])
    seen = [c["serial"] for c in first["certificates"] + second["certificates"]]
    assert sorted(seen) == sorted(issued)
    assert second["next_cursor"] is None
    table = initialized.ok("list", "--limit", "2").stdout
    assert f"albca list --cursor {first['next_cursor']}" in table


def test_show_prints_the_record_or_the_pem(initialized):
    serial = issue(initialized, "server", "--dns", "api.internal", "--ip", "10.0.0.7")
    record = initialized.json("show", serial)
    assert record["dns_names"] == ["api.internal"]
    assert record["ip_addresses"] == ["10.0.0.7"]
    assert record["profile"] == "server"
    pem = initialized.ok("show", serial, "--pem").stdout
    assert pem == (initialized.workdir / "api.internal.crt.pem").read_text()
    assert serial in initialized.ok("show", serial).stdout


def test_bundle_lists_root_then_issuing_ca_with_comments(initialized):
    output = initialized.ok("bundle").stdout
    certificates = x509.load_pem_x509_certificates(output.encode())
    assert [c.subject.rfc4514_string() for c in certificates] == [
        "CN=albca Root CA",
        "CN=albca Issuing CA",
    ]
    assert output.startswith("# root CA: CN=albca Root CA")
    initialized.ok("bundle", "--out", "ca-bundle.pem")
    assert (initialized.workdir / "ca-bundle.pem").read_text() == output


def test_audit_records_every_action_with_its_actor(initialized):
    serial = issue(initialized, "client", "--cn", "alice")
    initialized.ok("revoke", serial)
    initialized.ok("crl", "--out", "crl.pem")
    events = initialized.json("audit")
    assert [e["action"] for e in events] == ["crl", "revoke", "issue", "init", "init"]
    assert all(e["actor"].startswith("cli:") for e in events)
    assert [e["action"] for e in initialized.json("audit", "--serial", serial)] == [
        "revoke",
        "issue",
    ]


def test_crl_out_to_an_existing_file_refuses_before_taking_a_number(initialized):
    (initialized.workdir / "taken.pem").write_text("keep me")
    (initialized.workdir / "dangling.pem").symlink_to(initialized.workdir / "nowhere")
    for existing in ("taken.pem", "dangling.pem"):
        assert "already exists" in initialized.fails("crl", "--out", existing)
    assert (initialized.workdir / "taken.pem").read_text() == "keep me"
    assert not any(e["action"] == "crl" for e in initialized.json("audit"))
    assert initialized.json("crl", "--out", "crl.pem")["number"] == 1  # none was used up


def test_crl_out_into_a_missing_directory_refuses_before_taking_a_number(initialized):
    (initialized.workdir / "a-file").write_text("not a directory")
    refusals = {
        "missing/crl.pem": "missing is not a directory",
        "a-file/crl.pem": "a-file is not a directory",
    }
    for out, why in refusals.items():
        assert initialized.fails("crl", "--out", out) == f"cannot write {out}: {why}"
    assert not any(e["action"] == "crl" for e in initialized.json("audit"))
    assert initialized.json("crl", "--out", "crl.pem")["number"] == 1  # none was used up
