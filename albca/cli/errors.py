"""How the CLI fails: one line on stderr and exit status 1, never a traceback for a user
error. Every ``CAError`` becomes such a line here, in one place."""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from albca.ca.errors import CAError

__all__ = ["AlbcaGroup", "fail"]


def fail(message: str) -> NoReturn:
    """Print ``albca: error: message`` and exit 1."""
    typer.echo(f"albca: error: {message}", err=True)
    raise typer.Exit(1)


class AlbcaGroup(TyperGroup):
    """The root command group: maps CA errors to one-line messages."""

    # ctx is typed Any: its class lives in typer's vendored (private) copy of click.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CAError as exc:
            fail(exc.message)
