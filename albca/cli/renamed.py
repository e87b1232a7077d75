"""Options with one name per idea: an old spelling keeps working, hidden from help, with a
one-line notice (``--ttl`` is ``--lifetime``, ``--to`` is ``--publish-to``, ``--wait`` is
``--wait-seconds``)."""

from __future__ import annotations

from typing import TypeVar

import typer

from albca.cli.errors import OLD_NAME_HELP, fail

__all__ = ["renamed", "old_name_help"]

T = TypeVar("T")


def old_name_help(new: str) -> str:
    """The help of a hidden old spelling; a typo of it is answered with ``new``."""
    return f"{OLD_NAME_HELP}{new}."


def renamed(new_value: T | None, old_value: T | None, *, new: str, old: str) -> T | None:
    """The option's value, given under its name or (with a notice on stderr) its old one."""
    if old_value is None:
        return new_value
    if new_value is not None:
        fail(f"{old} is the old name of {new}: give {new} only")
    typer.echo(f"albca: warning: {old} is deprecated; use {new}", err=True)
    return old_value
