"""What the trust bundle commands share: their AWS clients, and how a dry run is reported.

The commands that publish the bundle and CRLs or change trust stores (``albca bundle
publish|rollback``, ``albca truststore create|update|delete|sync``, ``albca ca
rotate|retire|activate``, ``albca revoke``) make their boto3 clients where every AWS
command of the CLI does (``aws_context.open_aws``), so one factory serves them all (and
the tests point it at moto).

With ``--dry-run`` those clients are ``infra.recording.RecordingClient``s: every read goes
through (the plan is made from the real state) and any change is refused before AWS sees
it (``DryRunBreach``). ``trust_bundle.planning`` plans the changes instead, and
``report_plan`` puts them on the command's ``Aws`` record and prints them the way the
infra commands print theirs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from albca.cli.aws_context import open_aws, report

if TYPE_CHECKING:
    from albca.ca.progress import Progress
    from albca.compose.services import Services
    from albca.compose.trust import ClientFactory, TrustServices
    from albca.infra.calls import Aws
    from albca.trust_bundle.planning import Plan

__all__ = ["open_trust", "clients_of", "report_plan"]


def clients_of(aws: Aws) -> ClientFactory:
    """The boto3 clients of a command: ``aws``'s, refusing every change in a dry run."""
    from albca.infra.recording import RecordingClient

    if aws.dry_run:
        return lambda service: RecordingClient(aws, service)
    return lambda service: aws.clients.client(service)


def open_trust(
    services: Services,
    *,
    region: str | None,
    dry_run: bool,
    publish_to: str | None = None,
    wait_seconds: float | None = None,
    allow_gap: bool = False,
    progress: Progress | None = None,
) -> tuple[Aws, TrustServices]:
    """The command's ``Aws`` (region: ``--region``, else ALBCA_AWS_REGION, else the SDK's)
    and the trust store services of the CA of ``services`` on its clients; ``progress`` is
    told what a wait for a trust store is waiting for."""
    from albca.ca.progress import NO_PROGRESS
    from albca.compose.trust import trust_services

    aws = open_aws(region, dry_run=dry_run, progress=progress)
    trust = trust_services(
        services,
        publish_to=publish_to,
        wait_seconds=wait_seconds,
        allow_gap=allow_gap,
        client=clients_of(aws),
        progress=progress or NO_PROGRESS,
    )
    return aws, trust


def report_plan(aws: Aws, plan: Plan, *, json_output: bool = False, summary: str = "") -> None:
    """Put ``plan`` on ``aws``'s record and print it: every change a run would make (none
    was made), then ``summary`` and the notes; with ``json_output``, as JSON."""
    from albca.infra.calls import Call
    from albca.trust_bundle.planning import PlannedCall

    for action in plan.actions:
        if isinstance(action, PlannedCall):
            aws.record(Call(action.service, action.operation, dict(action.params)))
        else:
            aws.local(action.text)
    for note in plan.notes:
        aws.note(note)
    report(aws, summary, json_output=json_output)
