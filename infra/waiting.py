"""Bounded waits for AWS states that have no boto3 waiter albca can use (a trust store
becoming ACTIVE, a CloudFront distribution becoming Deployed): how long, how often, and
who is told what is awaited (``progress``: a status line on a terminal, else nothing)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from albca.ca.progress import NO_PROGRESS, Progress

__all__ = ["Wait"]


@dataclass(frozen=True)
class Wait:
    seconds: float = 300.0
    interval: float = 5.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    progress: Progress = field(default=NO_PROGRESS, compare=False)

    def __post_init__(self) -> None:
        if self.seconds < 0 or self.interval <= 0:
            raise ValueError("wait seconds must be >= 0 and the interval > 0")

    @classmethod
    def up_to(
        cls, seconds: float, *, interval: float = 5.0, progress: Progress = NO_PROGRESS
    ) -> Wait:
        """Wait up to ``seconds``, looking every ``interval`` (or more often, for short
        waits)."""
        return cls(seconds=seconds, interval=min(interval, max(seconds, 0.05)), progress=progress)

    def pause(self, status: str) -> None:
        """Say what is awaited and why (``trust store x is PENDING``), then sleep one
        interval."""
        self.progress.update(f"{status}; waiting up to {self.seconds:g} s")
        self.sleep(self.interval)

    @property
    def polls(self) -> int:
        """Looks after the first one."""
        return math.ceil(self.seconds / self.interval)
