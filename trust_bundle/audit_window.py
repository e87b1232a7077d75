"""The newest audit events, read once and shared by the readers of one maintenance run.

Three readers walk the audit trail back from its newest event in every run: the run itself
(the newest id, recorded as ``audit_through``), ``sync_trail.sync_state`` (back to the last
sync) and the events job (back to the previous run). On DynamoDB every read of the trail
is one Query per audit shard (``ca.stores.dynamodb``), so three readers cost three times
the shards in every run. An ``AuditWindow`` reads the trail from the top once, in chunks
that grow as readers go further back, and answers each reader from what it holds: the
events are the same the store would give (a contiguous run of the newest ones, newest
first), read once.

A window is what the trail held when it was read: events appended afterwards are not in
it. A reader that must see them has it ``forget`` and read again (``Maintenance.run`` does,
after a job that wrote to the trail).
"""

from __future__ import annotations

from typing import Protocol

from albca.ca.records import AuditEvent

__all__ = ["AuditReader", "AuditWindow"]

_FIRST_CHUNK = 32  # an hourly run's previous run and last sync are a few events back
_LARGEST_CHUNK = 500


class AuditReader(Protocol):
    """What reads the audit trail newest first: a store, or a window onto one."""

    def audit_events(
        self, *, limit: int = 100, before_id: int | None = None
    ) -> list[AuditEvent]: ...


class AuditWindow:
    """The newest events of ``store``'s trail, read lazily and once. ``audit_events`` pages
    like the store's (newest first, ``before_id`` exclusive) but may answer fewer than
    ``limit`` events before the end of the trail: an empty page alone means the end."""

    def __init__(self, store: AuditReader) -> None:
        self._store = store
        self.forget()

    def forget(self) -> None:
        """Drop what is held: the next read reads the trail anew, with what was appended."""
        self._events: list[AuditEvent] = []  # the newest events, newest first, no gap
        self._complete = False  # the whole trail is held
        self._chunk = _FIRST_CHUNK

    def newest_id(self) -> int:
        """The id of the newest event; 0 for an empty trail."""
        newest = self.audit_events(limit=1)
        return newest[0].id if newest and newest[0].id is not None else 0

    def audit_events(self, *, limit: int = 100, before_id: int | None = None) -> list[AuditEvent]:
        start = self._start(before_id)
        while start == len(self._events) and not self._complete:
            self._read_more()
            start = self._start(before_id)
        return self._events[start : start + limit]

    def _start(self, before_id: int | None) -> int:
        """The index of the first held event older than ``before_id``."""
        if before_id is None:
            return 0
        for index, event in enumerate(self._events):
            if event.id is not None and event.id < before_id:
                return index
        return len(self._events)

    def _read_more(self) -> None:
        oldest = self._events[-1].id if self._events else None
        page = self._store.audit_events(limit=self._chunk, before_id=oldest)
        self._events += page
        self._complete = len(page) < self._chunk
        self._chunk = min(self._chunk * 4, _LARGEST_CHUNK)
