"""The CA hierarchy: creating roots and issuing CAs, switching which one signs, retiring.

A CA moves through three statuses (``AuthorityStatus``): ``active`` (the issuing CA that
signs, or the root new issuing CAs are made under), ``standby`` (trusted and published,
not signing: a CA just made by a rotation, or one a rotation replaced) and ``retired`` (no
longer trusted or published). Every change is one store write with its audit event.

This module changes records only; publishing the bundle and updating trust stores around a
rotation is ``trust_bundle.rotation``'s job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from albca.ca.certificates import build_issuing_certificate, build_root_certificate, key_id_of
from albca.ca.errors import (
    AuthorityError,
    AuthorityExists,
    AuthorityInUse,
    AuthorityNotInitialized,
    InvalidLifetime,
    InvalidName,
)
from albca.ca.records import AuditEvent, AuthorityRecord, AuthorityRole, AuthorityStatus
from albca.ca.signer import Signer
from albca.ca.stores.protocol import CertificateStore

__all__ = [
    "HierarchySpec",
    "create_hierarchy",
    "create_root_ca",
    "create_issuing_ca",
    "activate_authority",
    "check_activation",
    "retire_authority",
    "check_retirement",
    "check_new_subject",
    "RetiredAuthority",
    "ca_identity",
    "find_authority",
    "certificate_of",
    "ROOT_LIFETIME",
    "ISSUING_LIFETIME",
]

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


def certificate_of(record: AuthorityRecord) -> x509.Certificate:
    return x509.load_pem_x509_certificate(record.certificate_pem.encode())


def find_authority(store: CertificateStore, key_id: str) -> AuthorityRecord:
    """The CA of ``key_id``; a unique prefix of at least 8 hex digits is enough."""
    wanted = key_id.strip().lower().replace(":", "")
    records = store.list_authorities()
    exact = [record for record in records if record.key_id == wanted]
    if exact:
        return exact[0]
    matches = [r for r in records if len(wanted) >= 8 and r.key_id.startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise AuthorityNotInitialized(
            f"key id {key_id} matches {len(matches)} CAs; give more of it"
        )
    raise AuthorityNotInitialized(f"this CA has no authority with key id {key_id}")


def ca_identity(authorities: Sequence[AuthorityRecord]) -> str:
    """What names this CA across rotations: the key id of the first root it made.

    Key ids of the active CAs change with every rotation; the first root's record stays
    in the store (retired, at worst), so this never changes. Trust stores are tagged with it.
    """
    roots = [record for record in authorities if record.role is AuthorityRole.ROOT]
    if not roots:
        raise AuthorityNotInitialized("this CA has no root yet; run `albca init` first")
    return min(roots, key=lambda record: (record.created_at, record.key_id)).key_id


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
    root = create_root_ca(
        store=store,
        signer=root_signer,
        subject=spec.root_subject,
        lifetime=spec.root_lifetime,
        now=now,
        actor=actor,
        status=AuthorityStatus.ACTIVE,
        action="init",
    )
    issuing = create_issuing_ca(
        store=store,
        root=root,
        root_signer=root_signer,
        issuing_signer=issuing_signer,
        subject=spec.issuing_subject,
        lifetime=spec.issuing_lifetime,
        now=now,
        actor=actor,
        status=AuthorityStatus.ACTIVE,
        action="init",
    )
    return root, issuing


def create_root_ca(
    *,
    store: CertificateStore,
    signer: Signer,
    subject: x509.Name,
    lifetime: timedelta,
    now: datetime,
    actor: str,
    status: AuthorityStatus = AuthorityStatus.STANDBY,
    action: str = "ca-create",
) -> AuthorityRecord:
    """Sign and record a root CA. A new root starts in standby: relying parties must trust
    it (it must be in every trust store's bundle) before anything chains to it."""
    check_new_subject(store, subject)
    if lifetime <= timedelta(0):
        raise InvalidLifetime("lifetime: a root CA's lifetime must be positive")
    certificate = build_root_certificate(
        signer=signer, subject=subject, not_before=now - _BACKDATE, not_after=now + lifetime
    )
    return _record(store, certificate, signer, AuthorityRole.ROOT, status, None, now, actor, action)


def create_issuing_ca(
    *,
    store: CertificateStore,
    root: AuthorityRecord,
    root_signer: Signer,
    issuing_signer: Signer,
    subject: x509.Name,
    lifetime: timedelta,
    now: datetime,
    actor: str,
    status: AuthorityStatus = AuthorityStatus.STANDBY,
    action: str = "ca-create",
) -> AuthorityRecord:
    """Sign an issuing CA under ``root`` and record it (in standby unless told otherwise).

    Its validity ends with the root's at the latest: a CA certificate that outlives its
    issuer is refused by strict path validation (RFC 5280 section 6.1.3 checks every
    certificate of the path is valid at the time of use).
    """
    if root.role is not AuthorityRole.ROOT:
        raise AuthorityError(f"CA {root.key_id} is not a root; issuing CAs are made under roots")
    if root.status is AuthorityStatus.RETIRED:
        raise AuthorityError(f"root CA {root.key_id} is retired; it cannot sign a new issuing CA")
    if lifetime <= timedelta(0):
        raise InvalidLifetime("lifetime: an issuing CA's lifetime must be positive")
    check_new_subject(store, subject)
    root_certificate = certificate_of(root)
    if root_certificate.public_key() != root_signer.public_key:
        raise AuthorityError(
            f"the signer at {root_signer.location} does not hold root {root.key_id}'s key"
        )
    not_after = min(now + lifetime, root_certificate.not_valid_after_utc)
    if not_after <= now:
        raise InvalidLifetime(f"lifetime: root CA {root.key_id} has expired; rotate the root")
    certificate = build_issuing_certificate(
        root=root_certificate,
        root_signer=root_signer,
        public_key=issuing_signer.public_key,
        subject=subject,
        not_before=now - _BACKDATE,
        not_after=not_after,
    )
    return _record(
        store,
        certificate,
        issuing_signer,
        AuthorityRole.ISSUING,
        status,
        root.key_id,
        now,
        actor,
        action,
    )


def check_new_subject(store: CertificateStore, subject: x509.Name) -> None:
    """Refuses a subject a CA that is not retired already has (``InvalidName``)."""
    # Two trusted CAs with one subject make CRL and path matching by name ambiguous (a CRL
    # names its issuer by subject: RFC 5280 section 5.1.2.3); refuse rather than guess.
    for record in store.list_authorities():
        if record.status is AuthorityStatus.RETIRED:
            continue
        if certificate_of(record).subject == subject:
            raise InvalidName(
                f"common_name: CA {record.key_id} already has the subject "
                f"{subject.rfc4514_string()}; give the new CA another name",
                field="common_name",
            )


def _record(
    store: CertificateStore,
    certificate: x509.Certificate,
    signer: Signer,
    role: AuthorityRole,
    status: AuthorityStatus,
    parent_key_id: str | None,
    now: datetime,
    actor: str,
    action: str,
) -> AuthorityRecord:
    # Records are ordered by creation, and "newer" decides which CA signs during a switch
    # and which standby CA a rotation left unfinished: a CA made within the same second
    # as an earlier one is stamped a second after it, so the order is never a tie.
    existing = [record.created_at for record in store.list_authorities()]
    created_at = max([now, *(moment + timedelta(seconds=1) for moment in existing)])
    record = AuthorityRecord(
        key_id=key_id_of(certificate),
        role=role,
        status=status,
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        key_location=signer.location,
        parent_key_id=parent_key_id,
        created_at=created_at,
    )
    event = AuditEvent(
        at=now,
        action=action,
        actor=actor,
        detail={
            "role": role.value,
            "key_id": record.key_id,
            "status": status.value,
            "subject": certificate.subject.rfc4514_string(),
            "key": signer.key_spec.value,
            "key_location": record.key_location,
            "not_after": certificate.not_valid_after_utc.isoformat(),
            **({"parent": parent_key_id} if parent_key_id else {}),
        },
    )
    store.add_authority(record, event)
    return record


def activate_authority(
    *, store: CertificateStore, key_id: str, now: datetime, actor: str
) -> AuthorityRecord:
    """Make ``key_id`` the active CA of its role; the one it replaces goes to standby
    (still trusted, still published, still given CRLs).

    The new CA is made active before the old one steps down, so there is never a moment
    without an active CA; for that moment both are active and the newest one is used
    (``Authority.active_issuer_record``).
    """
    record = check_activation(store, key_id)
    if record.status is not AuthorityStatus.ACTIVE:
        record = store.set_authority_status(
            record.key_id,
            AuthorityStatus.ACTIVE,
            _status_event("ca-activate", record, now, actor),
        )
    for other in store.list_authorities():
        if (
            other.role is record.role
            and other.status is AuthorityStatus.ACTIVE
            and other.key_id != record.key_id
        ):
            store.set_authority_status(
                other.key_id,
                AuthorityStatus.STANDBY,
                _status_event("ca-standby", other, now, actor, replaced_by=record.key_id),
            )
    return record


def check_activation(store: CertificateStore, key_id: str) -> AuthorityRecord:
    """The CA ``activate_authority`` would make active; raises what it would refuse."""
    record = find_authority(store, key_id)
    if record.status is AuthorityStatus.RETIRED:
        raise AuthorityError(f"CA {record.key_id} is retired; it cannot become active again")
    if record.role is AuthorityRole.ISSUING:
        parent = find_authority(store, record.parent_key_id or "")
        if parent.status is AuthorityStatus.RETIRED:
            raise AuthorityError(f"the root of CA {record.key_id} is retired")
    return record


@dataclass(frozen=True)
class RetiredAuthority:
    record: AuthorityRecord
    valid_certificates: int  # certificates (or issuing CAs, for a root) that stopped working


def retire_authority(
    *, store: CertificateStore, key_id: str, now: datetime, actor: str, force: bool = False
) -> RetiredAuthority:
    """Stop trusting a CA: it leaves the bundle at the next publish.

    Refused for the active CA of its role, for a root with issuing CAs that are not
    retired, and for an issuing CA with certificates that are unexpired and unrevoked
    unless ``force`` (those certificates stop working wherever the new bundle is loaded).
    """
    checked = check_retirement(store, key_id=key_id, now=now, force=force)
    record, valid = checked.record, checked.valid_certificates
    event = _status_event("ca-retire", record, now, actor, forced=force, valid_certificates=valid)
    # Filed under the CA certificate's serial: the root's CRL lists a retired issuing CA
    # with this time as its revocation date (``Authority.generate_crl``).
    event = replace(event, serial=certificate_of(record).serial_number)
    retired = store.set_authority_status(record.key_id, AuthorityStatus.RETIRED, event)
    return RetiredAuthority(retired, valid)


def check_retirement(
    store: CertificateStore, *, key_id: str, now: datetime, force: bool = False
) -> RetiredAuthority:
    """What ``retire_authority`` would retire (the record as it stands, and how many
    certificates would stop working); raises what it would refuse. Changes nothing."""
    record = find_authority(store, key_id)
    if record.status is AuthorityStatus.RETIRED:
        raise AuthorityError(f"CA {record.key_id} is already retired")
    if record.status is AuthorityStatus.ACTIVE:
        raise AuthorityInUse(
            f"CA {record.key_id} is the active {record.role.value} CA; rotate first "
            f"(`albca ca rotate{' --root' if record.role is AuthorityRole.ROOT else ''}`), "
            "then retire it",
            key_id=record.key_id,
            valid_certificates=0,
        )
    if record.role is AuthorityRole.ROOT:
        children = [
            other.key_id
            for other in store.list_authorities()
            if other.parent_key_id == record.key_id and other.status is not AuthorityStatus.RETIRED
        ]
        if children:
            raise AuthorityInUse(
                f"root CA {record.key_id} still anchors {len(children)} issuing CA(s) that are "
                f"not retired ({', '.join(children)}); retire them first",
                key_id=record.key_id,
                valid_certificates=len(children),
            )
        valid = 0
    else:
        valid = store.issuer_counts(record.key_id, now).active
        if valid and not force:
            raise AuthorityInUse(
                f"CA {record.key_id} issued {valid} certificate(s) that are still valid "
                "(unexpired and unrevoked); they would stop working wherever the new bundle "
                "is loaded. Wait until they expire, revoke or reissue them, or retire with "
                "--force",
                key_id=record.key_id,
                valid_certificates=valid,
            )
    return RetiredAuthority(record, valid)


def _status_event(
    action: str, record: AuthorityRecord, now: datetime, actor: str, **detail: object
) -> AuditEvent:
    return AuditEvent(
        at=now,
        action=action,
        actor=actor,
        detail={"role": record.role.value, "key_id": record.key_id, **detail},
    )
