"""Many certificates crossing a threshold in one run: one message per destination and
threshold (a digest: a count, the first names, at most 100 listed whole), still announced
once per certificate and threshold, on the embedded store."""

from __future__ import annotations

import json
from datetime import timedelta

from albca.ca.authority import IssueRequest
from albca.ca.keys import KeySpec, generate_private_key
from albca.ca.names import RequestedNames
from albca.ca.records import format_serial
from albca.trust_bundle.maintenance import Maintenance
from albca.trust_bundle.notices import DeliveryFailed, Notice, RecordingSink, digest_of
from tests.authorities import build_authority
from tests.factories import T0
from tests.maintenance.helpers import MovingClock

DAY = timedelta(days=1)
MANY = 150  # more than a digest lists whole (100)


class Switchable(RecordingSink):
    down = False

    def deliver(self, notice: Notice) -> None:
        if self.down:
            raise DeliveryFailed("webhook hooks.example: HTTP 503")
        super().deliver(notice)


def ca_with_many_certificates(tmp_path, lifetime=60 * DAY):
    clock = MovingClock(T0)
    authority = build_authority(tmp_path / "ca", clock=clock)
    key = generate_private_key(KeySpec.EC_P256).public_key()
    requests = [
        IssueRequest(
            profile="client",
            public_key=key,
            names=RequestedNames.of(common_name=f"client-{i:03}"),
            requested_by="test",
            lifetime=lifetime,
        )
        for i in range(MANY)
    ]
    batches = authority.issue_batches(requests)
    serials = [issued.record.serial for batch in batches for issued in batch]
    return clock, authority, serials


def test_certificates_crossing_one_threshold_at_once_make_one_message_per_sink(tmp_path):
    clock, authority, serials = ca_with_many_certificates(tmp_path)
    sns, webhook = RecordingSink("sns"), RecordingSink("webhook")
    maintenance = Maintenance(authority=authority, publisher=None, sync=None, sinks=[sns, webhook])
    clock.advance(31 * DAY)  # 29 days left: all cross 30 days in this run
    report = maintenance.run()
    assert report.ok, report.failures
    for sink in (sns, webhook):
        (message,) = sink.delivered
        assert message.kind == "expiry"
        assert message.detail["count"] == MANY
        assert message.detail["digest"] == "certificates expire within 30 day(s)"
        listed = message.detail["notices"]
        assert len(listed) == 100
        assert message.detail["not_listed"] == MANY - 100
        assert {n["detail"]["threshold_days"] for n in listed} == {30}
        assert message.text.startswith("150 certificates expire within 30 day(s): client-")
        assert message.text.endswith(" and 140 more")
    assert report.job("expiry").done == [f"sns: {sns.delivered[0].text}",
                                         f"webhook: {webhook.delivered[0].text}"]  # fmt: skip

    # Every certificate was recorded as told, listed whole or not: nothing more to send.
    clock.advance(timedelta(hours=1))
    assert maintenance.run().ok
    assert [len(s.delivered) for s in (sns, webhook)] == [1, 1]
    keys = [f"expiry:{format_serial(serial)}:30d@sns" for serial in serials]
    later = clock.now + timedelta(days=1)
    assert authority.store.claim_notices(keys, owner="x", now=later, lease=DAY) == set()


def test_a_digest_that_fails_to_go_is_given_back_whole_and_sent_next_run(tmp_path):
    clock, authority, _serials = ca_with_many_certificates(tmp_path)
    sink = Switchable("webhook")
    maintenance = Maintenance(authority=authority, publisher=None, sync=None, sinks=[sink])
    clock.advance(31 * DAY)
    sink.down = True
    report = maintenance.run()
    assert "HTTP 503" in report.job("expiry").failed[0]
    assert sink.delivered == []
    sink.down = False
    clock.advance(timedelta(hours=1))
    assert maintenance.run().ok
    (message,) = [m for m in sink.delivered if m.kind == "expiry"]  # and the failed run's
    assert message.detail["count"] == MANY


def test_each_threshold_crossed_by_many_is_its_own_digest(tmp_path):
    clock, authority, _serials = ca_with_many_certificates(tmp_path)
    sink = RecordingSink("webhook")
    maintenance = Maintenance(authority=authority, publisher=None, sync=None, sinks=[sink])
    clock.advance(31 * DAY)
    maintenance.run()
    clock.advance(24 * DAY)  # 5 days left: all cross 7 days in this run
    maintenance.run()
    assert [(m.detail["digest"], m.detail["count"]) for m in sink.delivered] == [
        ("certificates expire within 30 day(s)", MANY),
        ("certificates expire within 7 day(s)", MANY),
    ]


def test_a_digest_of_ten_thousand_stays_small_enough_for_sns():
    notices = [
        Notice(
            key=f"expiry:{serial:040x}:30d",
            kind="expiry",
            text=f"certificate {serial:040x} (client-{serial}, profile client) expires soon",
            detail={
                "serial": f"{serial:040x}",
                "common_name": f"client-{serial}",
                "profile": "client",
                "not_after": "2027-01-01T00:00:00+00:00",
                "threshold_days": 30,
            },
            digest="certificates expire within 30 day(s)",
            label=f"client-{serial}",
        )
        for serial in range(10_000)
    ]
    message = digest_of(notices)
    body = json.dumps(message.to_json())
    assert len(body.encode()) < 256 * 1024  # SNS Publish: a message of at most 256 KB
    assert message.detail["count"] == 10_000
    assert message.text.endswith(" and 9,990 more")
