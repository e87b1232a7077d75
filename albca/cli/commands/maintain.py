"""``albca maintain``: one run of every due maintenance job, for cron or a systemd timer."""

from __future__ import annotations

from typing import Annotated

import typer

from albca.cli.context import open_cli_services
from albca.cli.output import emit_json


def maintain(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what is due; change and send nothing.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Run every due job once: CRLs re-signed and fed to trust stores, failed syncs
    retried, expiry notices sent. Exits 1 if a job failed (see docs/maintenance.md)."""
    from albca.compose.maintenance import run_maintenance

    services = open_cli_services()
    try:
        report = run_maintenance(services, dry_run=dry_run)
    finally:
        services.close()
    if json_output:
        emit_json(report.to_json())
    else:
        for job in report.jobs:
            if job.skipped and not job.due:
                typer.echo(f"{job.name}: skipped: {job.skipped}")
                continue
            if not (job.due or job.done or job.failed):
                typer.echo(f"{job.name}: nothing due")
                continue
            for line in job.due if dry_run else job.done:
                typer.echo(f"{job.name}: {'due: ' if dry_run else ''}{line}")
            if job.due and not dry_run and not job.done and not job.failed:
                typer.echo(f"{job.name}: {len(job.due)} due; {job.skipped or 'already done'}")
            for line in job.failed:
                typer.echo(f"{job.name}: FAILED: {line}", err=True)
    if not report.ok:
        raise typer.Exit(1)
