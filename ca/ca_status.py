"""Where each CA of the hierarchy stands: validity, key, certificates, and when to act.

When to rotate:

- an issuing CA, once its remaining validity is shorter than the longest lifetime a
  profile allows plus a margin: from then on a certificate of full lifetime would outlive
  it, and ``Authority.issue`` refuses such certificates;
- a root, once its remaining validity is shorter than an issuing CA's lifetime plus the
  margin: from then on it cannot sign an issuing CA of full lifetime.

When to retire: a standby CA stays trusted while any certificate it issued is unexpired
and unrevoked (an issuing CA), or while any issuing CA under it is not retired (a root).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from albca.ca.hierarchy import ISSUING_LIFETIME, certificate_of
from albca.ca.keys import KeySpec, key_spec_of
from albca.ca.profiles import ProfileSet
from albca.ca.records import AuthorityRecord, AuthorityRole, AuthorityStatus
from albca.ca.stores.protocol import CertificateStore

__all__ = ["AuthorityReport", "ROTATION_MARGIN", "authority_reports", "rotation_due"]

ROTATION_MARGIN = timedelta(days=30)


@dataclass(frozen=True)
class AuthorityReport:
    record: AuthorityRecord
    subject: str
    key_spec: KeySpec
    not_before: datetime
    not_after: datetime
    issued: int  # leaf certificates (issuing CA) or issuing CAs (root) it signed
    valid: int  # of those, unexpired and unrevoked (issuing) or not retired (root)
    rotate_by: datetime | None  # active CAs only
    advice: str

    def to_json(self) -> dict[str, Any]:
        record = self.record
        return {
            "key_id": record.key_id,
            "role": record.role.value,
            "status": record.status.value,
            "subject": self.subject,
            "key_type": self.key_spec.value,
            "key_location": record.key_location,
            "parent_key_id": record.parent_key_id,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "issued": self.issued,
            "valid": self.valid,
            "rotate_by": self.rotate_by.isoformat() if self.rotate_by else None,
            "advice": self.advice,
        }


def authority_reports(
    store: CertificateStore,
    profiles: ProfileSet,
    now: datetime,
    *,
    margin: timedelta = ROTATION_MARGIN,
    issuing_lifetime: timedelta = ISSUING_LIFETIME,
) -> list[AuthorityReport]:
    """One report per CA, roots first, oldest first."""
    records = list(store.list_authorities())
    records.sort(key=lambda r: (r.role is not AuthorityRole.ROOT, r.created_at, r.key_id))
    reports = []
    for record in records:
        certificate = certificate_of(record)
        if record.role is AuthorityRole.ROOT:
            issued, valid = _children(records, record)
        else:
            counts = store.issuer_counts(record.key_id, now)
            issued, valid = counts.issued, counts.active
        not_after = certificate.not_valid_after_utc
        rotate_by = _rotate_by(record, not_after, profiles, margin, issuing_lifetime)
        reports.append(
            AuthorityReport(
                record=record,
                subject=certificate.subject.rfc4514_string(),
                key_spec=key_spec_of(certificate.public_key(), field="ca_certificate"),
                not_before=certificate.not_valid_before_utc,
                not_after=not_after,
                issued=issued,
                valid=valid,
                rotate_by=rotate_by,
                advice=_advice(record, rotate_by, valid, now, records),
            )
        )
    return reports


def rotation_due(
    store: CertificateStore,
    profiles: ProfileSet,
    now: datetime,
    *,
    margin: timedelta = ROTATION_MARGIN,
    issuing_lifetime: timedelta = ISSUING_LIFETIME,
) -> bool:
    """Whether an active CA is past its ``rotate_by``: the CA records only, without the
    certificate counts ``authority_reports`` makes (on DynamoDB, counting reads the whole
    issuer index, too much for an hourly check that is almost always no)."""
    return any(
        (rotate_by := _rotate_by(record, certificate_of(record).not_valid_after_utc,
                                 profiles, margin, issuing_lifetime)) is not None
        and now >= rotate_by
        for record in store.list_authorities()
    )  # fmt: skip


def _rotate_by(
    record: AuthorityRecord,
    not_after: datetime,
    profiles: ProfileSet,
    margin: timedelta,
    issuing_lifetime: timedelta,
) -> datetime | None:
    """When an active CA must be rotated (see the module docstring); None if not active."""
    if record.status is not AuthorityStatus.ACTIVE:
        return None
    if record.role is AuthorityRole.ROOT:
        return not_after - (issuing_lifetime + margin)
    longest_leaf = max(profile.max_lifetime for profile in profiles.profiles)
    return not_after - (longest_leaf + margin)


def _children(records: Sequence[AuthorityRecord], root: AuthorityRecord) -> tuple[int, int]:
    children = [r for r in records if r.parent_key_id == root.key_id]
    return len(children), sum(r.status is not AuthorityStatus.RETIRED for r in children)


def _advice(
    record: AuthorityRecord,
    rotate_by: datetime | None,
    valid: int,
    now: datetime,
    records: Sequence[AuthorityRecord],
) -> str:
    root = record.role is AuthorityRole.ROOT
    rotate = "albca ca rotate --root" if root else "albca ca rotate"
    if record.status is AuthorityStatus.RETIRED:
        return "retired: no longer in the bundle"
    if record.status is AuthorityStatus.ACTIVE:
        assert rotate_by is not None
        twins = [
            r
            for r in records
            if r.role is record.role and r.status is AuthorityStatus.ACTIVE and r is not record
        ]
        if twins:
            return (
                f"{len(twins) + 1} active {record.role.value} CAs: a switch was interrupted; "
                f"rerun `{rotate}`"
            )
        if now >= rotate_by:
            return f"rotate now: `{rotate}`"
        return f"rotate by {rotate_by.date().isoformat()}"
    # Standby: newer than the active CA of its role means a rotation has not switched yet.
    active = [r for r in records if r.role is record.role and r.status is AuthorityStatus.ACTIVE]
    if active and all(record.created_at > other.created_at for other in active):
        return f"new, not yet active: a rotation is unfinished; rerun `{rotate}`"
    if valid:
        what = "issuing CAs" if root else "certificates"
        return f"keep: {valid} {what} still depend on it"
    return f"ready to retire: `albca ca retire {record.key_id}`"
