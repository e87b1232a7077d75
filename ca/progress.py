"""How long work tells a person how far it is: a port the core is handed as a plain object.

Waiting for a trust store to become ACTIVE (up to 300 s) or for CloudFront to deploy (up to
900 s), issuing thousands of certificates, a deploy of a dozen AWS resources: on a terminal
the CLI shows a status line (``albca.cli.progress``, with rich); everywhere else (piped
output, ``--json``, the HTTP API, Lambda, the tests) the core gets ``NO_PROGRESS``, which
does nothing. The core never knows which; nothing below ``albca/`` imports rich.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Progress", "NoProgress", "NO_PROGRESS"]


class Progress(Protocol):
    def start(self, description: str, total: int | None = None) -> None:
        """A stage of long work begins: ``total`` units to do, or None for a wait or a job
        of unknown size (shown with the time it has taken so far)."""

    def update(self, description: str) -> None:
        """What the current stage is doing now (``trust store x is PENDING``); starts a
        stage of unknown size if none has begun."""

    def advance(self, units: int = 1) -> None:
        """``units`` more of the current stage are done."""


class NoProgress:
    """Progress nobody watches: every call does nothing."""

    def start(self, description: str, total: int | None = None) -> None:
        pass

    def update(self, description: str) -> None:
        pass

    def advance(self, units: int = 1) -> None:
        pass


NO_PROGRESS: Progress = NoProgress()
