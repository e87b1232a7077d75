"""``albca bundle``: print, publish and roll back the CA bundle relying parties trust."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from albca.cli.aws_context import DryRunOption, RegionOption
from albca.cli.context import cli_actor, open_cli_services, write_output_file
from albca.cli.output import emit_fields, emit_json
from albca.cli.renamed import old_name_help

if TYPE_CHECKING:
    from albca.compose.services import Services
    from albca.infra.calls import Aws
    from albca.trust_bundle.publish import Publisher

bundle_app = typer.Typer(
    help="The CA bundle: print it (no subcommand), publish it, roll trust stores back.",
    no_args_is_help=False,
    invoke_without_command=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
PublishTo = Annotated[
    str | None,
    typer.Option(
        "--publish-to",
        help="s3://BUCKET/PREFIX or file:///DIR (default: ALBCA_PUBLISH_TO). A last segment "
        "ending in .pem names the bundle object itself.",
    ),
]


@bundle_app.callback()
def bundle(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option(help="Write the bundle to this file (default: standard output).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite --out if it exists.")] = False,
) -> None:
    """Print the CA bundle (roots, then issuing CAs) as PEM: what an ALB trust store loads."""
    if ctx.invoked_subcommand is not None:
        return
    from albca.trust_bundle.bundle import TrustBundle

    services = open_cli_services()
    try:
        pem = TrustBundle.of(services.authority.trusted_certificates()).pem
    finally:
        services.close()
    if out is None:
        typer.echo(pem.decode(), nl=False)
    else:
        write_output_file(out, pem, private=False, force=force)
        typer.echo(f"wrote {out}")


@bundle_app.command("publish")
def publish(
    publish_to: PublishTo = None,
    to: Annotated[
        str | None,
        typer.Option("--to", hidden=True, help=old_name_help("--publish-to")),
    ] = None,
    advertise_ca_names: Annotated[
        bool,
        typer.Option(
            help="Also check the 10,000-byte CA names limit (listeners that advertise CA names)."
        ),
    ] = False,
    region: RegionOption = None,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Check the bundle against every ALB rule, then publish it and record its version.

    The object version goes into the audit trail. A bundle that breaks a rule is never
    uploaded, and the error names the certificate and the rule.
    """
    from albca.cli.aws_context import open_aws
    from albca.cli.renamed import renamed
    from albca.cli.trust_context import clients_of
    from albca.compose.trust import publisher_from
    from albca.trust_bundle.artefacts import BUNDLE_NAME, publish_bundle
    from albca.trust_bundle.bundle import TrustBundle

    services = open_cli_services()
    try:
        url = renamed(publish_to, to, new="--publish-to", old="--to")
        url = url or services.settings.publish_to
        if url is None:
            from albca.ca.errors import ConfigurationError

            raise ConfigurationError(
                "give --publish-to s3://BUCKET/PREFIX (or file:///DIR), or set ALBCA_PUBLISH_TO",
                setting="ALBCA_PUBLISH_TO",
            )
        target, name = _split_target(url)
        aws = open_aws(region, dry_run=dry_run)
        publisher = publisher_from(target, client=clients_of(aws))
        if dry_run:
            _plan_publish(
                services, aws, publisher, name or BUNDLE_NAME, advertise_ca_names, json_output
            )
            return
        result = publish_bundle(
            TrustBundle.of(services.authority.trusted_certificates()).pem,
            publisher=publisher,
            store=services.store,
            actor=cli_actor(),
            now=services.authority.now(),
            name=name or BUNDLE_NAME,
            advertise_ca_names=advertise_ca_names,
        )
    finally:
        services.close()
    facts = {
        **result.published.audit_detail(),
        "certificates": len(result.certificates),
        "unchanged": result.reused,
    }
    if json_output:
        emit_json(facts)
        return
    emit_fields((key.replace("_", " "), value) for key, value in facts.items())


def _plan_publish(
    services: Services,
    aws: Aws,
    publisher: Publisher,
    name: str,
    advertise_ca_names: bool,
    json_output: bool,
) -> None:
    from albca.cli.trust_context import report_plan
    from albca.compose.trust import trust_store_limits
    from albca.trust_bundle.planning import Plan, Planner
    from albca.trust_bundle.trust_stores import TrustStoreManager

    plan = Plan()
    manager = TrustStoreManager(
        authority=services.authority,
        publisher=publisher,
        api=None,
        limits=trust_store_limits(services.settings),
    )
    planner = Planner(manager, plan)
    planner.publish_bundle(advertise_ca_names=advertise_ca_names, name=name)
    bundle = planner.trusted.summary()
    where = f"{publisher.target}/{name}"
    summary = f"bundle {bundle}: " + (
        f"to be published to {where}" if plan.actions else f"already the latest version of {where}"
    )
    report_plan(aws, plan, json_output=json_output, summary=summary)


def _split_target(url: str) -> tuple[str, str | None]:
    """``s3://b/pki/bundle.pem`` -> (``s3://b/pki``, ``bundle.pem``); a prefix stays whole."""
    head, _, last = url.rstrip("/").rpartition("/")
    if last.endswith(".pem") and "://" in head and not head.endswith(":/"):
        return head, last
    return url, None


@bundle_app.command("rollback")
def rollback(
    name: Annotated[
        list[str] | None,
        typer.Argument(help="Trust stores to roll back (default: every one this CA feeds)."),
    ] = None,
    to_version: Annotated[
        str | None, typer.Option(help="The S3 version of the bundle to go back to.")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(help="Roll back even if that bundle leaves out the active issuing CA."),
    ] = False,
    publish_to: Annotated[
        str | None, typer.Option(help="s3://BUCKET/PREFIX (default: ALBCA_PUBLISH_TO).")
    ] = None,
    region: RegionOption = None,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Put the trust stores back on the previous bundle version.

    The previous version is the one before the version a store holds that differs from it
    (or --to-version). Their CRLs are then brought in step with that bundle.
    """
    from albca.cli.trust_context import open_trust, report_plan

    services = open_cli_services()
    try:
        aws, trust = open_trust(services, region=region, dry_run=dry_run, publish_to=publish_to)
        if dry_run:
            from albca.trust_bundle.planning import Plan, Planner

            plan = Plan()
            choice = Planner(trust.manager, plan).rollback(
                name or None, to_version=to_version, force=force
            )
            moves = [
                f"{store.name}: {target.url} version "
                f"{store.bundle.version_id if store.bundle else '?'} -> {target.version_id}"
                for store, target, _ in choice.chosen
            ]
            if choice.untrusted_key_ids:
                moves.append(
                    f"no longer trusted: {', '.join(choice.untrusted_key_ids)} "
                    f"({choice.certificates_refused} valid certificate(s) would be refused)"
                )
            report_plan(aws, plan, json_output=json_output, summary="\n".join(moves))
            return
        result = trust.manager.rollback(
            name or None, actor=cli_actor(), to_version=to_version, force=force
        )
    finally:
        services.close()
    if json_output:
        emit_json(result.to_json())
        return
    for store, before, after in result.moves:
        typer.echo(f"{store}: {after.url} version {before.version_id} -> {after.version_id}")
    if result.untrusted_key_ids:
        typer.echo(
            f"no longer trusted: {', '.join(result.untrusted_key_ids)} "
            f"({result.certificates_refused} valid certificate(s) are now refused)"
        )
