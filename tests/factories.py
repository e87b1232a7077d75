"""Builders for test inputs: keys, CSRs, records. Plain functions, explicit arguments."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from albca.ca.records import AuditEvent, CertificateRecord

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def make_csr(
    key=None,
    *,
    common_name: str | None = "client",
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
    hash_algorithm: hashes.HashAlgorithm | None = None,
    encoding: serialization.Encoding = serialization.Encoding.PEM,
) -> bytes:
    key = key or ec_key()
    attributes = (
        [x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name is not None else []
    )
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        algorithm = hash_algorithm or hashes.SHA256()
    else:
        algorithm = None
    return builder.sign(key, algorithm).public_bytes(encoding)


def make_record(
    serial: int,
    *,
    issuer_key_id: str = "aa" * 20,
    profile: str = "client",
    not_after: datetime | None = None,
    issued_at: datetime = T0,
    common_name: str | None = "client",
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
    requested_by: str = "test",
) -> CertificateRecord:
    return CertificateRecord(
        serial=serial,
        issuer_key_id=issuer_key_id,
        subject=f"CN={common_name}" if common_name else "",
        common_name=common_name,
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        profile=profile,
        not_before=issued_at - timedelta(minutes=5),
        not_after=not_after or issued_at + timedelta(days=30),
        certificate_pem=f"-----BEGIN CERTIFICATE-----\n{serial:x}\n-----END CERTIFICATE-----\n",
        requested_by=requested_by,
        issued_at=issued_at,
    )


def issue_event(record: CertificateRecord) -> AuditEvent:
    return AuditEvent(
        at=record.issued_at,
        action="issue",
        actor=record.requested_by,
        serial=record.serial,
        detail={"profile": record.profile},
    )


def make_csr_with_general_names(
    key, general_names: list[x509.GeneralName], *, common_name: str | None = "client"
) -> bytes:
    """A PEM CSR whose SAN holds exactly ``general_names`` (any kind: email, URI, ...)."""
    attributes = (
        [x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name is not None else []
    )
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(attributes))
        .add_extension(x509.SubjectAlternativeName(general_names), critical=False)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )


def _der_tlv(tag: int, content: bytes) -> bytes:
    # Written here rather than taken from ca.der, so that test inputs do not depend on the
    # encoder under test.
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    encoded = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(encoded))) + encoded + content


# AlgorithmIdentifier DER for SHA-1 signatures: ecdsa-with-SHA1 (RFC 3279 section 2.2.3,
# no parameters) and sha1WithRSAEncryption (RFC 3279 section 2.2.1, NULL parameters).
_SHA1_ALGORITHMS = {
    True: bytes.fromhex("300906072a8648ce3d0401"),
    False: bytes.fromhex("300d06092a864886f70d0101050500"),
}


def make_sha1_csr(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    """A DER CSR validly signed with SHA-1.

    cryptography refuses to sign with SHA-1, so the request info of an ordinary CSR is
    signed by hand and wrapped in a CertificationRequest (RFC 2986 section 4.2).
    """
    request_info = x509.load_pem_x509_csr(make_csr(key)).tbs_certrequest_bytes
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(request_info, ec.ECDSA(hashes.SHA1()))
        algorithm = _SHA1_ALGORITHMS[True]
    else:
        signature = key.sign(request_info, padding.PKCS1v15(), hashes.SHA1())
        algorithm = _SHA1_ALGORITHMS[False]
    return _der_tlv(0x30, request_info + algorithm + _der_tlv(0x03, b"\x00" + signature))


def tamper(data: bytes, old: bytes, new: bytes) -> bytes:
    """``data`` with the first ``old`` replaced by ``new`` (same length, so DER still parses)."""
    if len(old) != len(new) or old not in data:
        raise ValueError(f"cannot tamper: {old!r} is not in the data or lengths differ")
    return data.replace(old, new, 1)
