"""Assertion helpers over certificates, in the manner of trustme's ``assert_is_ca``.

Each helper states what a relying party (an ALB, OpenSSL, a browser) needs to see, and
fails with a message that names the property that is wrong.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from albca.ca.errors import CAError
from albca.ca.keys import KeySpec
from albca.ca.profiles import CertificateKind

_E = TypeVar("_E", bound=x509.ExtensionType)

_EXPECTED_HASH: dict[KeySpec, type[hashes.HashAlgorithm]] = {
    KeySpec.EC_P256: hashes.SHA256,
    KeySpec.EC_P384: hashes.SHA384,
    KeySpec.EC_P521: hashes.SHA512,
    KeySpec.RSA_2048: hashes.SHA256,
    KeySpec.RSA_3072: hashes.SHA256,
    KeySpec.RSA_4096: hashes.SHA256,
}


def extension(
    item: x509.Certificate | x509.CertificateRevocationList | x509.RevokedCertificate,
    kind: type[_E],
) -> x509.Extension[_E]:
    """The extension of class ``kind`` of a certificate, a CRL or a CRL entry."""
    return item.extensions.get_extension_for_class(kind)


def has_extension(certificate: x509.Certificate, kind: type[x509.ExtensionType]) -> bool:
    try:
        certificate.extensions.get_extension_for_class(kind)
    except x509.ExtensionNotFound:
        return False
    return True


def key_usage_bits(usage: x509.KeyUsage) -> set[str]:
    """The key usage bits that are set, by name (encipher/decipher_only need key_agreement)."""
    names = [
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
    ]
    return {name for name in names if getattr(usage, name)}


def assert_signed_with_hash_for(certificate: x509.Certificate, issuer_spec: KeySpec) -> None:
    """The signature hash is the one albca pairs with the issuer's key type."""
    algorithm = certificate.signature_hash_algorithm
    assert isinstance(algorithm, _EXPECTED_HASH[issuer_spec]), (
        f"signed with {algorithm.name if algorithm else None}, expected "
        f"{_EXPECTED_HASH[issuer_spec].name} for a {issuer_spec} issuer"
    )


def assert_serial_is_valid(certificate: x509.Certificate) -> None:
    """Positive and at most 20 octets (RFC 5280 section 4.1.2.2)."""
    serial = certificate.serial_number
    assert serial > 0, "serial number must be positive"
    # The DER INTEGER of a positive number carries a leading sign bit: 20 octets hold at
    # most 159 bits of value.
    assert serial.bit_length() <= 159, f"serial of {serial.bit_length()} bits exceeds 20 octets"


def assert_is_ca(
    certificate: x509.Certificate,
    *,
    path_length: int,
    issuer: x509.Certificate | None = None,
) -> None:
    """A CA certificate ALB trust stores and OpenSSL accept; self-signed when no issuer."""
    assert certificate.version is x509.Version.v3
    assert_serial_is_valid(certificate)

    constraints = extension(certificate, x509.BasicConstraints)
    assert constraints.critical, "basicConstraints must be critical in a CA certificate"
    assert constraints.value.ca is True
    assert constraints.value.path_length == path_length

    usage = extension(certificate, x509.KeyUsage)
    assert usage.critical, "keyUsage must be critical"
    assert key_usage_bits(usage.value) == {"key_cert_sign", "crl_sign"}

    ski = extension(certificate, x509.SubjectKeyIdentifier)
    assert not ski.critical
    assert ski.value == x509.SubjectKeyIdentifier.from_public_key(certificate.public_key())
    assert not has_extension(certificate, x509.ExtendedKeyUsage)

    signer = issuer or certificate
    certificate.verify_directly_issued_by(signer)
    if issuer is None:
        assert certificate.issuer == certificate.subject, "a root is self-issued"
    else:
        aki = extension(certificate, x509.AuthorityKeyIdentifier)
        assert not aki.critical
        assert aki.value.key_identifier == extension(issuer, x509.SubjectKeyIdentifier).value.digest


def expected_leaf_key_usage(kind: CertificateKind, public_key: object) -> set[str]:
    if kind is CertificateKind.SERVER and isinstance(public_key, rsa.RSAPublicKey):
        # TLS 1.2 RSA key transport encrypts the premaster secret to this key.
        return {"digital_signature", "key_encipherment"}
    return {"digital_signature"}


def assert_is_leaf(
    certificate: x509.Certificate, *, kind: CertificateKind, issuer: x509.Certificate
) -> None:
    """An end-entity certificate for ``kind``, signed by ``issuer``."""
    assert certificate.version is x509.Version.v3
    assert_serial_is_valid(certificate)
    certificate.verify_directly_issued_by(issuer)
    assert certificate.issuer == issuer.subject

    constraints = extension(certificate, x509.BasicConstraints)
    assert constraints.critical, "basicConstraints must be critical"
    assert constraints.value.ca is False
    assert constraints.value.path_length is None

    usage = extension(certificate, x509.KeyUsage)
    assert usage.critical, "keyUsage must be critical"
    assert key_usage_bits(usage.value) == expected_leaf_key_usage(kind, certificate.public_key())

    eku = extension(certificate, x509.ExtendedKeyUsage)
    assert not eku.critical
    purpose = (
        ExtendedKeyUsageOID.CLIENT_AUTH
        if kind is CertificateKind.CLIENT
        else ExtendedKeyUsageOID.SERVER_AUTH
    )
    assert list(eku.value) == [purpose]

    ski = extension(certificate, x509.SubjectKeyIdentifier)
    assert ski.value == x509.SubjectKeyIdentifier.from_public_key(certificate.public_key())
    aki = extension(certificate, x509.AuthorityKeyIdentifier)
    assert aki.value.key_identifier == extension(issuer, x509.SubjectKeyIdentifier).value.digest

    if has_extension(certificate, x509.SubjectAlternativeName):
        san = extension(certificate, x509.SubjectAlternativeName)
        # RFC 5280 section 4.2.1.6: critical exactly when the subject is empty.
        assert san.critical is (len(certificate.subject) == 0)
    else:
        assert len(certificate.subject) > 0, "a certificate without SAN needs a subject"


def assert_validity(
    certificate: x509.Certificate,
    *,
    issued_at: datetime,
    lifetime: timedelta,
    backdate: timedelta = timedelta(minutes=5),
) -> None:
    assert certificate.not_valid_before_utc == issued_at - backdate
    assert certificate.not_valid_after_utc == issued_at + lifetime


def assert_error_names_field(error: pytest.ExceptionInfo[CAError], field: str) -> None:
    """The error carries ``field`` and its message says it, so a user knows what to fix."""
    assert getattr(error.value, "field", None) == field, (
        f"error field is {getattr(error.value, 'field', None)!r}, expected {field!r}"
    )
    assert field in str(error.value), f"message {str(error.value)!r} does not name {field!r}"
