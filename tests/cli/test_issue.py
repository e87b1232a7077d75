"""``albca issue client|server``: files, formats, and refusals that come before signing."""

from __future__ import annotations

import os
import stat

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.factories import ec_key, make_csr


def load(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_issue_client_with_a_generated_key_writes_private_key_and_chain(initialized):
    result = initialized.json("issue", "client", "--cn", "alice")
    work = initialized.workdir
    certificate = load(work / "alice.crt.pem")
    assert f"{certificate.serial_number:x}" == result["serial"]
    assert result["files"]["private_key"] == str(work / "alice.key.pem")
    assert stat.S_IMODE(os.stat(work / "alice.key.pem").st_mode) == 0o600
    key = serialization.load_pem_private_key((work / "alice.key.pem").read_bytes(), None)
    assert key.public_key() == certificate.public_key()
    eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    chain = x509.load_pem_x509_certificates((work / "alice.fullchain.pem").read_bytes())
    assert chain[0] == certificate
    assert chain[1].subject == certificate.issuer


def test_issue_client_from_a_csr_keeps_the_key_with_its_owner(initialized):
    key = ec_key()
    (initialized.workdir / "bob.csr").write_bytes(make_csr(key, common_name="bob"))
    result = initialized.json("issue", "client", "--csr", "bob.csr")
    assert result["common_name"] == "bob"
    assert "private_key" not in result["files"]
    assert load(initialized.workdir / "bob.crt.pem").public_key() == key.public_key()


def test_names_given_on_the_command_line_override_the_csr(initialized):
    (initialized.workdir / "svc.csr").write_bytes(
        make_csr(common_name="ignored", dns_names=("ignored.example",))
    )
    result = initialized.json(
        "issue", "server", "--csr", "svc.csr", "--dns", "api.internal", "--name", "api"
    )
    assert result["dns_names"] == ["api.internal"]
    assert result["common_name"] is None


def test_issue_server_needs_a_san(initialized):
    message = initialized.fails("issue", "server", "--cn", "api")
    assert message.startswith("dns_names:")
    assert initialized.json("list")["certificates"] == []


def test_issue_client_as_pkcs12_for_a_browser(initialized):
    initialized.ok(
        "issue", "client", "--cn", "carol", "--p12", env={"ALBCA_P12_PASSWORD": "p12-secret-pw"}
    )
    p12 = initialized.workdir / "carol.p12"
    assert stat.S_IMODE(os.stat(p12).st_mode) == 0o600
    bundle = pkcs12.load_pkcs12(p12.read_bytes(), b"p12-secret-pw")
    assert bundle.cert is not None
    assert bundle.cert.certificate.subject.rfc4514_string() == "CN=carol"
    assert len(bundle.additional_certs) == 1


def test_pkcs12_password_is_checked_before_anything_is_issued(initialized):
    message = initialized.fails(
        "issue", "client", "--cn", "dave", "--p12", env={"ALBCA_P12_PASSWORD": "short"}
    )
    assert "at least 8 characters" in message
    assert initialized.json("list")["certificates"] == []


def test_pkcs12_from_a_csr_is_refused(initialized):
    (initialized.workdir / "e.csr").write_bytes(make_csr(common_name="e"))
    assert "--p12" in initialized.fails("issue", "client", "--csr", "e.csr", "--p12")


def test_existing_output_files_stop_issuance_before_signing(initialized):
    (initialized.workdir / "alice.crt.pem").write_text("keep me")
    message = initialized.fails("issue", "client", "--cn", "alice")
    assert "alice.crt.pem already exists" in message
    assert (initialized.workdir / "alice.crt.pem").read_text() == "keep me"
    assert initialized.json("list")["certificates"] == []
    initialized.ok("issue", "client", "--cn", "alice", "--force")
    assert load(initialized.workdir / "alice.crt.pem").subject.rfc4514_string() == "CN=alice"


def test_bad_csr_file_is_one_line_naming_the_csr(initialized):
    (initialized.workdir / "junk.csr").write_bytes(b"-----BEGIN CERTIFICATE REQUEST-----\nxx\n")
    assert initialized.fails("issue", "client", "--csr", "junk.csr").startswith("csr:")
    assert "cannot read" in initialized.fails("issue", "client", "--csr", "missing.csr")


def test_lifetime_above_the_profile_maximum_is_refused(initialized):
    message = initialized.fails("issue", "client", "--cn", "x", "--lifetime", "400d")
    assert "above the client profile's maximum of 365 days" in message
    assert "not a duration" in initialized.fails("issue", "client", "--cn", "x", "--lifetime", "1y")


def test_profile_of_the_wrong_kind_is_refused(initialized):
    message = initialized.fails("issue", "client", "--cn", "x", "--profile", "server")
    assert "issues server certificates, not client" in message
    assert "unknown profile 'nope'" in initialized.fails(
        "issue", "client", "--cn", "x", "--profile", "nope"
    )


def test_wildcards_are_refused_by_the_default_policy(initialized):
    message = initialized.fails("issue", "server", "--dns", "*.svc.internal")
    assert "wildcard names are not allowed" in message


def test_control_characters_in_names_are_refused(initialized):
    assert "NUL" in initialized.fails("issue", "client", "--cn", "evil\x00.example")


def test_a_dangling_symlink_among_the_outputs_stops_issuance_before_signing(initialized):
    # Before: the check followed the link (exists() was False), the certificate was
    # committed, then creating the key file failed and the key was lost.
    (initialized.workdir / "alice.key.pem").symlink_to("/nonexistent/albca-elsewhere")
    message = initialized.fails("issue", "client", "--cn", "alice")
    assert "alice.key.pem already exists" in message
    assert initialized.json("list")["certificates"] == []
    assert not (initialized.workdir / "alice.crt.pem").exists()


def test_force_never_writes_through_a_symlink(initialized, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("not yours")
    (initialized.workdir / "alice.crt.pem").symlink_to(victim)
    message = initialized.fails("issue", "client", "--cn", "alice", "--force")
    assert "alice.crt.pem" in message
    assert "symbolic link" in message
    assert victim.read_text() == "not yours"
    assert initialized.json("list")["certificates"] == []


def test_a_refusal_after_the_files_are_opened_leaves_no_files_behind(initialized):
    # The lifetime is refused by the authority, after every output file was opened.
    (initialized.workdir / "api.crt.pem").write_text("keep me")
    message = initialized.fails(
        "issue",
        "server",
        "--dns",
        "api.internal",
        "--name",
        "api",
        "--lifetime",
        "5000d",
        "--force",
    )
    assert "lifetime" in message
    assert sorted(p.name for p in initialized.workdir.iterdir()) == ["api.crt.pem"]
    assert (initialized.workdir / "api.crt.pem").read_text() == "keep me"


def test_a_write_that_fails_after_signing_names_the_serial(initialized, monkeypatch):
    from albca.cli import context

    real_write = context.OutputFiles.write

    def disk_full_at_the_key(self, label, data):
        if label == "private_key":
            raise OSError(28, "No space left on device", str(self.paths[label]))
        real_write(self, label, data)

    monkeypatch.setattr(context.OutputFiles, "write", disk_full_at_the_key)
    message = initialized.fails("issue", "client", "--cn", "alice")
    [record] = initialized.json("list")["certificates"]
    assert f"certificate {record['serial']} was issued and recorded" in message
    assert "No space left on device" in message
    assert f"albca revoke {record['serial']}" in message
