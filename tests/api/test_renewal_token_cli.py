"""``albca renewal-token``: a holder makes the token on its own machine and the API accepts it."""

from __future__ import annotations

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from albca.cli import app
from tests.api.helpers import AUDIENCE, auth, csr_pem
from tests.factories import ec_key


def obtain(ca, client, key, common_name="w1.svc.internal") -> x509.Certificate:
    response = client.post(
        "/v1/certificates",
        json={"profile": "client", "csr": csr_pem(key, common_name=common_name, dns_names=())},
        headers=auth(ca.token()),
    )
    assert response.status_code == 201, response.text
    return x509.load_pem_x509_certificate(response.json()["certificate_pem"].encode())


def write(tmp_path, certificate, key, password: bytes | None = None):
    cert_file, key_file = tmp_path / "web.pem", tmp_path / "web.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    return cert_file, key_file


def run(*args: str):
    return CliRunner().invoke(app, ["renewal-token", *args], catch_exceptions=False)


def error_line(result) -> str:
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.strip().splitlines()
    assert "Traceback" not in result.output
    return line.removeprefix("albca: error: ")


@pytest.mark.parametrize("make_key", [ec_key, lambda: rsa.generate_private_key(65537, 2048)])
def test_a_token_from_the_command_renews_through_the_api(ca, client, tmp_path, make_key):
    key = make_key()
    certificate = obtain(ca, client, key)
    cert_file, key_file = write(tmp_path, certificate, key)
    result = run("--cert", str(cert_file), "--key", str(key_file), "--audience", AUDIENCE)
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    header = jwt.get_unverified_header(token)
    assert header["alg"] == ("RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256")
    response = client.post("/v1/certificates/renew", headers=auth(token))
    assert response.status_code == 201, response.text
    renewed = x509.load_pem_x509_certificate(response.json()["certificate_pem"].encode())
    assert renewed.subject == certificate.subject
    assert renewed.serial_number != certificate.serial_number
    # One-time: the very same token cannot renew twice.
    assert client.post("/v1/certificates/renew", headers=auth(token)).status_code == 401


def test_the_default_audience_is_refused_by_an_api_expecting_another(ca, client, tmp_path):
    key = ec_key()
    cert_file, key_file = write(tmp_path, obtain(ca, client, key), key)
    token = run("--cert", str(cert_file), "--key", str(key_file)).stdout.strip()
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == "albca-renew"
    response = client.post("/v1/certificates/renew", headers=auth(token))
    assert response.status_code == 401


def test_an_encrypted_key_needs_its_passphrase(ca, client, tmp_path):
    key = ec_key()
    cert_file, key_file = write(tmp_path, obtain(ca, client, key), key, password=b"s3cret")
    message = error_line(run("--cert", str(cert_file), "--key", str(key_file)))
    assert "is encrypted" in message
    assert "--key-passphrase-file" in message
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    message = error_line(
        run("--cert", str(cert_file), "--key", str(key_file), "--key-passphrase-file", str(wrong))
    )
    assert "passphrase is wrong" in message
    right = tmp_path / "right"
    right.write_text("s3cret\n")
    result = run(
        "--cert", str(cert_file), "--key", str(key_file), "--key-passphrase-file", str(right)
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.count(".") == 2  # header.claims.signature


def test_a_passphrase_for_a_key_that_has_none_is_refused(ca, client, tmp_path):
    key = ec_key()
    cert_file, key_file = write(tmp_path, obtain(ca, client, key), key)
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("s3cret\n")
    message = error_line(
        run(
            "--cert",
            str(cert_file),
            "--key",
            str(key_file),
            "--key-passphrase-file",
            str(passphrase),
        )
    )
    assert message == f"--key-passphrase-file: {key_file} is not encrypted; leave the option out"


def test_another_key_than_the_certificate_s_is_refused(ca, client, tmp_path):
    certificate = obtain(ca, client, ec_key())
    cert_file, key_file = write(tmp_path, certificate, ec_key())
    message = error_line(run("--cert", str(cert_file), "--key", str(key_file)))
    assert message == "key: this is not the key of the certificate being renewed"


def test_unreadable_and_malformed_inputs_name_the_option(ca, client, tmp_path):
    key = ec_key()
    cert_file, key_file = write(tmp_path, obtain(ca, client, key), key)
    missing = tmp_path / "missing.pem"
    assert error_line(run("--cert", str(missing), "--key", str(key_file))).startswith(
        f"--cert: cannot read {missing}"
    )
    assert error_line(run("--cert", str(key_file), "--key", str(key_file))) == (
        f"--cert: {key_file} is not a PEM certificate"
    )
    assert error_line(run("--cert", str(cert_file), "--key", str(cert_file))).startswith(
        f"--key: {cert_file} is not a PEM private key"
    )
    assert "--lifetime" in error_line(
        run("--cert", str(cert_file), "--key", str(key_file), "--lifetime", "soon")
    )
    assert "1 hour" in error_line(
        run("--cert", str(cert_file), "--key", str(key_file), "--lifetime", "2h")
    )
