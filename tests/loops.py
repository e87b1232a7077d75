"""Running a test's coroutine on an event loop of its own, and waiting, on one or on a
thread, for a condition without timing anything (a deadline only turns a hang into a
failure)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["on_new_loop", "until", "wait_until"]


def on_new_loop(scenario: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    # A loop of its own, not asyncio.run: that would also unset this thread's current loop,
    # and an unclosed one an earlier test left there (Mangum's) would be collected mid-run.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(scenario())
    finally:
        loop.close()


async def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.005)


def wait_until(condition: Callable[[], bool]) -> None:
    """``until`` for a thread: polls ``condition`` until it holds."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.005)
