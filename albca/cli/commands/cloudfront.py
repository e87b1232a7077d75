"""``albca cloudfront``: a CloudFront distribution authenticates to its ALB origin with a
client certificate from albca's CA (origin mutual TLS)."""

from __future__ import annotations

from typing import Annotated

import typer

from albca.cli.aws_context import DryRunOption, JsonOption, RegionOption, open_aws, report

cloudfront_app = typer.Typer(
    help="CloudFront origin mutual TLS to an ALB verifying albca's certificates.",
    no_args_is_help=True,
)


@cloudfront_app.command("origin-mtls")
def origin_mtls(
    distribution: Annotated[
        str, typer.Option("--distribution", help="ID of the CloudFront distribution.")
    ],
    origin: Annotated[str, typer.Option("--origin", help="ID of the origin (the ALB).")],
    listener: Annotated[
        str | None,
        typer.Option(
            "--listener",
            help="ARN of the ALB listener behind the origin (default: the load balancer whose "
            "DNS name is the origin's domain, listener on the origin's HTTPS port).",
        ),
    ] = None,
    trust_store: Annotated[
        str | None,
        typer.Option(
            "--trust-store",
            help="Trust store NAME or ARN holding albca's bundle, if the listener does not "
            "verify yet (with ALBCA_PUBLISH_TO=s3://..., created or updated by albca).",
        ),
    ] = None,
    renew: Annotated[
        bool, typer.Option("--renew", help="Renew the client certificate now, even if not due.")
    ] = False,
    key_type: Annotated[
        str | None,
        typer.Option(
            "--key-type",
            help="Client key: ec-p256 or rsa-2048 (CloudFront's; default: on renewal the "
            "current one's, else the issuing CA's algorithm, which ACM requires).",
        ),
    ] = None,
    wait_seconds: Annotated[
        float,
        typer.Option("--wait-seconds", help="How long to wait for the trust store to be ACTIVE."),
    ] = 300.0,
    deploy_wait_seconds: Annotated[
        float,
        typer.Option(
            "--deploy-wait-seconds",
            help="How long to wait for the distribution to deploy before the ALB verifies.",
        ),
    ] = 900.0,
    region: RegionOption = None,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Lock an ALB origin to one CloudFront distribution with origin mutual TLS.

    Issues a client certificate CloudFront accepts (EKU clientAuth, RSA 2048 or EC P-256,
    chain depth <= 3), imports it into ACM in us-east-1 (in place on renewal), sets the
    origin's OriginMtlsConfig, and, once the distribution is deployed, puts the ALB
    listener in verify mode with albca's trust store.

    Example: albca cloudfront origin-mtls --distribution E2ABC --origin alb --trust-store albca
    """
    from albca.ca.keys import KeySpec
    from albca.cli.context import cli_actor, open_cli_services
    from albca.cli.progress import open_progress
    from albca.compose.infra import cloudfront_client_ca, trust_store_source
    from albca.compose.trust import trust_store_limits
    from albca.infra.cloudfront_origin import OriginMtlsRequest, ensure_origin_mtls
    from albca.infra.waiting import Wait

    spec = None if key_type is None else KeySpec.parse(key_type, field="--key-type")
    services = open_cli_services()
    # Deploying a distribution takes minutes: say what is awaited, on a terminal.
    progress = open_progress(json_output=json_output or dry_run)
    try:
        request = OriginMtlsRequest(
            distribution_id=distribution,
            origin_id=origin,
            listener_arn=listener,
            renew=renew,
            deploy_wait=Wait.up_to(deploy_wait_seconds, interval=15, progress=progress),
        )
        aws = open_aws(region, dry_run=dry_run, arn=listener, progress=progress)
        authority = services.authority
        source = trust_store_source(
            trust_store,
            wait_seconds=wait_seconds,
            publish_to=services.settings.publish_to,
            authority=authority,
            actor=cli_actor(),
            limits=trust_store_limits(services.settings),
            progress=progress,
        )
        summary = ensure_origin_mtls(
            aws,
            request,
            cloudfront_client_ca(authority, key_spec=spec, actor=cli_actor()),
            trust_store=source,
            now=authority.now(),
        )
    finally:
        progress.close()
        services.close()
    report(aws, summary, json_output=json_output)


@cloudfront_app.command("restrict-origin")
def restrict_origin(
    lb_sg: Annotated[
        str, typer.Option("--lb-sg", help="The security group of the origin's load balancer.")
    ],
    port: Annotated[int, typer.Option("--port", help="The origin's port.")] = 443,
    ipv6: Annotated[
        bool, typer.Option("--ipv6", help="Also admit CloudFront's IPv6 origin-facing servers.")
    ] = False,
    remove_open: Annotated[
        bool,
        typer.Option(
            "--remove-open",
            help="Revoke the rules that let anyone (0.0.0.0/0, ::/0) reach --port.",
        ),
    ] = False,
    region: RegionOption = None,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Let only CloudFront's origin-facing servers reach the load balancer on --port.

    Adds an inbound rule from the AWS-managed prefix list
    com.amazonaws.global.cloudfront.origin-facing (CloudFront keeps it current); with
    --remove-open, revokes the rules open to everyone. Any distribution can still connect:
    origin mutual TLS (albca cloudfront origin-mtls) is what admits only yours.
    """
    from albca.infra.cloudfront_prefix_list import restrict_to_cloudfront

    aws = open_aws(region, dry_run=dry_run)
    summary = restrict_to_cloudfront(
        aws, lb_group=lb_sg, port=port, ipv6=ipv6, remove_open=remove_open
    )
    report(aws, summary, json_output=json_output)
