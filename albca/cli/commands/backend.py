"""``albca backend``: re-encryption from the load balancer to the instances.

Certificates for the instances, an HTTPS target group (ALB: encrypts, does NOT
authenticate), backend key pinning (Classic ELB: authenticates), the security group rules
between the two, and the Elastic Beanstalk ``.ebextensions`` of the same recipe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from albca.cli.aws_context import (
    ALB_DOES_NOT_AUTHENTICATE,
    DryRunOption,
    JsonOption,
    RegionOption,
    open_aws,
    report,
)
from albca.cli.errors import fail

backend_app = typer.Typer(
    help="Re-encryption to backends: certificates, target groups, key pinning, security "
    "groups, .ebextensions.",
    no_args_is_help=True,
)

PortOption = Annotated[
    int, typer.Option("--port", min=1, max=65535, help="The instances' HTTPS port.")
]
CertFileOption = Annotated[
    Path, typer.Option("--cert", help="The instances' certificate (PEM; the first one is used).")
]
ElbOption = Annotated[str, typer.Option("--elb", help="Name of the Classic Load Balancer.")]


@backend_app.command("cert")
def cert(
    dns: Annotated[list[str], typer.Option("--dns", help="DNS name of the backend (repeatable).")],
    self_signed: Annotated[
        bool,
        typer.Option(
            "--self-signed", help="Self-signed instead of issued by the CA's server profile."
        ),
    ] = False,
    out: Annotated[Path, typer.Option("--out", help="Directory to write the files to.")] = Path(),
    name: Annotated[
        str | None,
        typer.Option("--name", help="Base name of the files (default: the first --dns)."),
    ] = None,
    keep_key: Annotated[
        bool,
        typer.Option(
            "--keep-key", help="On renewal keep the existing key, so a pinned key stays valid."
        ),
    ] = False,
    renew: Annotated[bool, typer.Option("--renew", help="Renew now, even if not due.")] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace a certificate for other names or of the other kind."),
    ] = False,
    key_type: Annotated[str, typer.Option("--key-type", help="Key type of a new key.")] = "ec-p256",
    lifetime: Annotated[
        str | None,
        typer.Option(
            "--lifetime",
            help="Validity such as 365d (default: 1 year self-signed, else the profile's).",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Write a certificate and key for backend instances (PEM).

    Files: NAME.crt.pem, NAME.key.pem (mode 0600), NAME.fullchain.pem. Running it again
    changes nothing until the certificate is due for renewal (a third of its lifetime
    left). Example: albca backend cert --dns app.internal --keep-key
    """
    from datetime import UTC, datetime

    from albca.ca.keys import KeySpec
    from albca.ca.names import RequestedNames
    from albca.cli.context import cli_actor, open_cli_services, out_directory, parse_lifetime
    from albca.compose.infra import server_certificate_for_key
    from albca.infra.backend_cert import (
        BackendCertRequest,
        BackendFiles,
        ensure_backend_certificate,
    )

    request = BackendCertRequest(
        names=RequestedNames.of(dns_names=dns),
        self_signed=self_signed,
        keep_key=keep_key,
        renew=renew,
        force=force,
        key_spec=KeySpec.parse(key_type, field="--key-type"),
        lifetime=parse_lifetime(lifetime),
    )
    files = BackendFiles(out_directory(out), name or request.names.dns_names[0])
    if self_signed:
        result = ensure_backend_certificate(
            files, request, issue=None, authorities=(), now=datetime.now(UTC)
        )
    else:
        services = open_cli_services()
        try:
            authority = services.authority
            result = ensure_backend_certificate(
                files,
                request,
                issue=server_certificate_for_key(
                    authority, actor=cli_actor(), lifetime=request.lifetime
                ),
                authorities=authority.trusted_certificates(),
                now=authority.now(),
            )
        finally:
            services.close()
    if json_output:
        from albca.cli.output import emit_json

        emit_json(
            {
                "changed": result.changed,
                "key_changed": result.key_changed,
                "summary": result.summary,
                "files": {
                    "certificate": str(files.certificate),
                    "private_key": str(files.key),
                    "fullchain": str(files.full_chain),
                },
            }
        )
        return
    typer.echo(result.summary if result.changed else f"Nothing to change: {result.summary}")
    if result.key_changed:
        typer.echo(
            "Note: the key changed. If a Classic ELB pins the old key, pin the new one first "
            f"(albca backend pin --cert {files.certificate}), or renew with --keep-key."
        )


@backend_app.command("target-group")
def target_group(
    name: Annotated[str, typer.Option("--name", help="Name of the target group.")],
    vpc_id: Annotated[
        str | None, typer.Option("--vpc-id", help="VPC of the targets (needed to create).")
    ] = None,
    port: PortOption = 443,
    health_path: Annotated[
        str, typer.Option("--health-path", help="Path of the HTTPS health check.")
    ] = "/",
    health_port: Annotated[
        str, typer.Option("--health-port", help="Port of the health check, or traffic-port.")
    ] = "traffic-port",
    matcher: Annotated[
        str, typer.Option("--matcher", help="HTTP codes a healthy target answers (200-299, ...).")
    ] = "200",
    region: RegionOption = None,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Create or update an HTTPS target group with an HTTPS health check.

    The ALB then encrypts to the targets; it does NOT authenticate their certificates.
    """
    from albca.infra.target_groups import HttpsTargetGroup, ensure_https_target_group

    spec = HttpsTargetGroup(
        name=name,
        port=port,
        vpc_id=vpc_id,
        health_check_path=health_path,
        health_check_port=health_port,
        matcher=matcher,
    )
    aws = open_aws(region, dry_run=dry_run)
    summary = ensure_https_target_group(aws, spec)
    aws.note(ALB_DOES_NOT_AUTHENTICATE)
    report(aws, summary, json_output=json_output)


@backend_app.command("pin")
def pin(
    elb: ElbOption,
    cert: CertFileOption,
    port: PortOption = 443,
    region: RegionOption = None,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Pin the key of --cert on a Classic ELB port; keys already pinned stay pinned.

    The ELB then talks HTTPS only to instances holding a pinned key. Key rollover: pin
    the new key, switch the instances to it, then unpin the old one.
    """
    from albca.infra.cert_checks import load_certificate_file
    from albca.infra.classic_elb import pin_backend_key

    certificate = load_certificate_file(cert)
    aws = open_aws(region, dry_run=dry_run)
    report(aws, pin_backend_key(aws, elb, port, certificate), json_output=json_output)


@backend_app.command("unpin")
def unpin(
    elb: ElbOption,
    cert: CertFileOption,
    port: PortOption = 443,
    allow_none: Annotated[
        bool,
        typer.Option(
            "--allow-none",
            help="Allow unpinning the last key (turns backend authentication off).",
        ),
    ] = False,
    region: RegionOption = None,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Unpin the key of --cert from a Classic ELB port; the other pinned keys stay."""
    from albca.infra.cert_checks import load_certificate_file
    from albca.infra.classic_elb import unpin_backend_key

    certificate = load_certificate_file(cert)
    aws = open_aws(region, dry_run=dry_run)
    report(
        aws,
        unpin_backend_key(aws, elb, port, certificate, allow_none=allow_none),
        json_output=json_output,
    )


@backend_app.command("open")
def open_port(
    lb_sg: Annotated[str, typer.Option("--lb-sg", help="The load balancer's security group.")],
    instance_sg: Annotated[
        str, typer.Option("--instance-sg", help="The instances' security group.")
    ],
    port: PortOption = 443,
    region: RegionOption = None,
    dry_run: DryRunOption = False,
    json_output: JsonOption = False,
) -> None:
    """Let the load balancer reach the instances on --port, and nothing else.

    Ingress on the instances' group from the load balancer's, egress on the load
    balancer's to the instances', as two separate rules. Rules already there stay.
    """
    from albca.infra.security_groups import open_backend_port

    aws = open_aws(region, dry_run=dry_run)
    report(
        aws,
        open_backend_port(aws, lb_group=lb_sg, instance_group=instance_sg, port=port),
        json_output=json_output,
    )


@backend_app.command("ebextensions")
def ebextensions(
    cert: CertFileOption,
    out: Annotated[
        Path, typer.Option("--out", help="The application's .ebextensions directory.")
    ] = Path(".ebextensions"),
    port: PortOption = 443,
    health_path: Annotated[
        str, typer.Option("--health-path", help="Path of the HTTPS health check.")
    ] = "/",
    ssl_certificate_arn: Annotated[
        str | None,
        typer.Option(
            "--ssl-certificate-arn",
            help="ACM certificate of the load balancer's HTTPS listener (adds its config).",
        ),
    ] = None,
    vpc_id: Annotated[
        str | None,
        typer.Option("--vpc-id", help="VPC of the environment (adds the security group configs)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace files that hold other content.")
    ] = False,
    load_balancer: Annotated[
        str,
        typer.Option(
            "--load-balancer",
            help="The environment's load balancer type, chosen when it was created: classic "
            "(pins the instances' key) or application (the default for new environments; "
            "encrypts, pins nothing).",
        ),
    ] = "classic",
    json_output: JsonOption = False,
) -> None:
    """Write the .ebextensions of Elastic Beanstalk's end-to-end encryption recipe.

    Classic (aws:elb:*): filled in with the instances' certificate, the ELB trusts only its
    key on --port. Application (aws:elbv2:*): HTTPS to the instances, no key pinning.
    """
    from albca.infra.cert_checks import load_certificate_file
    from albca.infra.ebextensions import (
        EbRecipe,
        ebextensions_caveat,
        render_ebextensions,
        write_ebextensions,
    )

    if out.exists() and not out.is_dir():
        fail(f"--out {out} is not a directory")
    recipe = EbRecipe(
        certificate=load_certificate_file(cert),
        instance_port=port,
        health_check_path=health_path,
        ssl_certificate_arn=ssl_certificate_arn,
        vpc_id=vpc_id,
        load_balancer=load_balancer,
    )
    files = render_ebextensions(recipe)
    written = write_ebextensions(out, files, force=force)
    if json_output:
        from albca.cli.output import emit_json

        emit_json(
            {
                "directory": str(out),
                "files": sorted(files),
                "written": list(written),
                "notes": [ebextensions_caveat(load_balancer)],
            }
        )
        return
    if not written:
        typer.echo(f"Nothing to change: {len(files)} files in {out} are up to date.")
    for name in written:
        typer.echo(f"wrote {out / name}")
    typer.echo(
        "Deploy them with the application (eb deploy). The instances must serve HTTPS on "
        f"port {port} with the certificate's key."
    )
    typer.echo(ebextensions_caveat(load_balancer))
