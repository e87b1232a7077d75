"""Decisions in the audit trail: who (a token's name, never its secret) was allowed or
refused what.

Allowed issuance, renewal and revocation need no event of their own: the authority writes
the certificate and its ``issue``/``revoke`` event, with ``api:<token name>`` as actor, in
one transaction. Everything else the API decides is written here.
"""

from __future__ import annotations

import logging
from typing import Any

from albca.ca.authority import Authority
from albca.ca.errors import CAError
from albca.ca.records import AuditEvent

__all__ = ["record_decision", "record_refusal"]

log = logging.getLogger("albca.api")


def record_decision(
    authority: Authority,
    *,
    action: str,
    actor: str,
    serial: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    authority.store.append_audit(
        AuditEvent(
            at=authority.now(),
            action=action,
            actor=actor,
            serial=serial,
            detail={"decision": "allowed", **(detail or {})},
        )
    )


def record_refusal(
    authority: Authority, *, actor: str, route: str, error: CAError, serial: int | None
) -> None:
    """Best effort: a store that is down cannot record that it refused something."""
    event = AuditEvent(
        at=authority.now(),
        action="api.refused",
        actor=actor,
        serial=serial,
        detail={"decision": "refused", "route": route, "code": error.code},
    )
    try:
        authority.store.append_audit(event)
    except CAError as exc:
        log.warning("could not record a refusal in the audit trail: %s", exc.code)
