"""``albca alb``: mutual TLS and server certificates on ALB listeners, without Terraform."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from albca.cli.aws_context import DryRunOption, JsonOption, RegionOption, open_aws, report
from albca.cli.errors import fail

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from albca.ca.authority import Authority
    from albca.compose.infra import FeedView
    from albca.infra.listener_status import ListenerStatus
    from albca.infra.server_cert import FileServerCertificate, IssuedServerCertificate

alb_app = typer.Typer(
    help="Mutual TLS and server certificates on Application Load Balancer listeners.",
    no_args_is_help=True,
)

ListenerOption = Annotated[str, typer.Option("--listener", help="ARN of the HTTPS listener.")]
DomainOption = Annotated[
    str | None,
    typer.Option(
        "--domain", help="DNS name clients use for the listener (the server certificate's SAN)."
    ),
]
RenewOption = Annotated[
    bool, typer.Option("--renew", help="Renew albca's server certificate now, even if not due.")
]
KeyTypeOption = Annotated[
    str | None,
    typer.Option(
        "--key-type",
        help="Key type of a new server certificate (ec-p256, rsa-2048, ...; default: on "
        "renewal the current one's, else the issuing CA's algorithm, which ACM requires).",
    ),
]


@alb_app.command("enable-mtls")
def enable_mtls(
    listener: ListenerOption,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            metavar="verify|passthrough",
            autocompletion=lambda: ["verify", "passthrough"],
            help="verify (the ALB checks client certificates) or passthrough.",
        ),
    ] = "verify",
    trust_store: Annotated[
        str | None,
        typer.Option(
            "--trust-store",
            help="Trust store NAME or ARN holding albca's bundle (verify mode; default: the "
            "listener's current one). With ALBCA_PUBLISH_TO=s3://..., albca publishes the "
            "bundle and creates or updates the store from it, with its CRLs.",
        ),
    ] = None,
    advertise_ca_names: Annotated[
        bool,
        typer.Option("--advertise-ca-names", help="Send the trust store's CA names to clients."),
    ] = False,
    ignore_client_cert_expiry: Annotated[
        bool,
        typer.Option(
            "--ignore-client-cert-expiry", help="Accept expired client certificates (verify)."
        ),
    ] = False,
    server_cert: Annotated[
        bool,
        typer.Option(
            "--server-cert",
            help="Also issue a server certificate for --domain, import it into ACM and set it.",
        ),
    ] = False,
    domain: DomainOption = None,
    renew: RenewOption = False,
    key_type: KeyTypeOption = None,
    wait_seconds: Annotated[
        float,
        typer.Option(
            "--wait-seconds", help="How long to wait for the trust store to become ACTIVE."
        ),
    ] = 300.0,
    region: RegionOption = None,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Turn on mutual TLS on an HTTPS listener, keeping its certificate and SSL policy.

    With ALBCA_PUBLISH_TO=s3://BUCKET/PREFIX, first makes sure of the trust store: albca's
    bundle published (checked against every ALB rule), the store created from that exact
    object version or pointed at it, its CRLs in step, ACTIVE. Without it, the trust store
    must exist. Refuses a listener that is not HTTPS, a third verify-mode listener on the
    load balancer, and a trust store that is not ACTIVE.

    Example: albca alb enable-mtls --listener arn:aws:elasticloadbalancing:... --trust-store albca
    """
    from albca.cli.context import cli_actor, load_settings
    from albca.cli.progress import progress_line
    from albca.compose.infra import publishes_trust_stores, trust_store_source
    from albca.compose.trust import trust_store_limits
    from albca.infra.listener_mtls import MtlsSettings
    from albca.infra.listener_mtls import enable_mtls as enable

    if mode not in ("verify", "passthrough"):
        fail(f"--mode: {mode!r} is not verify or passthrough")
    if server_cert and domain is None:
        fail("--server-cert needs --domain NAME (the name clients call the listener by)")
    if domain is not None and not server_cert:
        fail("--domain goes with --server-cert")
    settings = MtlsSettings(
        mode="verify" if mode == "verify" else "passthrough",
        advertise_ca_names=advertise_ca_names,
        ignore_client_certificate_expiry=ignore_client_cert_expiry,
    )
    albca_settings = load_settings()
    publish_to = albca_settings.publish_to
    publishes = trust_store is not None and publishes_trust_stores(publish_to)
    with (
        _authority(server_cert or publishes) as authority,
        progress_line(json_output=json_output or dry_run) as progress,  # waits for ACTIVE
    ):
        aws = open_aws(region, dry_run=dry_run, arn=listener, progress=progress)
        source = trust_store_source(
            trust_store,
            wait_seconds=wait_seconds,
            publish_to=publish_to,
            authority=authority,
            actor=cli_actor(),
            advertise_ca_names=advertise_ca_names,
            limits=trust_store_limits(albca_settings),
            progress=progress,
        )
        certificate = _server_certificate(authority, domain, renew, key_type)
        summary = enable(
            aws,
            listener,
            settings,
            trust_store=source,
            server_certificate=certificate,
            now=_now(),
        )
    report(aws, summary, json_output=json_output)


@alb_app.command("disable-mtls")
def disable_mtls(
    listener: ListenerOption,
    region: RegionOption = None,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Turn mutual TLS off on an HTTPS listener (sends Mode=off explicitly)."""
    from albca.infra.listener_mtls import disable_mtls as disable

    aws = open_aws(region, dry_run=dry_run, arn=listener)
    report(aws, disable(aws, listener), json_output=json_output)


@alb_app.command("server-cert")
def server_cert(
    listener: ListenerOption,
    domain: DomainOption = None,
    cert: Annotated[
        Path | None,
        typer.Option("--cert", help="Import this certificate (PEM) instead of issuing one."),
    ] = None,
    key: Annotated[
        Path | None, typer.Option("--key", help="The unencrypted private key of --cert (PEM).")
    ] = None,
    chain: Annotated[
        Path | None, typer.Option("--chain", help="The issuing CA certificates of --cert (PEM).")
    ] = None,
    renew: RenewOption = False,
    key_type: KeyTypeOption = None,
    stack_owned: Annotated[
        bool,
        typer.Option(
            "--stack-owned",
            help="A stack (CloudFormation, Copilot, Terraform) owns the listener: import or "
            "renew the certificate in ACM and print its ARN for the stack; the listener is "
            "not changed (that would be drift).",
        ),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    region: RegionOption = None,
    dry_run: DryRunOption = False,
) -> None:
    """Give an HTTPS listener a server certificate from albca's CA, through ACM.

    For clients (a Lambda function, internal services) that call the ALB by --domain and
    trust albca's bundle. Renewal re-imports in place, so the listener keeps its ARN.

    Example: albca alb server-cert --listener arn:... --domain service.internal.example
    """
    from albca.infra.listener_mtls import describe_mutual_authentication
    from albca.infra.listeners import read_listener
    from albca.infra.server_cert import set_listener_certificate

    if (domain is None) == (cert is None):
        fail("give --domain (albca issues the certificate) or --cert and --key (yours)")
    aws = open_aws(region, dry_run=dry_run, arn=listener)
    change = not stack_owned
    if cert is not None:
        source = _file_certificate(cert, key, chain)
        arn = set_listener_certificate(aws, listener, source, _now(), change_listener=change)
    else:
        with _authority(True) as authority:
            issued = _server_certificate(authority, domain, renew, key_type)
            assert issued is not None
            arn = set_listener_certificate(aws, listener, issued, _now(), change_listener=change)
    current = read_listener(aws, listener)
    if json_output:
        from albca.cli.output import emit_json

        emit_json(
            {
                "dry_run": aws.dry_run,
                "certificate_arn": arn,
                "listener_arn": listener,
                "listener_certificate_arn": current.certificate_arn,
                "changes": [action.describe() for action in aws.actions],
                "notes": list(aws.notes),
            }
        )
        return
    mtls = describe_mutual_authentication(current.mutual_authentication)
    report(aws, f"{current.label}: certificate {arn}; {mtls}")


@alb_app.command("https-listener")
def https_listener(
    load_balancer: Annotated[
        str, typer.Option("--load-balancer", help="ARN of the Application Load Balancer.")
    ],
    domain: Annotated[
        str, typer.Option("--domain", help="The name clients call the load balancer by.")
    ],
    port: Annotated[int, typer.Option("--port", help="The HTTPS listener's port.")] = 443,
    from_port: Annotated[
        int,
        typer.Option("--from-port", help="The HTTP listener whose targets the HTTPS one serves."),
    ] = 80,
    ssl_policy: Annotated[
        str | None,
        typer.Option("--ssl-policy", help="ELB security policy (default: TLS 1.3 and 1.2)."),
    ] = None,
    renew: RenewOption = False,
    key_type: KeyTypeOption = None,
    region: RegionOption = None,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Serve HTTPS on --port: issue a certificate for --domain, import it into ACM and create
    the listener, forwarding to the targets of the HTTP listener on --from-port.

    An HTTPS listener already on --port gets the certificate instead (as `alb server-cert`
    does); an HTTP one is refused.
    """
    from albca.infra.https_listener import DEFAULT_SSL_POLICY, ensure_https_listener

    aws = open_aws(region, dry_run=dry_run, arn=load_balancer)
    with _authority(True) as authority:
        issued = _server_certificate(authority, domain, renew, key_type)
        assert issued is not None
        arn, certificate_arn = ensure_https_listener(
            aws,
            load_balancer,
            issued,
            _now(),
            port=port,
            from_port=from_port,
            ssl_policy=ssl_policy or DEFAULT_SSL_POLICY,
        )
    report(
        aws,
        f"HTTPS:{port} listener {arn}: certificate {certificate_arn}",
        json_output=json_output,
    )


@alb_app.command("status")
def status(
    load_balancer: Annotated[
        str | None,
        typer.Option("--load-balancer", help="ARN or name of the load balancer."),
    ] = None,
    listener: Annotated[
        str | None, typer.Option("--listener", help="ARN of one listener instead.")
    ] = None,
    region: RegionOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Show each HTTPS listener's mTLS mode, trust store, bundle and CRL state.

    The bundle and CRLs the trust store loaded are compared with what albca's CA says it
    should hold now (current, or what is missing). For a trust store this CA feeds (its
    albca:ca tag), also the standing of each CA's CRL as the sync tracks it, and pending
    syncs.
    """
    from albca.cli.context import open_cli_services
    from albca.cli.output import emit_json
    from albca.compose.infra import ca_view, trust_store_feed
    from albca.infra.listener_status import listener_statuses, resolve_load_balancer

    if (load_balancer is None) == (listener is None):
        fail("give --load-balancer ARN|NAME or --listener ARN")
    aws = open_aws(region, dry_run=True, arn=listener or load_balancer)
    services = open_cli_services()
    try:
        authority = services.authority
        now = authority.now()
        load_balancer_arn = resolve_load_balancer(aws, load_balancer) if load_balancer else None
        statuses = listener_statuses(
            aws,
            load_balancer_arn=load_balancer_arn,
            listener_arn=listener,
            ca=ca_view(authority, now),
            now=now,
        )
        feeds = {
            arn: trust_store_feed(
                aws, arn, authority=authority, publish_to=services.settings.publish_to
            )
            for arn in dict.fromkeys(s.trust_store.arn for s in statuses if s.trust_store)
        }
    finally:
        services.close()
    if json_output:
        emit_json([_status_json(s, feeds) for s in statuses])
        return
    if not statuses:
        typer.echo("No HTTPS listeners.")
        return
    for number, listener_status in enumerate(statuses):
        if number:
            typer.echo()
        _print_status(listener_status, feeds)


def _status_json(status: ListenerStatus, feeds: Mapping[str, FeedView]) -> dict[str, object]:
    feed = feeds.get(status.trust_store.arn) if status.trust_store else None
    return {**status.as_dict(), "albca": feed.to_json() if feed else None}


def _print_status(status: ListenerStatus, feeds: Mapping[str, FeedView]) -> None:
    from albca.cli.output import emit_fields
    from albca.infra.listener_mtls import describe_mutual_authentication

    store = status.trust_store
    typer.echo(f"HTTPS:{status.listener.port} {status.listener.arn}")
    emit_fields(
        [
            ("  mode", describe_mutual_authentication(status.listener.mutual_authentication)),
            ("  trust store", f"{store.name} ({store.status}) {store.arn}" if store else "-"),
            ("  bundle", status.bundle),
            ("  CRLs", status.crls),
            *([("  albca", feeds[store.arn].line())] if store and store.arn in feeds else []),
        ]
    )


@contextmanager
def _authority(wanted: bool) -> Iterator[Authority | None]:
    """Opens the CA only when it is wanted (a server certificate, a trust store albca
    feeds), and closes it after."""
    if not wanted:
        yield None
        return
    from albca.cli.context import open_cli_services

    services = open_cli_services()
    try:
        yield services.authority
    finally:
        services.close()


def _server_certificate(
    authority: Authority | None, domain: str | None, renew: bool, key_type: str | None
) -> IssuedServerCertificate | None:
    if domain is None:
        return None
    assert authority is not None
    from albca.ca.keys import KeySpec
    from albca.cli.context import cli_actor
    from albca.compose.infra import server_certificate_issuer, signing_certificate
    from albca.infra.server_cert import IssuedServerCertificate

    return IssuedServerCertificate(
        domain=domain,
        issue=server_certificate_issuer(authority, actor=cli_actor()),
        authorities=authority.trusted_certificates(),
        signing_ca=signing_certificate(authority),
        renew=renew,
        key_spec=None if key_type is None else KeySpec.parse(key_type, field="--key-type"),
    )


def _file_certificate(cert: Path, key: Path | None, chain: Path | None) -> FileServerCertificate:
    from cryptography import x509

    from albca.infra.acm import ImportMaterial
    from albca.infra.cert_checks import load_certificate_file, load_private_key_file
    from albca.infra.server_cert import FileServerCertificate

    if key is None:
        fail("--cert needs --key (the certificate's unencrypted private key)")
    chain_certificates: tuple[x509.Certificate, ...] = ()
    if chain is not None:
        try:
            chain_certificates = tuple(x509.load_pem_x509_certificates(chain.read_bytes()))
        except (OSError, ValueError):
            fail(f"--chain: {chain} is not a readable PEM file of certificates")
    material = ImportMaterial(
        load_certificate_file(cert), load_private_key_file(key), chain_certificates
    )
    return FileServerCertificate(material, source=str(cert))


def _now() -> datetime:
    from datetime import UTC, datetime

    return datetime.now(UTC)
