"""The status line of long work (issue 16, point 5), on a terminal only.

``progress_line`` gives a command the ``Progress`` it hands to the core: on a terminal, a
rich status line on stderr (a spinner, what is being done or awaited, a bar when the size
is known, the time taken), erased when the work ends; when stdout or stderr is piped or
redirected, or with ``--json``, a ``Progress`` that shows nothing, so scripts and logs get
only the result. (``open_progress`` is the same for a command that closes it itself, in
the ``finally`` it already has.)
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from albca.ca.progress import NoProgress

if TYPE_CHECKING:
    from rich.progress import Progress as RichBar
    from rich.progress import TaskID

    from albca.ca.progress import Progress

__all__ = ["progress_line", "open_progress", "StatusLine", "NoStatusLine"]


@contextmanager
def progress_line(*, json_output: bool = False) -> Iterator[Progress]:
    """A status line while the block runs, when a person is watching; else nothing."""
    line = open_progress(json_output=json_output)
    try:
        yield line
    finally:
        line.close()


def open_progress(*, json_output: bool = False) -> StatusLine | NoStatusLine:
    """A status line, shown until ``close()``, when a person is watching: stdout and stderr
    are both a terminal and the output is not JSON."""
    from rich.console import Console

    console = Console(stderr=True)
    if json_output or not (console.is_terminal and sys.stdout.isatty()):
        return NoStatusLine()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress import Progress as RichBar

    bar = RichBar(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,  # the result, not the last status, is what stays on the screen
    )
    bar.start()
    return StatusLine(bar)


class NoStatusLine(NoProgress):
    def close(self) -> None:
        pass


class StatusLine:
    """``Progress`` on a rich progress display: one task, the current stage."""

    def __init__(self, bar: RichBar) -> None:
        self._bar = bar
        self._task: TaskID | None = None

    def start(self, description: str, total: int | None = None) -> None:
        if self._task is None:
            self._task = self._bar.add_task(description, total=total)
        else:
            self._bar.reset(self._task, description=description, total=total, completed=0)

    def update(self, description: str) -> None:
        if self._task is None:
            self.start(description)
        else:
            self._bar.update(self._task, description=description)

    def advance(self, units: int = 1) -> None:
        if self._task is not None:
            self._bar.advance(self._task, units)

    def close(self) -> None:
        """Erase the line (the display is transient); the command's result follows."""
        self._bar.stop()
