"""The sync's trail in the audit log: what a run leaves behind, and what is read back.

A successful sync writes ``truststore-sync`` (with the audit id its CRLs cover); a failed
or queued one writes ``truststore-sync-pending`` (with why, and the command that finishes
it). ``sync_state`` reads the trail back for ``albca truststore status``: the stores are
in step when no marker and no revocation came after the last successful sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from albca.ca.records import AuditEvent, format_serial
from albca.ca.stores.protocol import CertificateStore
from albca.trust_bundle.audit_window import AuditReader
from albca.trust_bundle.errors import SyncIncomplete

__all__ = [
    "SYNC_DONE",
    "SYNC_PENDING",
    "SYNC_RERUN",
    "record_pending",
    "queue_sync",
    "SyncState",
    "sync_state",
]

SYNC_DONE = "truststore-sync"
SYNC_PENDING = "truststore-sync-pending"
SYNC_RERUN = "albca truststore sync"


def record_pending(
    store: CertificateStore,
    actor: str,
    failure: SyncIncomplete,
    serial: int | None,
    now: datetime,
) -> None:
    store.append_audit(
        AuditEvent(
            at=now,
            action=SYNC_PENDING,
            actor=actor,
            serial=serial,
            detail={"error": failure.message, "rerun": failure.rerun, **failure.failures},
        )
    )


def queue_sync(
    store: CertificateStore, *, actor: str, now: datetime, serial: int | None, reason: str
) -> None:
    """Leave a pending marker without running the sync now (a worker or the operator runs
    ``albca truststore sync``; its success clears the marker)."""
    store.append_audit(
        AuditEvent(
            at=now,
            action=SYNC_PENDING,
            actor=actor,
            serial=serial,
            detail={"error": reason, "rerun": SYNC_RERUN},
        )
    )


@dataclass(frozen=True)
class SyncState:
    """Whether the trust stores have every revocation, as the audit trail tells it."""

    last_sync: AuditEvent | None
    pending: tuple[AuditEvent, ...]  # markers since the last successful sync, newest first
    revocations_since: tuple[AuditEvent, ...]  # revocations the last sync's CRLs may lack
    complete: bool  # False: the scan stopped at its bound before finding a sync

    @property
    def in_step(self) -> bool:
        return self.complete and not self.pending and not self.revocations_since

    def to_json(self) -> dict[str, Any]:
        return {
            "in_step": self.in_step,
            "last_sync": self.last_sync.to_json() if self.last_sync else None,
            "pending": [event.to_json() for event in self.pending],
            "revocations_since": [
                format_serial(e.serial) for e in self.revocations_since if e.serial is not None
            ],
            "complete": self.complete,
        }


def sync_state(store: AuditReader, *, scan_limit: int = 20_000) -> SyncState:
    """Read the audit trail back to the last successful sync of every fed store (at most
    ``scan_limit`` events): the pending markers after it, and the revocations its CRLs do
    not hold, are what is not in step. ``store`` is the store, or an ``AuditWindow`` onto
    it that other readers share."""
    last: AuditEvent | None = None
    covers = 0
    pending: list[AuditEvent] = []
    revocations: list[AuditEvent] = []
    scanned = 0
    before: int | None = None
    while scanned < scan_limit:
        page = store.audit_events(limit=min(500, scan_limit - scanned), before_id=before)
        if not page:
            return SyncState(last, tuple(pending), tuple(revocations), True)
        for event in page:
            if last is None:
                if event.action == SYNC_DONE and "only" not in event.detail:
                    last = event
                    covers = int(event.detail.get("covers_audit_id", 0))
                elif event.action == SYNC_PENDING:
                    pending.append(event)
                elif event.action == "revoke":
                    revocations.append(event)
                continue
            if event.id is None or event.id <= covers:
                return SyncState(last, tuple(pending), tuple(revocations), True)
            # Revoked while the last sync ran, after it read what its CRLs would cover.
            if event.action == "revoke":
                revocations.append(event)
        scanned += len(page)
        before = page[-1].id
    return SyncState(last, tuple(pending), tuple(revocations), last is not None)
