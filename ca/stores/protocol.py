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
- queries return records ordered by ``(not_after, serial)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from albca.ca.records import (
    AuditEvent,
    AuthorityRecord,
    AuthorityStatus,
    CertificatePage,
    CertificateQuery,
    CertificateRecord,
    RevocationReason,
    RevokedEntry,
)

__all__ = ["CertificateStore", "IssuerCounts"]


@dataclass(frozen=True)
class IssuerCounts:
    issued: int  # every certificate the issuer signed
    active: int  # neither revoked nor expired


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

    # -- audit -----------------------------------------------------------------------
    def append_audit(self, event: AuditEvent) -> None: ...

    def audit_events(
        self, *, limit: int = 100, serial: int | None = None, before_id: int | None = None
    ) -> list[AuditEvent]:
        """Newest first."""
        ...

    def close(self) -> None: ...
