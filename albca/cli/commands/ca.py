"""``albca ca``: the CA hierarchy over time: status, rotate, retire, activate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from albca.cli.aws_context import DryRunOption, RegionOption
from albca.cli.context import cli_actor, load_settings
from albca.cli.errors import fail
from albca.cli.output import emit_fields, emit_json
from albca.cli.progress import open_progress

if TYPE_CHECKING:
    from albca.ca.progress import Progress
    from albca.compose.passphrase import PassphraseSource
    from albca.compose.services import Services
    from albca.infra.calls import Aws
    from albca.trust_bundle.planning import Plan, Planner
    from albca.trust_bundle.rotation import Rotation
    from albca.trust_bundle.trust_stores import TrustStoreManager

ca_app = typer.Typer(
    help="The CA hierarchy: status, rotate, retire, activate.", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
KEY_TYPES = "ec-p256, ec-p384, ec-p521, rsa-2048, rsa-3072 or rsa-4096"
PublishTo = Annotated[
    str | None,
    typer.Option(help="Where the bundle and CRLs go (default: ALBCA_PUBLISH_TO)."),
]
NoPublish = Annotated[
    bool,
    typer.Option(
        "--no-publish",
        help="Change the records only: you will distribute the new bundle yourself before "
        "certificates of the new CA are used.",
    ),
]


def _open() -> tuple[Services, PassphraseSource]:
    from albca.compose.passphrase import passphrase_source
    from albca.compose.services import open_services

    settings = load_settings()
    passphrase = passphrase_source(settings)
    # As open_cli_services: the whole store is checked before the first write, if any.
    return open_services(settings, passphrase, full_check="before-first-write"), passphrase


@dataclass
class _Rotating:
    """A rotation and, when it publishes, the trust store manager it distributes with; in a
    dry run, the plan and its planner too."""

    rotation: Rotation
    aws: Aws
    manager: TrustStoreManager | None
    plan: Plan | None = None

    def planned(self) -> tuple[Plan, Planner | None]:
        from albca.trust_bundle.planning import Plan, Planner

        self.plan = Plan()
        return self.plan, Planner(self.manager, self.plan) if self.manager else None

    def report(self, summary: str, json_output: bool) -> None:
        from albca.cli.trust_context import report_plan

        assert self.plan is not None
        report_plan(self.aws, self.plan, json_output=json_output, summary=summary)


def _rotation(
    services: Services,
    passphrase: PassphraseSource,
    publish_to: str | None,
    no_publish: bool,
    *,
    region: str | None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> _Rotating:
    from albca.cli.aws_context import open_aws
    from albca.cli.trust_context import open_trust
    from albca.compose.trust import rotation_for

    if no_publish:
        aws = open_aws(region, dry_run=dry_run)
        return _Rotating(rotation_for(services, passphrase, None), aws, None)
    if publish_to is None and services.settings.publish_to is None:
        fail(
            "a rotation publishes the new bundle and updates the trust stores: set "
            "ALBCA_PUBLISH_TO or pass --publish-to, or pass --no-publish to distribute the "
            "bundle yourself"
        )
    aws, trust = open_trust(
        services, region=region, dry_run=dry_run, publish_to=publish_to, progress=progress
    )
    return _Rotating(rotation_for(services, passphrase, trust.manager), aws, trust.manager)


@ca_app.command("status")
def status(
    margin_days: Annotated[
        int, typer.Option(help="Rotate this many days before it becomes necessary.")
    ] = 30,
    json_output: JsonOption = False,
) -> None:
    """Every CA: validity, key, certificates issued and valid, and when to rotate.

    An issuing CA is due when its remaining validity is shorter than the longest
    certificate lifetime plus the margin; a root when it is shorter than an issuing CA's.
    """
    from datetime import timedelta

    from albca.ca.ca_status import authority_reports

    services, _ = _open()
    try:
        reports = authority_reports(
            services.store,
            services.authority.profiles,
            services.authority.now(),
            margin=timedelta(days=margin_days),
        )
    finally:
        services.close()
    if json_output:
        emit_json([report.to_json() for report in reports])
        return
    for report in reports:
        record = report.record
        what = "issuing CAs" if record.role.value == "root" else "certificates"
        still = "not retired" if record.role.value == "root" else "unexpired and unrevoked"
        typer.echo(f"{record.role.value} CA {record.key_id} ({record.status.value})")
        emit_fields(
            [
                ("  subject", report.subject),
                ("  key", f"{report.key_spec.value} at {record.key_location}"),
                (
                    "  valid",
                    f"{report.not_before.date().isoformat()} to "
                    f"{report.not_after.date().isoformat()}",
                ),
                ("  issued", f"{report.issued} {what}, {report.valid} {still}"),
                ("  advice", report.advice),
            ]
        )


@ca_app.command("rotate")
def rotate(
    root: Annotated[
        bool, typer.Option("--root", help="Rotate the root (then a new issuing CA under it).")
    ] = False,
    key_type: Annotated[
        str | None,
        typer.Option(help=f"Key type of the new CA: {KEY_TYPES} (default: the current one's)."),
    ] = None,
    cn: Annotated[
        str | None, typer.Option(help="Common name of the new CA (default: current name + G<n>).")
    ] = None,
    issuing_key_type: Annotated[
        str | None, typer.Option(help="--root: key type of the new issuing CA.")
    ] = None,
    issuing_cn: Annotated[
        str | None, typer.Option(help="--root: common name of the new issuing CA.")
    ] = None,
    stop_after_root: Annotated[
        bool,
        typer.Option(
            help="--root: stop once the new root is in the bundle (run again to finish), for "
            "relying parties that need time to install it."
        ),
    ] = False,
    publish_to: PublishTo = None,
    no_publish: NoPublish = False,
    region: RegionOption = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the new CA it would make and the AWS calls (operation and "
            "parameters); make none, and no key.",
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Rotate the issuing CA (or --root) with an overlap, updating every trust store.

    A new CA is made (standby), a bundle holding old and new is published and loaded by
    every trust store, and only then does issuing switch to it. The old CA stays trusted
    until `albca ca retire`. A rerun resumes an interrupted rotation.
    """
    from albca.ca.keys import KeySpec
    from albca.ca.names import normalize_common_name

    if not root and (issuing_key_type or issuing_cn or stop_after_root):
        fail("--issuing-key-type, --issuing-cn and --stop-after-root go with --root")
    spec = KeySpec.parse(key_type, field="--key-type") if key_type else None
    for option, name in (("--cn", cn), ("--issuing-cn", issuing_cn)):
        if name is not None:  # before anything is opened, in the option's name
            normalize_common_name(name, field=option)
    services, passphrase = _open()
    progress = open_progress(json_output=json_output or dry_run)  # waits for ACTIVE
    try:
        rotating = _rotation(
            services, passphrase, publish_to, no_publish, region=region, dry_run=dry_run,
            progress=progress,
        )  # fmt: skip
        rotation = rotating.rotation
        issuing_spec = (
            KeySpec.parse(issuing_key_type, field="--issuing-key-type")
            if issuing_key_type
            else None
        )
        if dry_run:
            plan, planner = rotating.planned()
            if root:
                rotation.plan_rotate_root(
                    plan,
                    planner,
                    key_spec=spec,
                    issuing_key_spec=issuing_spec,
                    common_name=cn,
                    issuing_common_name=issuing_cn,
                    stop_after_root=stop_after_root,
                )
            else:
                rotation.plan_rotate_issuing(plan, planner, key_spec=spec, common_name=cn)
            rotating.report(f"{'root' if root else 'issuing'} CA rotation planned", json_output)
            return
        progress.start(f"rotating the {'root' if root else 'issuing'} CA")
        if root:
            result = rotation.rotate_root(
                actor=cli_actor(),
                key_spec=spec,
                issuing_key_spec=issuing_spec,
                common_name=cn,
                issuing_common_name=issuing_cn,
                stop_after_root=stop_after_root,
            )
        else:
            result = rotation.rotate_issuing(actor=cli_actor(), key_spec=spec, common_name=cn)
        active = services.authority.active_issuer_record().key_id
    finally:
        progress.close()
        services.close()
    if json_output:
        emit_json({**result.to_json(), "active_issuing": active})
        return
    role = result.role.value
    if not result.finished:
        typer.echo(
            f"new root {result.current.key_id} is in the bundle and the trust stores (standby); "
            "run `albca ca rotate --root` again to make its issuing CA and switch"
        )
        return
    typer.echo(f"{role} CA rotated: {result.previous.key_id} -> {result.current.key_id}")
    typer.echo(f"issuing with: {active}")
    if no_publish:
        typer.echo(
            "not published (--no-publish): distribute the bundle before using new certificates"
        )
    typer.echo(
        f"the old {role} CA stays trusted; retire it once nothing depends on it: "
        f"albca ca retire {result.previous.key_id}"
    )


@ca_app.command("retire")
def retire(
    key_id: Annotated[str, typer.Argument(help="Key id of the CA (a unique prefix will do).")],
    force: Annotated[
        bool, typer.Option(help="Retire even though certificates it issued are still valid.")
    ] = False,
    publish_to: PublishTo = None,
    no_publish: NoPublish = False,
    region: RegionOption = None,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Stop trusting a standby CA, and publish the bundle without it.

    Refused while certificates it issued are unexpired and unrevoked, unless --force
    (which says how many stop working).
    """
    services, passphrase = _open()
    progress = open_progress(json_output=json_output or dry_run)  # waits for ACTIVE
    try:
        rotating = _rotation(
            services, passphrase, publish_to, no_publish, region=region, dry_run=dry_run,
            progress=progress,
        )  # fmt: skip
        if dry_run:
            plan, planner = rotating.planned()
            retiring = rotating.rotation.plan_retire(plan, planner, key_id, force=force)
            record = retiring.record
            rotating.report(f"{record.role.value} CA {record.key_id}: to be retired", json_output)
            return
        progress.start(f"retiring CA {key_id}")
        retired = rotating.rotation.retire(key_id, actor=cli_actor(), force=force)
    finally:
        progress.close()
        services.close()
    if json_output:
        emit_json(
            {
                "key_id": retired.record.key_id,
                "role": retired.record.role.value,
                "stopped_working": retired.valid_certificates,
            }
        )
        return
    typer.echo(f"retired {retired.record.role.value} CA {retired.record.key_id}")
    if retired.valid_certificates:
        what = "issuing CA(s)" if retired.record.role.value == "root" else "certificate(s)"
        typer.echo(f"{retired.valid_certificates} valid {what} stopped working")


@ca_app.command("activate")
def activate(
    key_id: Annotated[str, typer.Argument(help="Key id of a standby CA (a unique prefix).")],
    publish_to: PublishTo = None,
    no_publish: NoPublish = False,
    region: RegionOption = None,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Make a standby CA the active one of its role again (after a rollback, say).

    The bundle is distributed first, so the trust stores trust it before it signs.
    """
    services, passphrase = _open()
    progress = open_progress(json_output=json_output or dry_run)  # waits for ACTIVE
    try:
        rotating = _rotation(
            services, passphrase, publish_to, no_publish, region=region, dry_run=dry_run,
            progress=progress,
        )  # fmt: skip
        if dry_run:
            plan, planner = rotating.planned()
            planned = rotating.rotation.plan_activate(plan, planner, key_id)
            rotating.report(f"{planned.role.value} CA {planned.key_id}: to be active", json_output)
            return
        progress.start(f"activating CA {key_id}")
        record = rotating.rotation.activate(key_id, actor=cli_actor())
    finally:
        progress.close()
        services.close()
    if json_output:
        emit_json({"active": {"role": record.role.value, "key_id": record.key_id}})
        return
    typer.echo(f"active {record.role.value} CA: {record.key_id}")


@ca_app.command("fingerprint")
def fingerprint(json_output: JsonOption = False) -> None:
    """Print the SHA-256 fingerprint of each root: what holders pass to `albca bootstrap`.

    Example: albca ca fingerprint
    """
    from albca.holder.bootstrap import fingerprint as fingerprint_of

    services, _ = _open()
    try:
        roots = [c for c in services.authority.trusted_certificates() if c.issuer == c.subject]
    finally:
        services.close()
    found = [
        {"fingerprint": fingerprint_of(c), "subject": c.subject.rfc4514_string()} for c in roots
    ]
    if json_output:
        emit_json(found)
        return
    for root in found:
        typer.echo(f"{root['fingerprint']}  {root['subject']}")
