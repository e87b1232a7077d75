"""Builders for test inputs: keys, CSRs, records. Plain functions, explicit arguments."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ca.records import AuditEvent, CertificateRecord

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
