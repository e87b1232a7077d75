"""Creating a CA hierarchy: a root, and an issuing CA under it, recorded in the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ca.certificates import build_issuing_certificate, build_root_certificate, key_id_of
from ca.errors import AuthorityExists
from ca.records import AuditEvent, AuthorityRecord, AuthorityRole, AuthorityStatus
from ca.signer import Signer
from ca.store import CertificateStore

__all__ = ["HierarchySpec", "create_hierarchy", "ROOT_LIFETIME", "ISSUING_LIFETIME"]

ROOT_LIFETIME = timedelta(days=3653)  # 10 years
ISSUING_LIFETIME = timedelta(days=1826)  # 5 years
_BACKDATE = timedelta(minutes=5)


@dataclass(frozen=True)
class HierarchySpec:
    root_subject: x509.Name
    issuing_subject: x509.Name
    root_lifetime: timedelta = ROOT_LIFETIME
    issuing_lifetime: timedelta = ISSUING_LIFETIME

    def __post_init__(self) -> None:
        if self.issuing_lifetime > self.root_lifetime:
            raise ValueError("the issuing CA cannot outlive the root that signs it")


def create_hierarchy(
    *,
    store: CertificateStore,
    spec: HierarchySpec,
    root_signer: Signer,
    issuing_signer: Signer,
    now: datetime,
    actor: str,
) -> tuple[AuthorityRecord, AuthorityRecord]:
    """Sign the root and the issuing CA and record both; refuses if a CA is already there."""
    if store.list_authorities():
        raise AuthorityExists("the store already holds a CA; refusing to create another")
    not_before = now - _BACKDATE
    root = build_root_certificate(
        signer=root_signer,
        subject=spec.root_subject,
        not_before=not_before,
        not_after=now + spec.root_lifetime,
    )
    issuing = build_issuing_certificate(
        root=root,
        root_signer=root_signer,
        public_key=issuing_signer.public_key,
        subject=spec.issuing_subject,
        not_before=not_before,
        not_after=now + spec.issuing_lifetime,
    )
    root_record = AuthorityRecord(
        key_id=key_id_of(root),
        role=AuthorityRole.ROOT,
        status=AuthorityStatus.ACTIVE,
        certificate_pem=root.public_bytes(serialization.Encoding.PEM).decode(),
        key_location=root_signer.location,
        parent_key_id=None,
        created_at=now,
    )
    issuing_record = AuthorityRecord(
        key_id=key_id_of(issuing),
        role=AuthorityRole.ISSUING,
        status=AuthorityStatus.ACTIVE,
        certificate_pem=issuing.public_bytes(serialization.Encoding.PEM).decode(),
        key_location=issuing_signer.location,
        parent_key_id=root_record.key_id,
        created_at=now,
    )
    for record, certificate, signer in (
        (root_record, root, root_signer),
        (issuing_record, issuing, issuing_signer),
    ):
        event = AuditEvent(
            at=now,
            action="init",
            actor=actor,
            detail={
                "role": record.role.value,
                "key_id": record.key_id,
                "subject": certificate.subject.rfc4514_string(),
                "key": signer.key_spec.value,
                "key_location": record.key_location,
            },
        )
        store.add_authority(record, event)
    return root_record, issuing_record
