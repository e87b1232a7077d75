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
    aws_emulated: Annotated[
        bool,
        typer.Option(
            "--aws-emulated",
            help="Then run the AWS steps (trust store, listener mTLS, backends, CloudFront) "
            "against a local EMULATED AWS (moto on 127.0.0.1); needs albca[emulated].",
        ),
    ] = False,
) -> None:
    """Run the whole local story offline: CA, certificates, revocation, CRL, mTLS handshakes.

    With --aws-emulated, continue with the AWS set-up against an emulator on 127.0.0.1:
    nothing reaches AWS. Exits 1 if any step does not behave as it should.
    """
    from albca.demo import run_demo

    if directory is not None and directory.exists() and any(directory.iterdir()):
        from albca.cli.errors import fail

        fail(f"--directory {directory} is not empty; give a new or empty directory")
    if aws_emulated:
        _require_emulation()
    result = run_demo(typer.echo, directory=directory, aws_emulated=aws_emulated)
    if not result.ok:
        from albca.cli.errors import fail

        fail(f"the demo failed: {'; '.join(result.failures)}")
    if aws_emulated:
        typer.echo("Demo complete (AWS steps EMULATED locally): every step behaved as expected.")
    else:
        typer.echo("Demo complete: every step behaved as expected.")


def _require_emulation() -> None:
    import importlib.util

    from albca.cli.errors import fail

    missing = [
        module
        for module in ("boto3", "moto", "flask", "flask_cors")
        if importlib.util.find_spec(module) is None
    ]
    if missing:
        fail(f"albca demo --aws-emulated needs {', '.join(missing)}: pip install 'albca[emulated]'")
