"""``albca aws status`` tells when the maintenance schedule runs next: rate() and cron()
(EventBridge Scheduler's six-field cron: minutes hours day-of-month month day-of-week
year, day-of-week 1 = Sunday). The expected times are worked out by hand from the
calendar: 2026-12-04 is a Friday."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from albca.infra.deploy.schedule_times import CannotPredict, next_run

NOW = datetime(2026, 12, 4, 18, 25, tzinfo=UTC)  # a Friday
START = datetime(2026, 12, 1, 9, 10, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("cron(0 * * * ? *)", "2026-12-04T19:00"),  # every hour on the hour
        ("cron(15 10 * * ? *)", "2026-12-05T10:15"),  # today's has passed
        ("cron(0/15 * * * ? *)", "2026-12-04T18:30"),  # 0, 15, 30, 45
        ("cron(5/20 * * * ? *)", "2026-12-04T18:45"),  # 5, 25 (not after 18:25), 45
        ("cron(0 18 ? * MON-FRI *)", "2026-12-07T18:00"),  # Friday's passed: Monday
        ("cron(0 0 ? * 1 *)", "2026-12-06T00:00"),  # 1 is Sunday
        ("cron(0 0 1 1 ? *)", "2027-01-01T00:00"),
        ("cron(0 0 1 JUL ? *)", "2027-07-01T00:00"),  # a month name holding an L
        ("cron(20 6,18 * * ? *)", "2026-12-05T06:20"),  # 18:20 has passed
        ("cron(0 12 29 2 ? *)", "2028-02-29T12:00"),  # the next leap day
        ("rate(1 hour)", "2026-12-04T19:10"),  # every hour from START
        ("rate(5 minutes)", "2026-12-04T18:30"),
    ],
)
def test_the_next_run_is_the_first_matching_minute_after_now(expression, expected):
    assert next_run(expression, START, NOW) == at(expected)


def test_cron_times_are_in_the_schedules_time_zone():
    # 09:00 in Paris is 08:00 UTC in December (CET, UTC+1).
    assert next_run("cron(0 9 * * ? *)", START, NOW, "Europe/Paris") == at("2026-12-05T08:00")


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("cron(0 12 L * ? *)", "L, W and # wildcards are not evaluated"),
        ("cron(0 12 ? * 3#2 *)", "L, W and # wildcards are not evaluated"),
        ("cron(0 * * * ?)", "six fields"),
        ("cron(0 0 1 1 ? 2025)", "no run within"),
        ("cron(0 24 * * ? *)", "outside 0-23"),
        ("cron(0 0 ? * ? *)", "day-of-month or day-of-week must be given"),
        ("at(2027-01-01T00:00:00)", "only rate() and cron()"),
    ],
)
def test_what_is_not_evaluated_is_said(expression, says):
    with pytest.raises(CannotPredict, match=says.replace("(", r"\(").replace(")", r"\)")):
        next_run(expression, START, NOW)
