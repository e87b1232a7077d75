"""parse_csr verifies ECDSA requests itself: it must agree with cryptography's
``is_signature_valid`` on every request, valid, damaged or mismatched."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from albca.ca.csr import parse_csr
from albca.ca.errors import InvalidCSR
from albca.ca.keys import KeySpec
from tests.factories import _der_tlv, ec_key, make_csr

# ecdsa-with-SHA256 (RFC 5758 section 3.2), no parameters.
_ECDSA_WITH_SHA256 = bytes.fromhex("300a06082a8648ce3d040302")


def _assert_agrees_with_cryptography(der: bytes) -> None:
    try:
        request = x509.load_der_x509_csr(der)
    except (ValueError, x509.InvalidVersion):
        return  # parse_csr refuses it at loading, before any signature
    if request.is_signature_valid:
        assert parse_csr(der).public_key == request.public_key()
    else:
        with pytest.raises(InvalidCSR, match="signature does not verify"):
            parse_csr(der)


@pytest.mark.parametrize(
    ("curve", "algorithm"),
    [
        (ec.SECP256R1(), hashes.SHA256()),
        (ec.SECP384R1(), hashes.SHA384()),
        (ec.SECP521R1(), hashes.SHA512()),
        (ec.SECP256R1(), hashes.SHA512()),
        (ec.SECP384R1(), hashes.SHA256()),
    ],
    ids=["p256-sha256", "p384-sha384", "p521-sha512", "p256-sha512", "p384-sha256"],
)
def test_parse_csr_verifies_ecdsa_as_cryptography_does(curve, algorithm):
    der = make_csr(
        ec_key(curve),
        dns_names=("a.example",),
        hash_algorithm=algorithm,
        encoding=serialization.Encoding.DER,
    )
    _assert_agrees_with_cryptography(der)
    signature_at = len(der) - len(x509.load_der_x509_csr(der).signature)
    for index in range(signature_at, len(der)):
        for value in {0x00, 0x01, 0x80, 0xFF, der[index] ^ 0x01}:
            damaged = bytearray(der)
            damaged[index] = value
            _assert_agrees_with_cryptography(bytes(damaged))


def test_parse_csr_refuses_a_request_info_changed_after_signing():
    der = make_csr(ec_key(), dns_names=("a.example",), encoding=serialization.Encoding.DER)
    damaged = der.replace(b"a.example", b"b.example")
    assert not x509.load_der_x509_csr(damaged).is_signature_valid
    with pytest.raises(InvalidCSR, match="signature does not verify"):
        parse_csr(damaged)


def test_parse_csr_refuses_an_ecdsa_signature_over_an_rsa_key(key_pool):
    # The request holds an RSA key but says ECDSA, signed by an unrelated EC key: the
    # pairing is wrong whatever the signature, and cryptography answers False.
    rsa_info = x509.load_pem_x509_csr(
        make_csr(key_pool.leaf(KeySpec.RSA_2048))
    ).tbs_certrequest_bytes
    signature = ec_key().sign(rsa_info, ec.ECDSA(hashes.SHA256()))
    der = _der_tlv(0x30, rsa_info + _ECDSA_WITH_SHA256 + _der_tlv(0x03, b"\x00" + signature))
    assert not x509.load_der_x509_csr(der).is_signature_valid
    with pytest.raises(InvalidCSR, match="signature does not verify"):
        parse_csr(der)


def test_parse_csr_still_verifies_rsa_requests(key_pool):
    pem = make_csr(key_pool.leaf(KeySpec.RSA_2048), dns_names=("a.example",))
    assert parse_csr(pem).key_spec is KeySpec.RSA_2048
    der = x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER)
    damaged = der[:-1] + bytes((der[-1] ^ 0x01,))
    _assert_agrees_with_cryptography(damaged)
