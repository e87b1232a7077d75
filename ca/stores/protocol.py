"""The certificate store port: one Protocol, a backend per place records can live.

Backends: ``ca.stores.sqlite.SqliteStore`` (the embedded default, a file in the CA home) and
``ca.stores.dynamodb.DynamoDBStore`` (serverless deployments; an AWS adapter). Every backend
passes the same contract suite (``tests/store/contract.py``). The rules every backend keeps:

- a write and its audit event commit together, or neither does;
- ``add_certificate`` refuses a serial the store already holds (``DuplicateSerial``);
  ``add_certificates`` writes up to ``batch_limit`` records in one transaction, all of
  them or (on a duplicate serial or any error) none;
- ``revoke_certificate`` records a revocation once: a second one is ``AlreadyRevoked``;
- ``next_crl_number`` never returns the same number twice for one issuer, across
  processes and restarts;
- ``next_crl`` takes a CRL number and reads the entries as of one instant: a CRL with a
  higher number lists every revocation a lower-numbered CRL of the same issuer listed
  (unless it expired since), and every revocation committed before ``next_crl`` was
  called (issue 12, point 1);
- ``revoke_certificate`` counts the revocation in the issuer's ``revocations`` counter in
  the same transaction, so that ``crl_state`` tells cheaply whether a CRL is complete;
- queries return records ordered by ``(not_after, serial)``;
- ``claim_notice`` is a conditional write: of several runs claiming one key at once
  (maintenance in two processes, a retried Lambda), exactly one gets it, and a key marked
  sent is never claimed again; ``claim_notices`` (and marking and releasing many) keep
  the same rule per key, in one transaction on SQLite (10,000 notices, one fsync) and
  on DynamoDB one read and one transaction per 100 keys (one put per key when a
  condition in it fails).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from albca.ca.der.crl_entries import EncodedEntries
from albca.ca.records import (
    AuditEvent,
    AuthorityRecord,
    AuthorityStatus,
    CertificatePage,
    CertificateQuery,
    CertificateRecord,
    ClaimedKey,
    KeyClaim,
    RevocationReason,
    RevokedEntry,
)

__all__ = [
    "CertificateStore",
    "CrlSnapshot",
    "CrlState",
    "IssuerCounts",
    "KeptCrl",
    "KeyClaimStore",
]


@dataclass(frozen=True)
class IssuerCounts:
    issued: int  # every certificate the issuer signed
    active: int  # neither revoked nor expired


@dataclass(frozen=True)
class CrlSnapshot:
    """A new CRL number and what the CRL with that number lists, read at one instant."""

    number: int
    revocations: int  # the issuer's revocation counter at that instant
    # As values, or already encoded where the store keeps each entry's DER (both do): both
    # iterate as ``RevokedEntry`` and both go to ``ca.crl.build_crl`` as they are.
    entries: list[RevokedEntry] | EncodedEntries


@dataclass(frozen=True)
class KeptCrl:
    """A signed CRL kept in the store, so that every process serving CRLs (API workers,
    Lambda instances) serves the newest one instead of each its own."""

    number: int
    revocations: int  # the issuer's revocation counter when its entries were read
    this_update: datetime
    next_update: datetime
    entries: int
    der: bytes | None  # None where only the facts were read (``crl_state``)


@dataclass(frozen=True)
class CrlState:
    """What tells, in one cheap read, whether a CRL still lists every revocation."""

    revocations: int  # the issuer's revocation counter now
    kept: KeptCrl | None  # the kept CRL's facts, without its DER


class KeyClaimStore(Protocol):
    """A store that keeps API callers' Idempotency-Key claims (``KeyClaim``) beside the
    certificates: written with a record that carries one (``CertificateRecord.
    idempotency``, in the transaction that writes it) or on their own (``claim_key``). A
    store without them (DynamoDB) refuses a record that carries one; the API keeps its
    claims in its own store there (``api.issuing``)."""

    def find_key_claim(self, caller: str, key: str, now: datetime) -> ClaimedKey | None:
        """The unexpired claim of ``caller``'s ``key``."""
        ...

    def claim_key(self, claim: KeyClaim, serial: int, now: datetime) -> ClaimedKey:
        """Claim the key for the certificate ``serial`` unless an unexpired claim holds it;
        the claim that holds it now. Atomic: of two racing claims, one wins and both get
        the winner back."""
        ...


class CertificateStore(Protocol):
    #: The most records ``add_certificates`` takes at once (one transaction's worth), and
    #: about the most bytes of them (``Authority.issue_batches`` keeps under both).
    batch_limit: int
    batch_bytes: int

    # -- authorities -----------------------------------------------------------------
    def add_authority(self, record: AuthorityRecord, event: AuditEvent) -> None: ...

    def set_authority_status(
        self, key_id: str, status: AuthorityStatus, event: AuditEvent
    ) -> AuthorityRecord: ...

    def list_authorities(self) -> Sequence[AuthorityRecord]: ...

    # -- certificates ----------------------------------------------------------------
    def add_certificate(self, record: CertificateRecord, event: AuditEvent) -> None: ...

    def add_certificates(self, entries: Sequence[tuple[CertificateRecord, AuditEvent]]) -> None: ...

    def get_certificate(self, serial: int) -> CertificateRecord: ...

    def serials_with_prefix(self, prefix: str, limit: int) -> list[int]:
        """Serials whose hex form (no leading zeros) starts with ``prefix``, ascending, at
        most ``limit``. A backend with no index to answer this raises ``InvalidSerial``
        saying so (a full serial still works)."""
        ...

    def revoke_certificate(
        self, serial: int, revoked_at: datetime, reason: RevocationReason, event: AuditEvent
    ) -> CertificateRecord: ...

    def query_certificates(self, query: CertificateQuery, now: datetime) -> CertificatePage: ...

    def issuer_counts(self, issuer_key_id: str, now: datetime) -> IssuerCounts: ...

    # -- CRLs ------------------------------------------------------------------------
    def revoked_entries(self, issuer_key_id: str, now: datetime) -> list[RevokedEntry]:
        """Revoked certificates of ``issuer_key_id`` that have not expired by ``now``."""
        ...

    def next_crl_number(self, issuer_key_id: str) -> int: ...

    def next_crl(self, issuer_key_id: str, now: datetime) -> CrlSnapshot:
        """A new CRL number and the entries (``revoked_entries``) read at the same instant."""
        ...

    def crl_state(self, issuer_key_id: str) -> CrlState: ...

    def kept_crl(self, issuer_key_id: str) -> KeptCrl | None:
        """The kept CRL with its DER, or None."""
        ...

    def keep_crl(self, issuer_key_id: str, crl: KeptCrl) -> KeptCrl:
        """Keep ``crl`` unless a CRL with a higher number is kept; return the one kept."""
        ...

    # -- audit -----------------------------------------------------------------------
    def append_audit(self, event: AuditEvent) -> None: ...

    def audit_events(
        self, *, limit: int = 100, serial: int | None = None, before_id: int | None = None
    ) -> list[AuditEvent]:
        """Newest first."""
        ...

    # -- notices (scheduled maintenance) ---------------------------------------------
    def claim_notice(self, key: str, *, owner: str, now: datetime, lease: timedelta) -> bool:
        """Take ``key`` for ``owner`` until ``now + lease``. True when no one marked it
        sent and no other owner holds a claim that has not run out: then, and only then,
        the caller may send the notice (or run the job) it names."""
        ...

    def mark_notice_sent(self, key: str, *, owner: str, now: datetime) -> None:
        """``owner``'s claim on ``key`` is done for good: no later claim succeeds."""
        ...

    def release_notice(self, key: str, *, owner: str) -> None:
        """Give back ``owner``'s claim (the delivery failed, the job is over): the next
        run may claim ``key`` at once. A key marked sent stays sent."""
        ...

    def claim_notices(
        self, keys: Sequence[str], *, owner: str, now: datetime, lease: timedelta
    ) -> set[str]:
        """``claim_notice`` for each of ``keys`` at once (one transaction where the store
        has them); returns the keys ``owner`` now holds."""
        ...

    def mark_notices_sent(self, keys: Sequence[str], *, owner: str, now: datetime) -> None:
        """``mark_notice_sent`` for each of ``keys`` at once."""
        ...

    def release_notices(self, keys: Sequence[str], *, owner: str) -> None:
        """``release_notice`` for each of ``keys`` at once."""
        ...

    def sent_notices(self, keys: Sequence[str]) -> set[str]:
        """Those of ``keys`` marked sent, read without claiming anything (a consistent
        read on DynamoDB): for marks that stand for a fact, such as a certificate
        superseded in ACM (``superseded:<serial>``), rather than a message."""
        ...

    def close(self) -> None: ...
