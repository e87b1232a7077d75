"""Renewal tokens made with cryptography alone verify with an independent JOSE library
(PyJWT, what the API uses), for every key type a certificate can have."""

from __future__ import annotations

import base64
from datetime import timedelta

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from albca.ca.renewal_token import make_renewal_token
from tests.factories import T0


def self_signed(key) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "holder")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x1234ABCD)
        .not_valid_before(T0)
        .not_valid_after(T0 + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


@pytest.mark.parametrize(
    ("make_key", "rsa_algorithm", "expected"),
    [
        (lambda: ec.generate_private_key(ec.SECP256R1()), "RS256", "ES256"),
        (lambda: ec.generate_private_key(ec.SECP384R1()), "RS256", "ES384"),
        (lambda: ec.generate_private_key(ec.SECP521R1()), "RS256", "ES512"),
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256", "RS256"),
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "PS256", "PS256"),
    ],
    ids=["p256", "p384", "p521", "rsa-rs256", "rsa-ps256"],
)
def test_token_verifies_with_pyjwt(make_key, rsa_algorithm, expected):
    key = make_key()
    certificate = self_signed(key)
    token = make_renewal_token(
        certificate, key, audience="albca-renew", now=T0, rsa_algorithm=rsa_algorithm
    )
    header = jwt.get_unverified_header(token)
    assert header["alg"] == expected
    x5c = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0], validate=True))
    assert x5c == certificate
    claims = jwt.decode(
        token,
        key=certificate.public_key(),
        algorithms=[expected],
        audience="albca-renew",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["exp"] - claims["iat"] == 300
    assert claims["sub"] == "1234abcd"


def test_token_signature_is_checked_by_pyjwt():
    # A token whose payload was changed after signing must not verify: the check above
    # would pass for a verifier that ignores signatures.
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = self_signed(key)
    header, _, signature = make_renewal_token(
        certificate, key, audience="albca-renew", now=T0
    ).split(".")
    other = make_renewal_token(certificate, key, audience="elsewhere", now=T0).split(".")[1]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            f"{header}.{other}.{signature}",
            key=certificate.public_key(),
            algorithms=["ES256"],
            audience="elsewhere",
            options={"verify_exp": False, "verify_iat": False},
        )


def test_token_refuses_a_key_that_is_not_the_certificates():
    certificate = self_signed(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ValueError, match="not the key of the certificate"):
        make_renewal_token(
            certificate, ec.generate_private_key(ec.SECP256R1()), audience="a", now=T0
        )
