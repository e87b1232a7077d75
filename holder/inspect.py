"""What a file holds: certificates, CSRs, CRLs, bundles and PKCS#12 files, PEM or DER, as
a plain dict (the CLI prints it as text or JSON).

The kind is told from the PEM label (RFC 7468) or, for DER, by which parser accepts it; a
PKCS#12 file is recognised before its password is known by its outer structure, a
SEQUENCE starting with INTEGER 3 (PFX version v3, RFC 7292 section 4).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from albca.holder.errors import UnreadableFile

__all__ = ["describe", "is_pkcs12"]

_KINDS = "a certificate, CSR, CRL, bundle or PKCS#12 file (PEM or DER)"


def describe(
    data: bytes, *, name: str, now: datetime, password: Callable[[], bytes | None]
) -> dict[str, Any]:
    if not data.strip():
        raise UnreadableFile(f"{name}: empty; expected {_KINDS}")
    if b"-----BEGIN " in data:
        return _describe_pem(data, name, now)
    if is_pkcs12(data):
        return _describe_pkcs12(data, name, now, password())
    for kind, load in (
        ("certificate", x509.load_der_x509_certificate),
        ("csr", x509.load_der_x509_csr),
        ("crl", x509.load_der_x509_crl),
    ):
        try:
            loaded = load(data)
        except ValueError:
            continue
        return _describe_one(kind, loaded, now)
    raise UnreadableFile(f"{name}: not {_KINDS}")


def is_pkcs12(data: bytes) -> bool:
    if len(data) < 8 or data[0] != 0x30:
        return False
    # Skip the outer SEQUENCE's length (short form, or long form of 1-4 bytes).
    first = data[1]
    offset = 2 if first < 0x80 else 2 + (first & 0x7F)
    return data[offset : offset + 3] == b"\x02\x01\x03"


def _describe_pem(data: bytes, name: str, now: datetime) -> dict[str, Any]:
    labels = [
        line.strip()[len("-----BEGIN ") : -len("-----")].decode("ascii", "replace")
        for line in data.splitlines()
        if line.strip().startswith(b"-----BEGIN ") and line.strip().endswith(b"-----")
    ]
    ends = [line for line in data.splitlines() if line.strip().startswith(b"-----END ")]
    if not labels or len(ends) != len(labels):
        raise UnreadableFile(f"{name}: a PEM block without its END line; expected {_KINDS}")
    kinds = set(labels)
    try:
        if kinds == {"CERTIFICATE"}:
            certificates = x509.load_pem_x509_certificates(data)
            if len(certificates) == 1:
                return _describe_one("certificate", certificates[0], now)
            return {
                "kind": "bundle",
                "certificates": [_certificate(cert, now) for cert in certificates],
            }
        if kinds <= {"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"} and len(labels) == 1:
            return _describe_one("csr", x509.load_pem_x509_csr(data), now)
        if kinds == {"X509 CRL"} and len(labels) == 1:
            return _describe_one("crl", x509.load_pem_x509_crl(data), now)
    except ValueError:
        raise UnreadableFile(
            f"{name}: a damaged {labels[0]} PEM block (bad base64 or DER inside)"
        ) from None
    if any("PRIVATE KEY" in label for label in labels):
        raise UnreadableFile(f"{name}: holds a private key; albca inspect does not print keys")
    raise UnreadableFile(f"{name}: PEM blocks {', '.join(labels)}; expected {_KINDS}")


def _describe_one(kind: str, loaded: Any, now: datetime) -> dict[str, Any]:
    if kind == "certificate":
        return {"kind": "certificate", **_certificate(loaded, now)}
    if kind == "csr":
        return _csr(loaded)
    return _crl(loaded, now)


def _describe_pkcs12(
    data: bytes, name: str, now: datetime, password: bytes | None
) -> dict[str, Any]:
    try:
        loaded = pkcs12.load_pkcs12(data, password)
    except ValueError:
        raise UnreadableFile(
            f"{name}: a PKCS#12 file that does not open with this password (or is damaged)"
        ) from None
    return {
        "kind": "pkcs12",
        "key": _key(loaded.key.public_key()) if loaded.key is not None else None,
        "key_matches": (
            loaded.key is not None
            and loaded.cert is not None
            and _spki(loaded.key.public_key()) == _spki(loaded.cert.certificate.public_key())
        ),
        "certificate": _certificate(loaded.cert.certificate, now) if loaded.cert else None,
        "chain": [_certificate(extra.certificate, now) for extra in loaded.additional_certs],
    }


def _certificate(cert: x509.Certificate, now: datetime) -> dict[str, Any]:
    left = cert.not_valid_after_utc - now
    der = cert.public_bytes(serialization.Encoding.DER)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": f"{cert.serial_number:x}",
        "names": _sans(cert.extensions),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "time_left": _duration(left) if left.total_seconds() > 0 else "expired",
        "key": _key(cert.public_key()),
        "is_ca": _is_ca(cert),
        "key_usage": _key_usage(cert.extensions),
        "extended_key_usage": _eku(cert.extensions),
        "sha256": hashlib.sha256(der).hexdigest(),
        # SHA-1 only because tools and consoles still show it (e.g. Windows certmgr).
        "sha1": hashlib.sha1(der, usedforsecurity=False).hexdigest(),
    }


def _csr(csr: x509.CertificateSigningRequest) -> dict[str, Any]:
    return {
        "kind": "csr",
        "subject": csr.subject.rfc4514_string(),
        "names": _sans(csr.extensions),
        "key": _key(csr.public_key()),
        "signature_valid": csr.is_signature_valid,
        "sha256": hashlib.sha256(csr.public_bytes(serialization.Encoding.DER)).hexdigest(),
    }


def _crl(crl: x509.CertificateRevocationList, now: datetime) -> dict[str, Any]:
    entries = []
    for entry in crl:
        reason = None
        with contextlib.suppress(x509.ExtensionNotFound):
            reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.value
        entries.append(
            {
                "serial": f"{entry.serial_number:x}",
                "revoked_at": entry.revocation_date_utc.isoformat(),
                "reason": reason,
            }
        )
    try:
        number: int | None = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        number = None
    next_update = crl.next_update_utc
    return {
        "kind": "crl",
        "issuer": crl.issuer.rfc4514_string(),
        "crl_number": number,
        "this_update": crl.last_update_utc.isoformat(),
        "next_update": next_update.isoformat() if next_update else None,
        "stale": next_update is not None and now > next_update,
        "entries": entries,
    }


def _sans(extensions: x509.Extensions) -> list[str]:
    try:
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [f"DNS:{name}" for name in san.get_values_for_type(x509.DNSName)] + [
        f"IP:{ip}" for ip in san.get_values_for_type(x509.IPAddress)
    ]


def _key(key: Any) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return type(key).__name__.removesuffix("PublicKey")
    return type(key).__name__


def _spki(key: Any) -> bytes:
    return bytes(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _key_usage(extensions: x509.Extensions) -> list[str]:
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return []
    names = ["digital_signature", "content_commitment", "key_encipherment"]
    names += ["data_encipherment", "key_agreement", "key_cert_sign", "crl_sign"]
    return [name for name in names if getattr(usage, name)]


def _eku(extensions: x509.Extensions) -> list[str]:
    try:
        usage = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return []
    return [oid._name if oid._name != "Unknown OID" else oid.dotted_string for oid in usage]


def _duration(delta: Any) -> str:
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d {hours}h {rest // 60}m"
