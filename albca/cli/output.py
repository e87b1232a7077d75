"""Printing results: JSON for scripts (``--json``), compact text for people."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import typer

__all__ = ["emit_json", "emit_table", "emit_fields"]


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=False))


def emit_fields(fields: Iterable[tuple[str, object]]) -> None:
    rows = [(label, "" if value is None else str(value)) for label, value in fields]
    width = max((len(label) for label, _ in rows), default=0)
    for label, value in rows:
        typer.echo(f"{label + ':':<{width + 1}} {value}")


def emit_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    keep_whole: Sequence[str] = ("serial", "at", "id"),
) -> None:
    """A borderless table; columns in ``keep_whole`` are never cut (people copy serials)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for header in headers:
        table.add_column(header, no_wrap=header in keep_whole, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    Console(soft_wrap=True).print(table)
