"""Printing results: JSON for scripts (``--json``), compact text for people."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import typer

__all__ = ["emit_json", "emit_table", "emit_fields", "serial_cell", "STATUS_STYLES"]


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=False))


def emit_fields(fields: Iterable[tuple[str, object]]) -> None:
    rows = [(label, "" if value is None else str(value)) for label, value in fields]
    width = max((len(label) for label, _ in rows), default=0)
    for label, value in rows:
        typer.echo(f"{label + ':':<{width + 1}} {value}")


# How many hex digits of a serial a table shows: enough to paste into `albca show` (which
# takes a unique prefix of 8 or more), short enough to leave room at 80 columns.
SHORT_SERIAL_DIGITS = 12

# The style of a row by the status it shows; a terminal only (rich drops styles when the
# output is piped, and honours NO_COLOR).
STATUS_STYLES = {"revoked": "red", "expired": "dim"}


def serial_cell(serial: int | None, *, wide: bool = False) -> str:
    """A serial as a table shows it: its first hex digits, or all of them with ``wide``."""
    if serial is None:
        return ""
    digits = f"{serial:x}"
    return digits if wide else digits[:SHORT_SERIAL_DIGITS]


def emit_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    keep_whole: Sequence[str] = ("serial", "at", "id"),
    wrap: Sequence[str] | None = None,
    row_styles: Sequence[str | None] | None = None,
) -> None:
    """A borderless table as wide as the terminal (80 columns when piped, or $COLUMNS).

    Columns in ``keep_whole`` are never cut (people copy serials). With ``wrap``, only
    those columns wrap (at spaces first) and every other one keeps its width, so at 80
    columns the short columns stay readable and the long one takes the rest.
    """
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for header in headers:
        whole = header not in wrap if wrap is not None else header in keep_whole
        table.add_column(header, no_wrap=whole, overflow="fold")
    for index, row in enumerate(rows):
        style = row_styles[index] if row_styles is not None else None
        table.add_row(*("" if cell is None else str(cell) for cell in row), style=style)
    Console(soft_wrap=True).print(table)
