"""Revoke a certificate, then bring the ALB trust stores in step: the one use case behind
``albca revoke`` and ``POST /v1/certificates/{serial}/revoke``.

The revocation is committed first and never undone by the sync after it. How the sync
runs is the caller's ``TrustStoreSync``: inline (the CLI; the API on Lambda, where nothing
runs after the response, bounded by the sync's time budget) or queued and run later (the
API elsewhere: a pending marker is written at once, then the sync runs after the
response). A sync that fails, or whose clients cannot even be made, leaves a pending
marker in the audit trail (``sync_trail``) for ``albca truststore status``/``sync``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from albca.ca.authority import Authority
from albca.ca.errors import CAError
from albca.ca.records import CertificateRecord, RevocationReason
from albca.trust_bundle.revocation_sync import RevocationSync, SyncOutcome, sync_after_revocation
from albca.trust_bundle.sync_trail import SYNC_RERUN, queue_sync

__all__ = ["TrustStoreSync", "RunLater", "Revoked", "revoke_and_sync", "run_sync"]

RunLater = Callable[[Callable[[], object]], None]
"""Runs a function after the current request has been answered (FastAPI's
``BackgroundTasks.add_task``)."""


@dataclass(frozen=True)
class TrustStoreSync:
    """How a revocation reaches the ALB trust stores this CA feeds.

    ``make`` gives a fresh ``RevocationSync`` (one per revocation: a run keeps state); it
    may raise a ``CAError`` when no client can be made (no region, no AWS libraries).
    ``inline``: run it before returning; otherwise queue it for ``run_later``.
    """

    make: Callable[[], RevocationSync]
    inline: bool


@dataclass(frozen=True)
class Revoked:
    record: CertificateRecord
    sync: dict[str, Any] | None  # what became of the sync (None: no trust stores fed)

    @property
    def synced(self) -> bool:
        return self.sync is None or self.sync["status"] == "synced"


def revoke_and_sync(
    authority: Authority,
    serial: int,
    reason: RevocationReason,
    *,
    actor: str,
    sync: TrustStoreSync | None,
    run_later: RunLater | None = None,
) -> Revoked:
    """Revoke ``serial``; then sync inline, or queue the sync for ``run_later``."""
    record = authority.revoke(serial, reason, requested_by=actor)
    if sync is None:
        return Revoked(record, None)
    if sync.inline or run_later is None:
        return Revoked(record, run_sync(authority, sync, serial=record.serial, actor=actor))
    queue_sync(
        authority.store,
        actor=actor,
        now=authority.now(),
        serial=record.serial,
        reason="queued after the revocation; runs once the response is sent",
    )
    run_later(lambda: run_sync(authority, sync, serial=record.serial, actor=actor))
    return Revoked(record, {"status": "queued", "error": None, "rerun": SYNC_RERUN})


def run_sync(
    authority: Authority, sync: TrustStoreSync, *, serial: int, actor: str
) -> dict[str, Any]:
    """Run the sync a revocation calls for; a failure is recorded, never raised."""
    try:
        run = sync.make()
    except CAError as exc:  # no client could be made: leave the work queued
        queue_sync(
            authority.store, actor=actor, now=authority.now(), serial=serial, reason=exc.message
        )
        return SyncOutcome(False, None, exc.message).to_json()
    return sync_after_revocation(run, actor=actor, serial=serial).to_json()
