"""The audit trail read once per maintenance run (``trust_bundle.audit_window``), on the
embedded store: the same events as the store gives, and one read of the trail for a run
with nothing due."""

from __future__ import annotations

from datetime import timedelta

import pytest

from albca.ca.records import AuditEvent, RevocationReason
from albca.trust_bundle.audit_window import AuditWindow
from albca.trust_bundle.notices import RecordingSink
from albca.trust_bundle.publish import FilePublisher
from albca.trust_bundle.sync_trail import sync_state
from tests.authorities import build_authority
from tests.factories import T0
from tests.maintenance.helpers import FlakyPublisher, MovingClock, issue, maintenance_over

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


class CountedReads:
    """The store's ``audit_events``, counting the reads that reach it."""

    def __init__(self, store) -> None:
        self.read = store.audit_events  # bound now: the tests may put this in its place
        self.reads = 0

    def audit_events(self, *, limit: int = 100, before_id: int | None = None):
        self.reads += 1
        return self.read(limit=limit, before_id=before_id)


def walk(reader, size: int) -> list[AuditEvent]:
    """Every event, newest first, in pages of ``size`` until an empty page."""
    events: list[AuditEvent] = []
    before = None
    while page := reader.audit_events(limit=size, before_id=before):
        events += page
        before = page[-1].id
    return events


@pytest.fixture
def authority(tmp_path):
    authority = build_authority(tmp_path / "ca", clock=MovingClock(T0))
    for index in range(150):  # past the window's first chunks (32, 128)
        issue(authority, f"leaf-{index}", 300 * DAY)
    return authority


@pytest.mark.parametrize("size", [1, 7, 20, 32, 500])
def test_a_window_pages_through_the_same_events_as_the_store(authority, size):
    store = authority.store
    window = AuditWindow(CountedReads(store))
    assert [e.id for e in walk(window, size)] == [e.id for e in walk(store, size)]
    assert window.newest_id() == store.audit_events(limit=1)[0].id


def test_readers_sharing_a_window_read_the_trail_once(authority):
    reads = CountedReads(authority.store)
    window = AuditWindow(reads)
    assert window.newest_id() > 150
    first = walk(window, 20)
    again = walk(window, 500)
    assert sync_state(window) == sync_state(authority.store)
    assert first == again
    # Chunks of 32 and 128 held it all (the second short: the end of the trail).
    assert reads.reads == 2


def test_a_window_sees_what_was_appended_only_once_it_forgets(authority):
    window = AuditWindow(authority.store)
    newest = window.newest_id()
    serial = issue(authority, "later", 300 * DAY)
    assert window.newest_id() == newest
    window.forget()
    (event,) = window.audit_events(limit=1)
    assert event.id is not None
    assert event.id > newest
    assert event.serial == serial


def test_a_run_with_nothing_due_reads_the_trail_once(tmp_path, monkeypatch):
    clock = MovingClock(T0)
    authority = build_authority(tmp_path / "ca", clock=clock)
    publisher = FlakyPublisher(FilePublisher(tmp_path / "pki"))
    sink = RecordingSink()
    maintenance = maintenance_over(authority, publisher, sink)
    serial = issue(authority, "leaf", 300 * DAY)
    maintenance.run()  # the first run publishes the CRLs
    clock.advance(HOUR)
    reads = CountedReads(authority.store)
    monkeypatch.setattr(authority.store, "audit_events", reads.audit_events)
    report = maintenance.run()
    assert report.ok
    assert not report.job("crl").due
    assert reads.reads == 1  # the run, the sync state and the events job: one read

    # A revocation whose sync fails in the run: the pending marker the CRL job wrote is
    # told in the same run (the trail read anew after it), as it was before the window.
    monkeypatch.undo()
    authority.revoke(serial, RevocationReason.KEY_COMPROMISE, requested_by="t")
    publisher.failures = 1
    clock.advance(HOUR)
    report = maintenance.run()
    assert report.job("crl").failed
    told = sorted(n.kind for n in sink.delivered)
    assert told == ["maintenance-failed", "revoked", "sync-failed"], told
