"""Decisions in the audit trail: who (a token's name, never its secret) was allowed or
refused what.

Allowed issuance, renewal and revocation need no event of their own: the authority writes
the certificate and its ``issue``/``revoke`` event, with ``api:<token name>`` as actor, in
one transaction. Everything else the API decides is written here.

Refusals of requests without a valid credential are not written: anyone can send them, and
one fsynced row each let 2,155 requests add 135 MB in 30 s (issue 12). They are counted in
memory and logged once per window instead (``UnauthenticatedRefusals``). What is written is
bounded: a text longer than ``MAX_TEXT`` characters is cut, and the row says so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from albca.ca.authority import Authority
from albca.ca.errors import CAError
from albca.ca.records import AuditEvent

__all__ = ["record_decision", "record_refusal", "UnauthenticatedRefusals", "MAX_TEXT"]

log = logging.getLogger("albca.api")

#: Longest text an audit row keeps of a value a client chose (a path, a name).
MAX_TEXT = 256


def _bounded(detail: dict[str, Any]) -> dict[str, Any]:
    """``detail`` with every long text cut to ``MAX_TEXT``, naming the cut keys."""
    cut: list[str] = []
    kept: dict[str, Any] = {}
    for key, value in detail.items():
        if isinstance(value, str) and len(value) > MAX_TEXT:
            value = value[:MAX_TEXT]
            cut.append(key)
        kept[key] = value
    if cut:
        kept["truncated"] = sorted(cut)
    return kept


def _bounded_text(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "...(truncated)"


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
            actor=_bounded_text(actor),
            serial=serial,
            detail=_bounded({"decision": "allowed", **(detail or {})}),
        )
    )


def record_refusal(
    authority: Authority, *, actor: str, route: str, error: CAError, serial: int | None
) -> None:
    """Best effort: a store that is down cannot record that it refused something."""
    event = AuditEvent(
        at=authority.now(),
        action="api.refused",
        actor=_bounded_text(actor),
        serial=serial,
        detail=_bounded({"decision": "refused", "route": route, "code": error.code}),
    )
    try:
        authority.store.append_audit(event)
    except CAError as exc:
        log.warning("could not record a refusal in the audit trail: %s", exc.code)


class UnauthenticatedRefusals:
    """Refusals of requests that carry no valid credential: counted, logged once a window.

    The first such refusal of a window writes one log line, with the counts of the window
    before (by error code, and the token ids that were tried); the others only count. So
    a flood costs memory for a few counters and one log line a minute, never disk.
    """

    def __init__(
        self, *, window_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self._window = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._started: float | None = None
        self._codes: Counter[str] = Counter()
        self._token_ids: Counter[str] = Counter()

    def note(self, *, actor: str, route: str, code: str) -> None:
        with self._lock:
            now = self._clock()
            new_window = self._started is None or now - self._started >= self._window
            if new_window:
                before = self._summary()
                self._started = now
                self._codes.clear()
                self._token_ids.clear()
            self._codes[code] += 1
            if actor.startswith("token-id:") and (
                actor in self._token_ids or len(self._token_ids) < 10
            ):
                self._token_ids[actor] += 1
        if new_window:
            log.warning(
                "refused %s without a valid credential: %s (actor %s); further refusals "
                "without one are counted for %g s, not logged each. Previous window: %s",
                _bounded_text(route),
                code,
                _bounded_text(actor),
                self._window,
                before,
            )

    def _summary(self) -> str:
        if not self._codes:
            return "none"
        total = sum(self._codes.values())
        codes = ", ".join(f"{code}={count}" for code, count in sorted(self._codes.items()))
        ids = ", ".join(f"{actor}={count}" for actor, count in self._token_ids.most_common())
        return f"{total} refused ({codes})" + (f"; tried {ids}" if ids else "")
