"""``albca truststore``: the ALB trust stores this CA feeds (found by their ``albca:ca`` tag).

Every command publishes to ALBCA_PUBLISH_TO (or ``--publish-to``), which must be an
``s3://`` target for trust stores: they load the bundle and CRLs from S3, at exact object
versions. The AWS region is ``--region``, else ALBCA_AWS_REGION, else the SDK's; the profile is
``albca --aws-profile``, else the SDK's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from albca.cli.aws_context import DryRunOption, RegionOption
from albca.cli.context import cli_actor, open_cli_services
from albca.cli.output import emit_fields, emit_json, emit_table
from albca.cli.progress import progress_line
from albca.cli.renamed import old_name_help

if TYPE_CHECKING:
    from albca.compose.services import Services
    from albca.compose.trust import TrustServices
    from albca.infra.calls import Aws
    from albca.trust_bundle.planning import Planner
    from albca.trust_bundle.trust_stores import TrustStoreManager

T = TypeVar("T")

truststore_app = typer.Typer(
    help="ALB trust stores fed by this CA: create, update, show, delete, sync, status.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
PublishTo = Annotated[
    str | None,
    typer.Option(help="s3://BUCKET/PREFIX the bundle and CRLs go to (default: ALBCA_PUBLISH_TO)."),
]
Wait = Annotated[
    float | None,
    typer.Option(
        "--wait-seconds",
        help="Seconds to wait for a trust store to become ACTIVE (default 300).",
    ),
]
OldWait = Annotated[
    float | None,
    typer.Option("--wait", hidden=True, help=old_name_help("--wait-seconds")),
]


def _wait(new: float | None, old: float | None) -> float:
    from albca.cli.renamed import renamed

    return renamed(new, old, new="--wait-seconds", old="--wait") or 300.0


NameArgument = Annotated[str, typer.Argument(help="Trust store name (1-32 letters, digits, -).")]


@truststore_app.command("create")
def create(
    name: NameArgument,
    publish_to: PublishTo = None,
    region: RegionOption = None,
    wait_seconds: Wait = None,
    wait: OldWait = None,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Create a trust store from the published bundle, wait until ACTIVE, add the CRLs.

    The store loads the exact S3 version just published and gets a CRL for each CA before
    this returns; then attach it to a listener.
    """
    services = open_cli_services()
    try:
        aws, trust, result = _run_waiting(
            services, region=region, dry_run=dry_run, publish_to=publish_to,
            wait_seconds=_wait(wait_seconds, wait), json_output=json_output,
            doing=f"trust store {name}: publishing the bundle, creating the store",
            run=lambda manager: manager.create(name, actor=cli_actor()),
        )  # fmt: skip
        if result is None:
            _dry_run(
                aws,
                trust.manager,
                lambda planner: planner.create(name),
                f"trust store {name}: to be created from {trust.publish_to}",
                json_output,
            )
            return
    finally:
        services.close()
    if json_output:
        emit_json(result.to_json())
        return
    (store,) = result.stores
    emit_fields(
        [
            ("trust store", store.name),
            ("arn", store.arn),
            ("status", store.status),
            (
                "bundle",
                f"{result.bundle.published.url} version {result.bundle.published.version_id}",
            ),
            ("CRLs", len(result.sync.crls)),
            ("next", f"albca alb enable-mtls --listener ARN --trust-store {store.name}"),
        ]
    )


@truststore_app.command("update")
def update(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Trust stores to update (default: every one this CA feeds)."),
    ] = None,
    adopt: Annotated[
        bool, typer.Option(help="Also take on named trust stores that albca did not create.")
    ] = False,
    publish_to: PublishTo = None,
    region: RegionOption = None,
    wait_seconds: Wait = None,
    wait: OldWait = None,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Point the trust stores at the bundle of every CA trusted now, and their CRLs.

    The bundle is published (or its latest identical version reused), every store is
    pointed at that exact version and waited for until ACTIVE, then its CRLs are synced.
    """
    services = open_cli_services()
    try:
        aws, trust, result = _run_waiting(
            services, region=region, dry_run=dry_run, publish_to=publish_to,
            wait_seconds=_wait(wait_seconds, wait), json_output=json_output,
            doing="publishing the bundle, updating the trust stores",
            run=lambda manager: manager.update(names or None, actor=cli_actor(), adopt=adopt),
        )  # fmt: skip
        if result is None:
            which = ", ".join(names) if names else "every trust store this CA feeds"
            _dry_run(
                aws,
                trust.manager,
                lambda planner: planner.update(names or None, adopt=adopt),
                f"{which}: the bundle of every CA trusted now, and its CRLs",
                json_output,
            )
            return
    finally:
        services.close()
    if json_output:
        emit_json(result.to_json())
        return
    published = result.bundle.published
    typer.echo(
        f"bundle {published.url} version {published.version_id}"
        + (" (unchanged)" if result.bundle.reused else "")
    )
    for store in result.stores:
        typer.echo(f"{store.name}: {store.status}, {store.ca_certificates} CA certificates")
    if not result.stores:
        typer.echo("no trust store is fed by this CA yet: albca truststore create NAME")


@truststore_app.command("list")
def list_stores(
    publish_to: PublishTo = None, region: RegionOption = None, json_output: JsonOption = False
) -> None:
    """The trust stores this CA feeds (tagged albca:ca with its identity)."""
    from albca.cli.trust_context import open_trust

    services = open_cli_services()
    try:
        stores = open_trust(services, region=region, dry_run=False, publish_to=publish_to)[
            1
        ].manager.fed()
    finally:
        services.close()
    if json_output:
        emit_json(
            [
                {
                    "name": s.name,
                    "arn": s.arn,
                    "status": s.status,
                    "ca_certificates": s.ca_certificates,
                    "revoked_entries": s.revoked_entries,
                    "bundle_version": s.bundle.version_id if s.bundle else None,
                }
                for s in stores
            ]
        )
        return
    emit_table(
        ["name", "status", "CAs", "revoked", "bundle version"],
        [
            (
                s.name,
                s.status,
                s.ca_certificates,
                s.revoked_entries,
                s.bundle.version_id if s.bundle else "",
            )
            for s in stores
        ],
    )


@truststore_app.command("show")
def show(
    name: NameArgument,
    publish_to: PublishTo = None,
    region: RegionOption = None,
    json_output: JsonOption = False,
) -> None:
    """A trust store's CA certificates, revocations and listener associations."""
    from albca.cli.trust_context import open_trust

    services = open_cli_services()
    try:
        view = open_trust(services, region=region, dry_run=False, publish_to=publish_to)[
            1
        ].manager.show(name)
    finally:
        services.close()
    data = view.to_json()
    if json_output:
        emit_json(data)
        return
    bundle = data["bundle"]
    emit_fields(
        [
            ("name", data["name"]),
            ("arn", data["arn"]),
            ("status", data["status"]),
            ("fed by", data["ca_id"] or "(no albca:ca tag: not fed by albca)"),
            ("bundle", f"{bundle['object']} version {bundle['version_id']}"),
            ("CA certificates", bundle["ca_certificates"]),
        ]
    )
    for subject in bundle["subjects"] or []:
        typer.echo(f"  {subject}")
    typer.echo(f"revocations ({data['total_revoked_entries']} entries):")
    for revocation in data["revocations"]:
        typer.echo(
            f"  id {revocation['revocation_id']}: {revocation['entries']} entries, CRL of "
            f"{revocation['issuer_key_id'] or 'an unknown CA'}"
        )
    typer.echo(f"listeners ({len(data['listeners'])}):")
    for listener in data["listeners"]:
        typer.echo(f"  {listener['listener_arn']}")


@truststore_app.command("delete")
def delete(
    name: NameArgument,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    publish_to: PublishTo = None,
    region: RegionOption = None,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Delete a trust store; refused (naming them) while listeners verify with it."""
    from albca.cli.trust_context import open_trust

    if not yes and not dry_run:
        typer.confirm(f"Delete trust store {name}?", abort=True)
    services = open_cli_services()
    try:
        aws, trust = open_trust(services, region=region, dry_run=dry_run, publish_to=publish_to)
        if dry_run:
            _dry_run(
                aws,
                trust.manager,
                lambda planner: planner.delete(name),
                f"trust store {name}: no listener uses it",
                json_output,
            )
            return
        store = trust.manager.delete(name, actor=cli_actor())
    finally:
        services.close()
    if json_output:
        emit_json({"deleted": {"name": store.name, "arn": store.arn}})
        return
    typer.echo(f"deleted {store.name} ({store.arn})")


@truststore_app.command("sync")
def sync(
    allow_gap: Annotated[
        bool,
        typer.Option(
            help="When a store cannot hold a CA's old and new CRL at once (500,000 entries), "
            "remove the old one first."
        ),
    ] = False,
    publish_to: PublishTo = None,
    region: RegionOption = None,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Publish new CRLs and swap them into every trust store; clears pending syncs.

    Each issuing CA's new CRL goes into each store before its old one is removed.
    """
    services = open_cli_services()
    try:
        aws, trust, report = _run_waiting(
            services, region=region, dry_run=dry_run, publish_to=publish_to,
            allow_gap=allow_gap, json_output=json_output,
            doing="signing and publishing CRLs, swapping them into the trust stores",
            run=lambda manager: manager.revocation_sync().run(actor=cli_actor()),
        )  # fmt: skip
        if report is None:
            _dry_run(
                aws,
                trust.manager,
                lambda planner: planner.sync(),
                "a new CRL of each issuing CA, swapped into every trust store this CA feeds",
                json_output,
            )
            return
    finally:
        services.close()
    if json_output:
        emit_json(report.to_json())
        return
    for crl in report.crls:
        typer.echo(
            f"CRL {crl.issuer_key_id[:16]}... number {crl.number}: {crl.entries} entries, "
            f"{crl.published.url} version {crl.published.version_id}"
        )
    for store in report.stores:
        typer.echo(f"{store.name}: in step ({len(store.added)} CRL(s) replaced)")


@truststore_app.command("status")
def status(json_output: JsonOption = False) -> None:
    """Whether every revocation has reached the trust stores.

    From the audit trail: the last successful sync, revocations since, and pending-sync
    markers (syncs that failed or were queued).
    """
    from albca.trust_bundle.sync_trail import SYNC_RERUN, sync_state

    services = open_cli_services()
    try:
        state = sync_state(services.store)
    finally:
        services.close()
    if json_output:
        emit_json(state.to_json())
        return
    last = state.last_sync
    emit_fields(
        [
            ("in step", "yes" if state.in_step else "no"),
            ("last sync", last.at.isoformat() if last else "never"),
            ("revocations since", len(state.revocations_since)),
            ("pending syncs", len(state.pending)),
        ]
    )
    for event in state.pending:
        typer.echo(f"  {event.at.isoformat()} {event.actor}: {event.detail.get('error', '')}")
    if not state.in_step:
        typer.echo(f"run: {SYNC_RERUN}")


def _run_waiting(
    services: Services,
    *,
    region: str | None,
    dry_run: bool,
    publish_to: str | None,
    wait_seconds: float | None = None,
    allow_gap: bool = False,
    json_output: bool,
    doing: str,
    run: Callable[[TrustStoreManager], T],
) -> tuple[Aws, TrustServices, T | None]:
    """Open the trust services and, unless this is a dry run, ``run`` their manager while
    a status line (on a terminal) says what is being done and awaited; None in a dry run."""
    from albca.cli.trust_context import open_trust

    with progress_line(json_output=json_output or dry_run) as progress:
        aws, trust = open_trust(
            services, region=region, dry_run=dry_run, publish_to=publish_to,
            wait_seconds=wait_seconds, allow_gap=allow_gap, progress=progress,
        )  # fmt: skip
        if dry_run:
            return aws, trust, None
        progress.start(doing)
        return aws, trust, run(trust.manager)


def _dry_run(
    aws: Aws,
    manager: TrustStoreManager,
    planned: Callable[[Planner], object],
    summary: str,
    json_output: bool,
) -> None:
    """Plan what the command would do (``planned``, on a planner of ``manager``), print it."""
    from albca.cli.trust_context import report_plan
    from albca.trust_bundle.planning import Plan, Planner

    plan = Plan()
    planned(Planner(manager, plan))
    report_plan(aws, plan, json_output=json_output, summary=summary)
