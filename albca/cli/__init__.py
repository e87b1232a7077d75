"""The ``albca`` command line."""

from __future__ import annotations

from albca.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
