"""``albca revoke``, ``list``, ``show`` and ``audit``: the lifecycle of issued certificates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from albca.cli.aws_context import RegionOption
from albca.cli.context import cli_actor, open_cli_services
from albca.cli.errors import fail
from albca.cli.output import STATUS_STYLES, emit_fields, emit_json, emit_table, serial_cell

if TYPE_CHECKING:
    from albca.ca.records import RevocationReason
    from albca.compose.services import Services
    from albca.trust_bundle.revoke import TrustStoreSync

REASONS = (
    "unspecified, key-compromise, ca-compromise, affiliation-changed, superseded, "
    "cessation-of-operation, privilege-withdrawn, aa-compromise"
)
SERIAL_HELP = (
    "Serial number in hex (colons and case ignored), or its first 8 or more digits if no "
    "other serial starts with them."
)
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
WideOption = Annotated[
    bool,
    typer.Option("--wide", help="Whole serials and key ids in the table (it shows their start)."),
]


_MAX_EXPIRING_WITHIN_DAYS = 2_000_000  # about 5,500 years: past 9999 from any today


def revoke(
    serial: Annotated[str, typer.Argument(help=SERIAL_HELP, show_default=False)],
    reason: Annotated[
        str,
        typer.Option(
            metavar="REASON",
            autocompletion=lambda: REASONS.split(", "),
            help=f"RFC 5280 reason: {REASONS}.",
        ),
    ] = "unspecified",
    no_sync: Annotated[
        bool,
        typer.Option(
            "--no-sync", help="Do not publish the new CRL to ALBCA_PUBLISH_TO and trust stores."
        ),
    ] = False,
    region: RegionOption = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the revocation and the AWS calls of the sync after it (operation and "
            "parameters); revoke nothing, make no call.",
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Revoke a certificate (and, with ALBCA_PUBLISH_TO set, bring the trust stores in step).

    With ALBCA_PUBLISH_TO set, the new CRL is then published and swapped into every ALB
    trust store this CA feeds, as `albca truststore sync` does.
    """
    from albca.ca.records import RevocationReason
    from albca.ca.serials import find_certificate
    from albca.trust_bundle.revoke import revoke_and_sync

    parsed_reason = RevocationReason.parse(reason)
    services = open_cli_services()
    try:
        whole = find_certificate(services.authority.store, serial).serial
        if dry_run:
            sync = services.settings.publish_to is not None and not no_sync
            _plan_revoke(services, whole, parsed_reason, sync, json_output, region=region)
            return
        follow = None
        if services.settings.publish_to is not None and not no_sync:
            follow = _trust_store_sync(services, region)
        revoked = revoke_and_sync(
            services.authority, whole, parsed_reason, actor=cli_actor(), sync=follow
        )
        record, outcome = revoked.record, revoked.sync
        now = services.authority.now()
    finally:
        services.close()
    if json_output:
        emit_json({**record.to_json(now), "trust_store_sync": outcome})
    else:
        emit_fields(
            [
                ("revoked", f"{record.serial:x}"),
                ("subject", record.subject),
                ("reason", parsed_reason.label),
                ("at", record.revoked_at.isoformat() if record.revoked_at else ""),
                (
                    "published",
                    "CRL published, trust stores in step" if revoked.synced else "",
                )
                if outcome is not None
                else ("next", "albca crl --out crl.pem   (relying parties see it once published)"),
            ]
        )
    if outcome is not None and not revoked.synced:
        fail(
            f"revoked, but the trust stores do not have it yet: {outcome['error']}; a pending "
            f"sync is recorded (albca truststore status); run `{outcome['rerun']}`"
        )


def _plan_revoke(
    services: Services,
    serial: int,
    reason: RevocationReason,
    sync: bool,
    json_output: bool,
    *,
    region: str | None,
) -> None:
    """What ``revoke`` would do: the revocation (refused as it would be), then the sync
    after it, planned with the new entry in its CA's CRL."""
    from albca.ca.errors import CAError
    from albca.cli.aws_context import open_aws
    from albca.cli.trust_context import clients_of, report_plan
    from albca.compose.trust import trust_services
    from albca.trust_bundle.planning import Plan, Planner, TrustedCAs

    record = services.authority.revocable(serial)
    plan = Plan()
    plan.step(f"revoke certificate {serial:x} ({record.subject}), reason {reason.label}")
    aws = open_aws(region, dry_run=True)
    if not sync:
        plan.note(
            "the trust stores are not synced (--no-sync, or no ALBCA_PUBLISH_TO): relying "
            "parties see the revocation once a CRL is published"
        )
    else:
        try:
            trust = trust_services(services, client=clients_of(aws))
        except CAError as exc:  # no client could be made: a real run queues the sync
            plan.note(f"a real run would revoke, then record a pending sync: {exc.message}")
        else:
            trusted = TrustedCAs.now(services.authority)
            if record.not_after > services.authority.now():
                trusted = trusted.with_entries(record.issuer_key_id, 1)
            Planner(trust.manager, plan, trusted).sync()
    report_plan(aws, plan, json_output=json_output, summary=f"certificate {serial:x}: valid")


def _trust_store_sync(services: Services, region: str | None) -> TrustStoreSync:
    """Inline, on the clients every AWS command of the CLI uses."""
    from albca.cli.aws_context import open_aws
    from albca.cli.trust_context import clients_of
    from albca.compose.trust import trust_store_sync

    return trust_store_sync(
        services, inline=True, client=clients_of(open_aws(region, dry_run=False))
    )


def list_certificates(
    status: Annotated[
        str | None,
        typer.Option(
            metavar="active|expired|revoked",
            autocompletion=lambda: ["active", "expired", "revoked"],
            help="Only certificates with this status.",
        ),
    ] = None,
    profile: Annotated[str | None, typer.Option(help="Only certificates of this profile.")] = None,
    expiring_within: Annotated[
        int | None,
        typer.Option(help="Only active certificates that expire within this many days."),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 100,
    cursor: Annotated[
        str | None, typer.Option(help="Continue after the cursor a previous page printed.")
    ] = None,
    json_output: JsonOption = False,
    wide: WideOption = False,
) -> None:
    """List issued certificates, soonest expiry first."""
    from datetime import timedelta

    from albca.ca.errors import InvalidRequest
    from albca.ca.records import CertificateQuery, EffectiveStatus

    try:
        wanted = EffectiveStatus(status) if status else None
    except ValueError:
        raise InvalidRequest(
            f"--status: {status!r} is not one of active, expired, revoked", field="status"
        ) from None
    if expiring_within is not None:
        if expiring_within < 0:
            fail("--expiring-within must not be negative")
        if expiring_within > _MAX_EXPIRING_WITHIN_DAYS:
            # timedelta stops at 999,999,999 days and datetime at year 9999: a larger
            # number is an OverflowError, not a list (RFC 5280 4.1.2.5 ends at 9999 too).
            fail(
                f"--expiring-within: {expiring_within} days is beyond the year 9999; give at "
                f"most {_MAX_EXPIRING_WITHIN_DAYS}"
            )
        if wanted not in (None, EffectiveStatus.ACTIVE):
            fail("--expiring-within lists active certificates; drop --status or use active")
        wanted = EffectiveStatus.ACTIVE
    services = open_cli_services()
    try:
        now = services.authority.now()
        page = services.authority.list_certificates(
            CertificateQuery(
                status=wanted,
                profile=profile,
                expiring_before=now + timedelta(days=expiring_within)
                if expiring_within is not None
                else None,
                limit=limit,
                cursor=cursor,
            )
        )
    finally:
        services.close()
    if json_output:
        emit_json(
            {
                "certificates": [record.to_json(now) for record in page.records],
                "next_cursor": page.next_cursor,
            }
        )
        return
    emit_table(
        ["serial", "status", "profile", "names", "not after"],
        [
            (
                serial_cell(r.serial, wide=wide),
                r.effective_status(now).value,
                r.profile,
                # A server's CN usually repeats its first DNS name: each name once.
                ", ".join(
                    dict.fromkeys(filter(None, [r.common_name, *r.dns_names, *r.ip_addresses]))
                ),
                r.not_after.strftime("%Y-%m-%d %H:%M"),
            )
            for r in page.records
        ],
        wrap=("names",),
        row_styles=[STATUS_STYLES.get(r.effective_status(now).value) for r in page.records],
    )
    if page.next_cursor:
        typer.echo(f"more: albca list --cursor {page.next_cursor}")


def show(
    serial: Annotated[str, typer.Argument(help=SERIAL_HELP, show_default=False)],
    pem: Annotated[bool, typer.Option("--pem", help="Print only the certificate PEM.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Show one certificate's record."""
    from albca.ca.serials import find_certificate

    services = open_cli_services()
    try:
        record = find_certificate(services.authority.store, serial)
        now = services.authority.now()
    finally:
        services.close()
    if pem:
        typer.echo(record.certificate_pem, nl=False)
        return
    if json_output:
        emit_json({**record.to_json(now), "certificate_pem": record.certificate_pem})
        return
    data = record.to_json(now)
    emit_fields([(key.replace("_", " "), _plain(value)) for key, value in data.items()])


def audit(
    serial: Annotated[
        str | None,
        typer.Option(help="Only events about this certificate (its serial, or a unique prefix)."),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many events, newest first.")] = 50,
    json_output: JsonOption = False,
    wide: WideOption = False,
) -> None:
    """Show the audit trail: every init, issue, revoke and CRL, newest first."""
    services = open_cli_services()
    try:
        events = services.authority.audit(
            limit=limit, serial=_audited_serial(services, serial) if serial else None
        )
    finally:
        services.close()
    if json_output:
        emit_json([event.to_json() for event in events])
        return
    emit_table(
        ["id", "at", "action", "actor", "serial", "detail"],
        [
            (
                e.id,
                e.at.strftime("%Y-%m-%d %H:%M"),
                e.action,
                e.actor,
                serial_cell(e.serial, wide=wide),
                " ".join(f"{k}={_detail_value(v, wide)}" for k, v in e.detail.items()),
            )
            for e in events
        ],
        wrap=("detail",),
    )


def _audited_serial(services: Services, text: str) -> int:
    """The serial whose events to show: a stored certificate's, found by prefix too, or
    (its record aged out of the store) the serial exactly as given."""
    from albca.ca.errors import CertificateNotFound
    from albca.ca.records import parse_serial
    from albca.ca.serials import find_certificate

    try:
        return find_certificate(services.authority.store, text).serial
    except CertificateNotFound:
        return parse_serial(text)


def _detail_value(value: object, wide: bool) -> str:
    """An audit detail as the table shows it: long hex (key ids) cut like serials, and
    times to the minute like the table's own column; whole in --wide and --json."""
    import re

    text = str(value)
    if wide:
        return text
    if re.fullmatch(r"[0-9a-f]{17,}", text):
        return text[:12]
    if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", text):
        return text[:16]
    return text


def _plain(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "-"
    return "-" if value is None else str(value)
