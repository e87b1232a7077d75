"""``albca aws bootstrap`` and ``albca aws check``: the AWS side of a serverless CA."""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Annotated

import typer

from albca.cli.context import load_settings
from albca.cli.errors import fail
from albca.cli.output import emit_json

if TYPE_CHECKING:
    from albca.ca.keys import KeySpec
    from albca.infra.bootstrap import BootstrapSpec
    from albca.settings import Settings

aws_app = typer.Typer(
    help="Set up and check the AWS resources of a serverless CA.", no_args_is_help=True
)

KEY_TYPES = "ec-p256, ec-p384, ec-p521, rsa-2048, rsa-3072 or rsa-4096"
RegionOption = Annotated[
    str | None, typer.Option(help="AWS region (default: ALBCA_AWS_REGION, else the SDK's).")
]
TableOption = Annotated[
    str | None,
    typer.Option(help="DynamoDB table (default: the one ALBCA_STORE=dynamodb://TABLE names)."),
]
BucketOption = Annotated[
    str | None,
    typer.Option(help="S3 bucket for the bundle and CRLs (default: from ALBCA_PUBLISH_TO)."),
]
PrefixOption = Annotated[
    str | None, typer.Option(help="Key prefix in the bucket (default: from ALBCA_PUBLISH_TO).")
]
KmsAliasOption = Annotated[
    str | None,
    typer.Option(
        help="Alias prefix of the CA's KMS keys, e.g. alias/albca/prod (keys .../root and "
        ".../issuing). Default: alias/albca/TABLE."
    ),
]
NoKmsOption = Annotated[
    bool, typer.Option("--no-kms-keys", help="Leave KMS alone (CA keys stay local files).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@aws_app.command("bootstrap")
def bootstrap_command(
    region: RegionOption = None,
    table: TableOption = None,
    bucket: BucketOption = None,
    prefix: PrefixOption = None,
    elb_account: Annotated[
        list[str] | None,
        typer.Option(
            help="Another account whose load balancers read the bundle and CRLs (repeatable)."
        ),
    ] = None,
    reader_principal: Annotated[
        list[str] | None,
        typer.Option(
            help="ARN of a role or user that creates or modifies trust stores or adds their "
            "revocations: it reads the bundle and CRLs too (repeatable)."
        ),
    ] = None,
    kms_alias_prefix: KmsAliasOption = None,
    no_kms_keys: NoKmsOption = False,
    key_type: Annotated[
        str, typer.Option(help=f"Key type of new KMS keys: {KEY_TYPES}.")
    ] = "ec-p256",
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Read what exists and print the calls that would change AWS."
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Create, idempotently, the DynamoDB table, S3 bucket and KMS keys of a serverless CA.

    Table: on-demand, deletion protection, point-in-time recovery, TTL. Bucket: versioned,
    encrypted, public access blocked, readable by Elastic Load Balancing and by each
    --reader-principal (the callers of Create/ModifyTrustStore). Keys: root and
    issuing, found again by alias. A second run changes nothing and says so.
    """
    from albca.ca.keys import KeySpec

    _require_aws()
    from albca.compose.aws import aws_clients
    from albca.infra.bootstrap import bootstrap

    settings = load_settings()
    spec = _spec(
        settings,
        region,
        table,
        bucket,
        prefix,
        elb_account or [],
        None if no_kms_keys else kms_alias_prefix,
        use_kms=not no_kms_keys,
        key_spec=KeySpec.parse(key_type, field="--key-type"),
    )
    try:
        spec = dataclasses.replace(spec, reader_principals=tuple(reader_principal or ()))
    except ValueError as exc:
        fail(str(exc))
    report = bootstrap(spec, aws_clients(spec.region), mode="plan" if dry_run else "apply")
    if json_output:
        emit_json(
            {
                "dry_run": dry_run,
                "changed": report.changed,
                "calls": [
                    {"service": c.service, "operation": c.operation, "parameters": c.parameters}
                    for c in report.calls
                ],
                "already_in_place": report.in_place,
                "kms_keys": report.kms_keys,
            }
        )
        return
    if not report.calls:
        typer.echo(
            "nothing to change: " + ", ".join(report.in_place) + " already as albca needs them"
        )
    for call in report.calls:
        typer.echo(f"{'would call' if dry_run else 'called'}: {call.describe()}")
    if dry_run and report.calls:
        typer.echo(f"dry run: {len(report.calls)} calls not made")
    if report.kms_keys and not dry_run:
        typer.echo(
            "next: albca init --key-store kms "
            f"--root-kms-key {report.kms_keys['root']} "
            f"--issuing-kms-key {report.kms_keys['issuing']}"
        )


@aws_app.command("check")
def check_command(
    region: RegionOption = None,
    table: TableOption = None,
    bucket: BucketOption = None,
    prefix: PrefixOption = None,
    kms_alias_prefix: KmsAliasOption = None,
    no_kms_keys: NoKmsOption = False,
) -> None:
    """Check, changing nothing, that the table, bucket and keys are as albca needs them.

    Fails with one line naming the first thing that is missing.
    """
    _require_aws()
    from albca.compose.aws import aws_clients
    from albca.infra.bootstrap import bootstrap

    settings = load_settings()
    spec = _spec(
        settings,
        region,
        table,
        bucket,
        prefix,
        [],
        None if no_kms_keys else kms_alias_prefix,
        use_kms=not no_kms_keys and kms_alias_prefix is not None,
    )
    report = bootstrap(spec, aws_clients(spec.region), mode="check")
    typer.echo("ready: " + ", ".join(report.in_place))


def _spec(
    settings: Settings,
    region: str | None,
    table: str | None,
    bucket: str | None,
    prefix: str | None,
    elb_accounts: list[str],
    kms_alias_prefix: str | None,
    *,
    use_kms: bool,
    key_spec: KeySpec | None = None,
) -> BootstrapSpec:
    from albca.ca.keys import KeySpec
    from albca.infra.bootstrap import BootstrapSpec

    resolved_region = region or settings.aws_region or _sdk_region()
    if resolved_region is None:
        fail("no AWS region: pass --region or set ALBCA_AWS_REGION")
    table = table or settings.dynamodb_table
    location = settings.publish_s3_location
    if bucket is None and location is not None:
        bucket, default_prefix = location
        prefix = default_prefix if prefix is None else prefix
    if table is None and bucket is None and not kms_alias_prefix:
        fail(
            "nothing to set up: give --table/--bucket, or set ALBCA_STORE=dynamodb://TABLE "
            "and ALBCA_PUBLISH_TO=s3://BUCKET/PREFIX"
        )
    if use_kms and kms_alias_prefix is None:
        # Table and bucket names may hold '.', which KMS alias names may not.
        kms_alias_prefix = "alias/albca/" + re.sub(r"[^A-Za-z0-9/_-]", "-", str(table or bucket))
    spec_key = key_spec or KeySpec.EC_P256
    try:
        return BootstrapSpec(
            region=resolved_region,
            table=table,
            bucket=bucket,
            prefix=(prefix or "").strip("/"),
            elb_accounts=tuple(elb_accounts),
            kms_alias_prefix=kms_alias_prefix,
            root_key=spec_key,
            issuing_key=spec_key,
        )
    except ValueError as exc:
        fail(str(exc))


def _require_aws() -> None:
    import importlib.util

    if not all(importlib.util.find_spec(name) for name in ("boto3", "pynamodb")):
        fail("albca aws needs the AWS libraries: pip install 'albca[aws]'")


def _sdk_region() -> str | None:
    import boto3

    region: str | None = boto3.session.Session().region_name
    return region
