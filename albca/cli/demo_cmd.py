"""``albca demo``: the offline end-to-end story."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo(
    directory: Annotated[
        Path | None,
        typer.Option(help="Where to keep the artefacts (default: a new temporary directory)."),
    ] = None,
) -> None:
    """Run the whole local story offline: CA, certificates, revocation, CRL, mTLS handshakes.

    Exits 1 if any step does not behave as it should.
    """
    from albca.demo import run_demo

    if directory is not None and directory.exists() and any(directory.iterdir()):
        from albca.cli.errors import fail

        fail(f"--directory {directory} is not empty; give a new or empty directory")
    result = run_demo(typer.echo, directory=directory)
    if not result.ok:
        typer.echo(f"albca: error: the demo failed: {'; '.join(result.failures)}", err=True)
        raise typer.Exit(1)
    typer.echo("Demo complete: every step behaved as expected.")
