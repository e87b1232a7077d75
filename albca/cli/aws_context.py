"""What the AWS commands share: the client factory, the options, and how a run is reported.

Every command's boto3 clients come from ``albca.compose.aws.aws_clients``, the factory the
whole of albca uses; the tests replace it to point every command at moto with the faithful
fakes installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from albca.ca.progress import Progress
    from albca.infra.calls import Aws

__all__ = [
    "RegionOption",
    "DryRunOption",
    "JsonOption",
    "open_aws",
    "report",
    "ALB_DOES_NOT_AUTHENTICATE",
]

RegionOption = Annotated[
    str | None,
    typer.Option(
        "--region",
        help="AWS region (default: the one in the ARN given, else ALBCA_AWS_REGION, else the "
        "AWS SDK's default).",
    ),
]
DryRunOption = Annotated[
    bool,
    typer.Option("--dry-run", help="Print the AWS calls (operation and parameters) and make none."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]

ALB_DOES_NOT_AUTHENTICATE = (
    "an ALB does NOT authenticate backend certificates: it encrypts to HTTPS targets but "
    "accepts any certificate they present, self-signed or expired. To authenticate "
    "backends, pin their keys on a Classic ELB (albca backend pin)."
)


def open_aws(
    region: str | None,
    *,
    dry_run: bool,
    arn: str | None = None,
    progress: Progress | None = None,
) -> Aws:
    """An ``Aws`` for one command: the region is ``--region``, else the ARN's own, else
    ALBCA_AWS_REGION, else the AWS SDK's default (None here). ``progress`` is told of each
    change as it is made."""
    from albca.ca.progress import NO_PROGRESS
    from albca.cli.context import load_settings
    from albca.compose import aws
    from albca.infra.calls import Aws
    from albca.infra.clients import region_of_arn

    if region is None and arn is not None:
        region = region_of_arn(arn)
    if region is None:
        region = load_settings().aws_region
    return Aws(aws.aws_clients(region), dry_run=dry_run, progress=progress or NO_PROGRESS)


def report(aws: Aws, summary: str, *, json_output: bool = False) -> None:
    """Say what changed (or, in a dry run, what would), then the state now; with
    ``json_output``, the same as one JSON object (``dry_run``, ``changes``, ``summary``,
    ``notes``), the shape every AWS command's ``--json`` prints."""
    if json_output:
        from albca.cli.output import emit_json

        emit_json(
            {
                "dry_run": aws.dry_run,
                "changes": [action.describe() for action in aws.actions],
                "summary": summary,
                "notes": list(aws.notes),
            }
        )
        return
    if aws.dry_run:
        if aws.actions:
            typer.echo("Dry run: albca would make these changes (nothing was changed):")
        else:
            typer.echo("Dry run: nothing to change.")
    elif aws.actions:
        typer.echo("Changed:")
    else:
        typer.echo("Nothing to change: already in place.")
    for action in aws.actions:
        typer.echo(f"  {action.describe()}")
    typer.echo(summary)
    for note in aws.notes:
        typer.echo(f"Note: {note}")
