"""90 simulated days of hourly maintenance on the embedded store with a file:// target."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from albca.ca.records import RevocationReason, format_serial
from albca.trust_bundle.maintenance import Maintenance, MaintenancePolicy
from albca.trust_bundle.notices import RecordingSink
from albca.trust_bundle.publish import FilePublisher
from tests.authorities import build_authority
from tests.factories import T0
from tests.maintenance.helpers import (
    FlakyPublisher,
    MovingClock,
    expiry_announcements,
    issue,
    maintenance_over,
    published_crls,
)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def test_ninety_days_of_hourly_runs_keep_every_crl_fresh_and_announce_each_threshold_once(
    tmp_path,
):
    clock = MovingClock(T0)
    authority = build_authority(tmp_path / "ca", clock=clock)
    publisher = FlakyPublisher(FilePublisher(tmp_path / "pki"))
    sink = RecordingSink("webhook")
    maintenance = maintenance_over(authority, publisher, sink)
    lifetimes = {
        "ninety": 90 * DAY,
        "forty": 40 * DAY,
        "ten": 10 * DAY,
        "two": 2 * DAY,
        "half-day": 12 * HOUR,
        "revoked": 40 * DAY,
    }
    serials = {name: issue(authority, name, life) for name, life in lifetimes.items()}
    expected = {
        (format_serial(serials[name]), days)
        for name, life in lifetimes.items()
        for days in (30, 7, 1)
        if timedelta(days=days) < life and name != "revoked"
    }
    outage_hour = 20 * 24 + 5
    recovered = False
    outage: int | None = None
    previous_crls = None
    runs_with_a_sync = 0
    for hour in range(90 * 24):
        if hour == 3 * 24:
            authority.revoke(serials["revoked"], RevocationReason.KEY_COMPROMISE, requested_by="t")
        if hour == 45 * 24:  # a second wave, issued mid-way
            serials["late"] = issue(authority, "late", 30 * DAY)
            expected |= {(format_serial(serials["late"]), d) for d in (7, 1)}
        if hour == outage_hour:
            publisher.failures = 1  # the next publish fails: an S3 outage
        failed_before = len(publisher.failed)
        syncs_before = len([e for e in authority.audit(limit=50) if e.action == "truststore-sync"])
        report = maintenance.run()
        syncs_after = len([e for e in authority.audit(limit=50) if e.action == "truststore-sync"])
        runs_with_a_sync += syncs_after > syncs_before

        crls = published_crls(authority, publisher)
        for key_id, crl in crls.items():
            assert clock.now < crl.next_update_utc, (
                f"hour {hour}: the CRL of {key_id[:8]} passed its nextUpdate"
            )
        if len(publisher.failed) > failed_before:
            outage = hour
            assert not report.ok
            assert "simulated outage" in " ".join(report.job("crl").failed)
            # The CRLs relying parties hold are the ones from before the failed run.
            assert {k: c.public_bytes(Encoding.DER) for k, c in crls.items()} == previous_crls
        if outage is not None and hour == outage + 1:
            assert report.ok, report.failures
            assert report.job("crl").done, "the next run re-signs what the outage left"
            recovered = True
        if 3 * 24 < hour < 40 * 24:  # revoked, and not yet expired (RFC 5280 3.3)
            revoked = {r.serial_number for crl in crls.values() for r in crl}
            assert serials["revoked"] in revoked
        previous_crls = {k: c.public_bytes(Encoding.DER) for k, c in crls.items()}
        clock.advance(HOUR)

    assert recovered
    announced = expiry_announcements(sink.delivered)
    assert set(announced) == expected
    assert all(count == 1 for count in announced.values()), announced
    # A CRL lives 7 days and is re-signed at half of that: about 90 / 3.5 syncs, plus the
    # one the revocation called for and the one after the outage. Nothing in between.
    assert 26 <= runs_with_a_sync <= 90 / 3.5 + 3
    revocations = [n for n in sink.delivered if n.kind == "revoked"]
    assert [n.detail["serial"] for n in revocations] == [format_serial(serials["revoked"])]


def test_a_run_with_nothing_due_signs_and_sends_nothing(tmp_path):
    clock = MovingClock(T0)
    authority = build_authority(tmp_path / "ca", clock=clock)
    publisher = FilePublisher(tmp_path / "pki")
    sink = RecordingSink()
    maintenance = maintenance_over(authority, publisher, sink)
    issue(authority, "far", 300 * DAY)
    assert maintenance.run().job("crl").done  # the first run publishes the CRLs
    clock.advance(HOUR)
    before = [e.action for e in authority.audit(limit=100)]
    report = maintenance.run()
    after = [e.action for e in authority.audit(limit=100)]
    assert report.ok
    assert not report.job("crl").due
    assert after[0] == "maintain"
    assert after[1:] == before  # only the run's own audit event was added
    assert sink.delivered == []


def test_dry_run_says_what_is_due_and_changes_nothing(tmp_path):
    clock = MovingClock(T0)
    authority = build_authority(tmp_path / "ca", clock=clock)
    publisher = FilePublisher(tmp_path / "pki")
    sink = RecordingSink()
    maintenance = maintenance_over(authority, publisher, sink)
    issue(authority, "soon", 10 * DAY)
    clock.advance(4 * DAY)
    before = authority.audit(limit=100)
    report = maintenance.run(dry_run=True)
    assert any("no CRL published" in line for line in report.job("crl").due)
    assert any("within 7 day(s)" in line for line in report.job("expiry").due)
    assert authority.audit(limit=100) == before
    assert sink.delivered == []
    assert not (tmp_path / "pki").exists()


def test_a_failed_delivery_is_retried_on_the_next_run_and_never_blocks_the_crls(tmp_path):
    class Down(RecordingSink):
        down = True

        def deliver(self, notice):
            from albca.trust_bundle.notices import DeliveryFailed

            if self.down:
                raise DeliveryFailed("webhook hooks.example: HTTP 503")
            super().deliver(notice)

    clock = MovingClock(T0)
    authority = build_authority(tmp_path / "ca", clock=clock)
    publisher = FilePublisher(tmp_path / "pki")
    sink = Down("webhook")
    maintenance = maintenance_over(authority, publisher, sink)
    serial = issue(authority, "soon", 10 * DAY)
    clock.advance(4 * DAY)
    report = maintenance.run()
    assert not report.ok
    assert report.job("crl").done  # the CRLs went out all the same
    assert "HTTP 503" in report.job("expiry").failed[0]
    assert published_crls(authority, publisher)
    sink.down = False
    clock.advance(HOUR)
    assert maintenance.run().ok
    assert expiry_announcements(sink.delivered) == {(format_serial(serial), 7): 1}


def test_a_ca_entering_its_rotation_window_is_announced_once(tmp_path):
    clock = MovingClock(T0)
    authority = build_authority(tmp_path / "ca", clock=clock)
    sink = RecordingSink()
    maintenance = Maintenance(authority=authority, publisher=None, sync=None, sinks=[sink])
    issuing = authority.active_issuer_record()
    from albca.ca.hierarchy import certificate_of

    expires = certificate_of(issuing).not_valid_after_utc
    clock.now = expires - timedelta(days=400)  # inside 397 days + the 30-day margin
    maintenance.run()
    clock.advance(DAY)
    maintenance.run()
    rotations = [n for n in sink.delivered if n.kind == "ca-rotation"]
    assert [n.detail["key_id"] for n in rotations] == [issuing.key_id]
    assert "albca ca rotate" in rotations[0].text


@pytest.mark.parametrize("events", [frozenset(), frozenset({"issued"})])
def test_events_are_told_as_configured(tmp_path, events):
    clock = MovingClock(T0)
    authority = build_authority(tmp_path / "ca", clock=clock)
    sink = RecordingSink()
    maintenance = Maintenance(
        authority=authority,
        publisher=None,
        sync=None,
        sinks=[sink],
        policy=MaintenancePolicy(events=events),
    )
    maintenance.run()
    serial = issue(authority, "new", 300 * DAY)
    authority.revoke(serial, RevocationReason.SUPERSEDED, requested_by="t")
    maintenance.run()
    maintenance.run()
    kinds = [n.kind for n in sink.delivered]
    assert kinds == (["issued"] if events else [])


def test_the_first_run_does_not_announce_the_cas_past(tmp_path):
    clock = MovingClock(T0)
    authority = build_authority(tmp_path / "ca", clock=clock)
    old = issue(authority, "old", 300 * DAY)
    authority.revoke(old, RevocationReason.SUPERSEDED, requested_by="t")
    sink = RecordingSink()
    maintenance = Maintenance(authority=authority, publisher=None, sync=None, sinks=[sink])
    maintenance.run()
    assert sink.delivered == []
    new = issue(authority, "new", 300 * DAY)
    authority.revoke(new, RevocationReason.SUPERSEDED, requested_by="t")
    maintenance.run()
    assert [n.detail["serial"] for n in sink.delivered] == [format_serial(new)]
