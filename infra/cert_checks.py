"""Reading certificates and keys from files, and the checks made before AWS sees them.

Each check raises ``CertificateUnusable`` naming the file (or ARN) and what is wrong, so
that a mismatched key or an expired certificate is a one-line error before any AWS call.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
)

from albca.ca.keys import CAKey
from albca.infra.errors import CertificateUnusable

__all__ = [
    "RENEW_WHEN_REMAINING",
    "load_certificate",
    "load_certificate_file",
    "load_private_key_file",
    "require_matching_key",
    "require_valid_at",
    "issuing_ca",
    "renewal_due",
    "covers_dns_name",
    "certificate_body",
    "key_fingerprint",
    "describe_certificate",
]

RENEW_WHEN_REMAINING = 1 / 3
"""Renew once less than this share of a certificate's lifetime is left (30 days of 90)."""


def load_certificate(data: bytes, *, source: str) -> x509.Certificate:
    """The first certificate of a PEM file (the leaf of a full chain)."""
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise CertificateUnusable(f"{source}: not a PEM certificate", source=source) from None
    return certificates[0]


def load_certificate_file(path: Path) -> x509.Certificate:
    return load_certificate(_read(path), source=str(path))


def load_private_key_file(path: Path) -> CAKey:
    data = _read(path)
    try:
        key: PrivateKeyTypes = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise CertificateUnusable(
            f"{path}: the private key is encrypted; give the unencrypted key (ACM and the "
            "backend server need it in clear)",
            source=str(path),
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise CertificateUnusable(f"{path}: not a PEM private key", source=str(path)) from None
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CertificateUnusable(
            f"{path}: a {type(key).__name__.removeprefix('_')} key; use an EC or RSA key",
            source=str(path),
        )
    return key


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CertificateUnusable(
            f"cannot read {path}: {exc.strerror or exc}", source=str(path)
        ) from None


def require_matching_key(certificate: x509.Certificate, key: CAKey, *, source: str) -> None:
    if certificate.public_key() != key.public_key():
        raise CertificateUnusable(
            f"{source}: the private key does not match the certificate "
            f"({describe_certificate(certificate)})",
            source=source,
        )


def require_valid_at(
    certificate: x509.Certificate, now: datetime, *, source: str, purpose: str
) -> None:
    """The certificate is inside its validity period at ``now``."""
    if now >= certificate.not_valid_after_utc:
        raise CertificateUnusable(
            f"{source}: the certificate expired at "
            f"{certificate.not_valid_after_utc.isoformat()}; {purpose} refuses expired "
            "certificates",
            source=source,
        )
    if now < certificate.not_valid_before_utc:
        raise CertificateUnusable(
            f"{source}: the certificate is not valid before "
            f"{certificate.not_valid_before_utc.isoformat()}; {purpose} refuses it until then",
            source=source,
        )


def issuing_ca(
    certificate: x509.Certificate, authorities: Sequence[x509.Certificate]
) -> x509.Certificate | None:
    """The CA among ``authorities`` whose key signed ``certificate``, if any."""
    for authority in authorities:
        if authority.subject != certificate.issuer:
            continue
        try:
            certificate.verify_directly_issued_by(authority)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            continue
        return authority
    return None


def renewal_due(certificate: x509.Certificate, now: datetime) -> bool:
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    return certificate.not_valid_after_utc - now < lifetime * RENEW_WHEN_REMAINING


def covers_dns_name(certificate: x509.Certificate, name: str) -> bool:
    """The certificate's SAN holds exactly ``name`` (no wildcard matching: albca issues
    exact names)."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return name.lower() in {dns.lower() for dns in san.get_values_for_type(x509.DNSName)}


def certificate_body(certificate: x509.Certificate) -> str:
    """The base64 of the DER certificate, without BEGIN/END lines or line breaks: the
    ``PublicKey`` attribute of a Classic ELB ``PublicKeyPolicyType`` policy (AWS_NOTES)."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    return base64.b64encode(der).decode("ascii")


def key_fingerprint(public_key: CertificatePublicKeyTypes) -> str:
    """SHA-256 of the SubjectPublicKeyInfo, hex: names a key whatever certificate holds it."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def describe_certificate(certificate: x509.Certificate) -> str:
    subject = certificate.subject.rfc4514_string() or "empty subject"
    return f"{subject}, serial {certificate.serial_number:x}"
