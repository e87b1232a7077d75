"""``system_clock``: the current UTC time in whole seconds (what certificates carry)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from albca.ca.clock import FixedClock, from_epoch, system_clock, to_epoch


def test_the_system_clock_is_now_in_whole_utc_seconds():
    before = datetime.now(UTC).replace(microsecond=0)
    now = system_clock()
    after = datetime.now(UTC)
    assert now.tzinfo is UTC
    assert now.microsecond == 0
    assert before <= now <= after


def test_epoch_seconds_go_there_and_back():
    moment = datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert from_epoch(to_epoch(moment)) == moment


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="naive"):
        to_epoch(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        FixedClock(datetime(2026, 1, 1))
