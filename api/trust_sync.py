"""After a revocation: bring the ALB trust stores in step, inline or queued.

The revocation itself is never undone by a sync that fails: the response says the sync is
``pending`` (with why, and the command that finishes it), and the pending marker is in the
audit trail until a sync succeeds.
"""

from __future__ import annotations

from typing import Any

from fastapi import BackgroundTasks

from albca.api.services import ApiServices, TrustStoreSync
from albca.ca.errors import CAError
from albca.trust_bundle.revocation_sync import sync_after_revocation
from albca.trust_bundle.sync_trail import SYNC_RERUN, queue_sync

__all__ = ["sync_after_revocation_request"]


def sync_after_revocation_request(
    services: ApiServices, *, serial: int, actor: str, background: BackgroundTasks
) -> dict[str, Any] | None:
    """What the revoke response says of the trust stores (None: this API feeds none)."""
    hook = services.trust_store_sync
    if hook is None:
        return None
    authority = services.authority
    if hook.inline:
        return _run(hook, services, serial=serial, actor=actor)
    queue_sync(
        authority.store,
        actor=actor,
        now=authority.now(),
        serial=serial,
        reason="queued after the revocation; runs once the response is sent",
    )
    background.add_task(_run, hook, services, serial=serial, actor=actor)
    return {"status": "queued", "error": None, "rerun": SYNC_RERUN}


def _run(hook: TrustStoreSync, services: ApiServices, *, serial: int, actor: str) -> dict[str, Any]:
    try:
        sync = hook.make()
    except CAError as exc:  # no client could be made: leave the work queued
        authority = services.authority
        queue_sync(
            authority.store, actor=actor, now=authority.now(), serial=serial, reason=exc.message
        )
        return {"status": "pending", "error": exc.message, "rerun": SYNC_RERUN}
    return sync_after_revocation(sync, actor=actor, serial=serial).to_json()
