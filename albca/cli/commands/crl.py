"""``albca crl``: a new full CRL (``albca bundle`` is in ``bundle``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from albca.cli.context import cli_actor, open_cli_services, write_output_file
from albca.cli.errors import fail
from albca.cli.output import emit_fields, emit_json
from albca.cli.progress import progress_line


def crl(
    out: Annotated[
        Path | None, typer.Option(help="Write the CRL to this file (default: standard output).")
    ] = None,
    format: Annotated[str, typer.Option("--format", help="pem or der.")] = "pem",
    issuer: Annotated[
        str | None,
        typer.Option(help="Key id of the issuing CA (default: the active one)."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite --out if it exists.")] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print facts about the CRL as JSON (needs --out).")
    ] = False,
) -> None:
    """Sign a new full CRL for the issuing CA, numbered above every earlier one."""
    if format not in ("pem", "der"):
        fail(f"--format: {format!r} is not pem or der")
    if out is None and (format == "der" and sys.stdout.isatty()):
        fail("refusing to print a DER CRL to a terminal; use --out FILE")
    if out is None and json_output:
        fail("--json describes the CRL written with --out; add --out FILE")
    if out is not None and not force and os.path.lexists(out):
        # Before signing: a refused run must not use up a CRL number (issue 12, point 16).
        fail(f"{out} already exists; use --force to overwrite it")
    if out is not None and not os.access(out.parent, os.W_OK | os.X_OK):
        # Also before signing: a CRL number is used up, and audited, for nothing otherwise.
        reason = "is not a directory" if not out.parent.is_dir() else "is not writable"
        fail(f"cannot write {out}: {out.parent} {reason}")
    services = open_cli_services()
    try:
        # Hundreds of thousands of entries take seconds to read and sign.
        with progress_line(json_output=json_output) as progress:
            progress.start("signing a full CRL: reading every revoked certificate")
            document = services.authority.generate_crl(issuer, requested_by=cli_actor())
    finally:
        services.close()
    data = document.pem if format == "pem" else document.der
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    write_output_file(out, data, private=False, force=force)
    facts = {
        "file": str(out),
        "format": format,
        "number": document.number,
        "entries": document.entries,
        "issuer_key_id": document.issuer_key_id,
        "this_update": document.this_update.isoformat(),
        "next_update": document.next_update.isoformat(),
    }
    if json_output:
        emit_json(facts)
    else:
        emit_fields((key.replace("_", " "), value) for key, value in facts.items())
