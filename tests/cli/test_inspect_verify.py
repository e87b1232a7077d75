"""``albca inspect`` and ``albca verify`` on every artefact kind albca makes (certificates,
chains, CSRs, CRLs, bundles, PKCS#12; PEM and DER) and on malformed files."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from albca.ca.keys import KeySpec
from albca.ca.names import RequestedNames
from albca.holder.keys import csr_pem, new_key


@pytest.fixture
def made(initialized):
    """What albca makes, as files: a client and a server certificate with their chain
    files and a PKCS#12, the bundle, the CRL after a revocation (PEM and DER), a CSR."""
    cli = initialized
    cli.ok("issue", "client", "--cn", "alice", "--p12", env={"ALBCA_P12_PASSWORD": "p12-pass-123"})
    cli.ok("issue", "server", "--dns", "web.svc.internal")
    cli.ok("issue", "client", "--cn", "mallory")
    mallory = x509.load_pem_x509_certificate((cli.workdir / "mallory.crt.pem").read_bytes())
    cli.ok("revoke", f"{mallory.serial_number:x}", "--reason", "key-compromise")
    cli.ok("bundle", "--out", "bundle.pem")
    cli.ok("crl", "--out", "crl.pem")
    crl = x509.load_pem_x509_crl((cli.workdir / "crl.pem").read_bytes())  # the same CRL, DER
    (cli.workdir / "crl.der").write_bytes(crl.public_bytes(serialization.Encoding.DER))
    der = x509.load_pem_x509_certificate((cli.workdir / "alice.crt.pem").read_bytes())
    (cli.workdir / "alice.der").write_bytes(der.public_bytes(serialization.Encoding.DER))
    key = new_key(KeySpec.EC_P256)
    (cli.workdir / "req.csr").write_text(
        csr_pem(key, RequestedNames.of(common_name="c.svc.internal", dns_names=["c.svc.internal"]))
    )
    return cli


def test_inspect_a_certificate_pem_and_der(made):
    pem = made.json("inspect", "alice.crt.pem")
    der = made.json("inspect", "alice.der")
    assert pem == der
    assert pem["kind"] == "certificate"
    assert pem["subject"] == "CN=alice"
    assert pem["extended_key_usage"] == ["clientAuth"]
    assert pem["key"] == "EC secp256r1"
    assert len(pem["sha256"]) == 64
    text = made.ok("inspect", "alice.crt.pem").stdout
    assert "time left:" in text
    assert "subject:       CN=alice" in text


def test_inspect_a_server_certificate_shows_its_names(made):
    described = made.json("inspect", "web.svc.internal.crt.pem")
    assert described["names"] == ["DNS:web.svc.internal"]
    assert described["extended_key_usage"] == ["serverAuth"]


def test_inspect_a_chain_file_and_the_bundle(made):
    bundle = made.json("inspect", "bundle.pem")
    assert bundle["kind"] == "bundle"
    assert [c["is_ca"] for c in bundle["certificates"]] == [True, True]
    fullchain = made.json("inspect", "alice.fullchain.pem")
    assert fullchain["certificates"][0]["subject"] == "CN=alice"


def test_inspect_a_crl_pem_and_der(made):
    mallory = x509.load_pem_x509_certificate((made.workdir / "mallory.crt.pem").read_bytes())
    pem = made.json("inspect", "crl.pem")
    assert pem == made.json("inspect", "crl.der")
    assert pem["kind"] == "crl"
    assert pem["stale"] is False
    assert pem["entries"] == [
        {
            "serial": f"{mallory.serial_number:x}",
            "revoked_at": pem["entries"][0]["revoked_at"],
            "reason": "keyCompromise",
        }
    ]
    assert "next update:" in made.ok("inspect", "crl.pem").stdout


def test_inspect_a_csr_from_standard_input(made):
    described = made.json("inspect", "-", input=(made.workdir / "req.csr").read_text())
    assert described["kind"] == "csr"
    assert described["names"] == ["DNS:c.svc.internal"]
    assert described["signature_valid"] is True


def test_inspect_a_pkcs12_with_its_password(made):
    (made.workdir / "pw").write_text("p12-pass-123\n")
    described = made.json("inspect", "alice.p12", "--password-file", "pw")
    assert described["kind"] == "pkcs12"
    assert described["key_matches"] is True
    assert described["certificate"]["subject"] == "CN=alice"
    (made.workdir / "pw").write_text("wrong-password\n")
    message = made.fails("inspect", "alice.p12", "--password-file", "pw")
    assert "does not open with this password" in message
    assert "give its password" in made.fails("inspect", "alice.p12")  # none given, no tty


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"hello, world\n", "not a certificate, CSR, CRL, bundle or PKCS#12 file"),
        (b"\x30\x82\x01\x00garbage", "not a certificate, CSR, CRL, bundle or PKCS#12 file"),
        (b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "damaged"),
        (b"-----BEGIN CERTIFICATE-----\nMIIB\n", "without its END line"),
        (b"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n", "private key"),
    ],
    ids=["empty", "text", "truncated-der", "bad-base64", "no-end", "private-key"],
)
def test_inspect_malformed_files_in_one_line(made, content, expected):
    (made.workdir / "bad").write_bytes(content)
    assert expected in made.fails("inspect", "bad")


def test_inspect_a_truncated_certificate_and_a_missing_file(made):
    whole = (made.workdir / "alice.der").read_bytes()
    (made.workdir / "cut.der").write_bytes(whole[: len(whole) // 2])
    assert "not a certificate" in made.fails("inspect", "cut.der")
    assert "cannot read" in made.fails("inspect", "nope.pem")


def test_verify_good_client_and_server_certificates(made):
    client = made.json("verify", "alice.crt.pem", "--bundle", "bundle.pem", "--crl", "crl.pem")
    assert client["purpose"] == "client"
    assert client["revocation"].startswith("not revoked (CRL number")
    assert len(client["chain"]) == 3
    server = made.json(
        "verify", "web.svc.internal.fullchain.pem", "--bundle", "bundle.pem",
        "--server-name", "web.svc.internal", "--crl", "crl.der",
    )  # fmt: skip
    assert server["purpose"] == "server"


def test_verify_refusals_say_why(made):
    revoked = made.fails("verify", "mallory.crt.pem", "--bundle", "bundle.pem", "--crl", "crl.pem")
    assert "was revoked at" in revoked
    assert "keyCompromise" in revoked
    wrong_name = made.fails(
        "verify", "web.svc.internal.crt.pem", "--bundle", "bundle.pem", "--server-name", "x.test"
    )
    assert "not valid for x.test" in wrong_name
    purpose = made.fails(
        "verify", "web.svc.internal.crt.pem", "--bundle", "bundle.pem", "--purpose", "client"
    )
    assert "not for client authentication" in purpose
    # Trusting only another CA: the chain does not verify.
    made.ok("issue", "client", "--cn", "self")
    other = made.workdir / "other.pem"
    bundle = x509.load_pem_x509_certificates((made.workdir / "bundle.pem").read_bytes())
    other.write_bytes(bundle[1].public_bytes(serialization.Encoding.PEM))  # the issuing CA only
    assert "no root" in made.fails("verify", "self.crt.pem", "--bundle", str(other))
    assert "not a PEM or DER certificate" in made.fails(
        "verify", "crl.pem", "--bundle", "bundle.pem"
    )
    assert "not a PEM or DER CRL" in made.fails(
        "verify", "alice.crt.pem", "--bundle", "bundle.pem", "--crl", "alice.crt.pem"
    )


def test_verify_a_crl_from_another_issuer_is_refused(made, tmp_path):
    cli = made
    other_home = tmp_path / "other-home"
    cli.ok("init", env={"ALBCA_HOME": str(other_home)})
    cli.ok("crl", "--out", "other-crl.pem", env={"ALBCA_HOME": str(other_home)})
    message = cli.fails(
        "verify", "alice.crt.pem", "--bundle", "bundle.pem", "--crl", "other-crl.pem"
    )
    assert "signature does not verify" in message or "not by the certificate's issuer" in message


def test_verify_without_bundle_uses_the_bootstrapped_one(made, tmp_path):
    message = made.fails(
        "verify", "alice.crt.pem", env={"ALBCA_CLIENT_CONFIG": str(tmp_path / "none.toml")}
    )
    assert "run albca bootstrap" in message
