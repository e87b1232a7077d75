"""``albca aws bootstrap`` and ``albca aws check``: the AWS side of a serverless CA."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from albca.ca.errors import CAError
from albca.cli.context import load_settings
from albca.cli.errors import fail
from albca.cli.output import emit_fields, emit_json

if TYPE_CHECKING:
    from albca.ca.keys import KeySpec
    from albca.infra.bootstrap import BootstrapSpec
    from albca.infra.deploy.spec import DeploySpec
    from albca.infra.deploy.status import DeploymentStatus
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
    json_output: JsonOption = False,
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
    if json_output:
        emit_json({"ready": True, "region": spec.region, "in_place": report.in_place})
        return
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


# -- albca aws deploy / status / undeploy / policy ---------------------------------------

NameOption = Annotated[
    str | None,
    typer.Option(
        "--name",
        help="Deployment name (1-20 of a-z, 0-9, '-'): resources are albca-NAME-... "
        "Default: from the table name.",
    ),
]


def _deploy_spec(
    region: str | None,
    name: str | None,
    *,
    read_store: bool = True,
    **options: object,
) -> DeploySpec:
    from albca.compose.deploy import deploy_spec
    from albca.compose.services import open_store

    settings = load_settings()
    resolved = region or settings.aws_region or _sdk_region()
    if resolved is None:
        fail("no AWS region: pass --region or set ALBCA_AWS_REGION")
    if settings.dynamodb_table is None:
        fail(
            "albca aws deploy runs the CA on Lambda with its records in DynamoDB: set "
            "ALBCA_STORE=dynamodb://TABLE (albca aws bootstrap makes the table)"
        )
    store = open_store(settings) if read_store else None
    try:
        return deploy_spec(settings, store, region=resolved, name=name, **options)  # type: ignore[arg-type]
    finally:
        if store is not None:
            store.close()


@aws_app.command("deploy")
def deploy_command(
    region: RegionOption = None,
    name: NameOption = None,
    front_door: Annotated[
        str,
        typer.Option(
            help="How requests reach the API: url (a Lambda function URL), http-api (an API "
            "Gateway HTTP API) or alb (a rule on an existing ALB listener: --listener)."
        ),
    ] = "url",
    listener: Annotated[
        str | None, typer.Option(help="The ALB listener ARN (--front-door alb).")
    ] = None,
    path: Annotated[
        str, typer.Option(help="The listener rule's path pattern (--front-door alb).")
    ] = "/v1/*",
    schedule: Annotated[
        str, typer.Option(help="When maintenance runs: an EventBridge Scheduler expression.")
    ] = "rate(1 hour)",
    notify_email: Annotated[
        list[str] | None,
        typer.Option(help="Subscribe this address to the notices topic (repeatable)."),
    ] = None,
    architecture: Annotated[str, typer.Option(help="x86_64 or arm64.")] = "arm64",
    memory: Annotated[int, typer.Option(help="Memory of each function, MB.")] = 512,
    wheel: Annotated[
        Path | None,
        typer.Option(help="albca's wheel (default: built from the installed source)."),
    ] = None,
    find_links: Annotated[
        list[Path] | None,
        typer.Option(help="A folder of wheels pip may take dependencies from (repeatable)."),
    ] = None,
    no_index: Annotated[
        bool, typer.Option("--no-index", help="Take every wheel from --find-links.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Build the package, read AWS, print the calls; make none."),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Deploy the CA on Lambda: the API and maintenance functions, their IAM roles, the
    API's front door and the maintenance schedule. A rerun changes nothing."""
    import tempfile

    _require_aws()
    from albca.cli.progress import progress_line
    from albca.compose.deploy import build_albca_package, deploy_ca

    if front_door not in ("url", "http-api", "alb"):
        fail(f"--front-door {front_door!r}: url, http-api or alb")
    spec = _deploy_spec(
        region,
        name,
        front_door=front_door,
        listener_arn=listener,
        path_pattern=path,
        schedule=schedule,
        notify_emails=notify_email or [],
        architecture=architecture,
        memory_mb=memory,
    )
    with (
        tempfile.TemporaryDirectory(prefix="albca-deploy-") as scratch,
        progress_line(json_output=json_output) as progress,
    ):
        progress.start("building the Lambda package")
        package = build_albca_package(
            Path(scratch) / "albca-lambda.zip",
            architecture=spec.architecture,
            find_links=find_links or [],
            no_index=no_index,
            wheel=wheel,
        )
        progress.start(f"deploying {spec.name} to {spec.region}")
        aws, deployed = deploy_ca(spec, package, dry_run=dry_run, progress=progress)
    if json_output:
        emit_json(
            {
                "dry_run": dry_run,
                "changed": aws.changed,
                "calls": [action.describe() for action in aws.actions],
                "package": {
                    "zipped_bytes": package.zipped_bytes,
                    "unzipped_bytes": package.unzipped_bytes,
                    "code_sha256": package.code_sha256,
                },
                "functions": deployed.functions,
                "endpoint": deployed.endpoint,
                "target_group_arn": deployed.target_group_arn,
                "topic_arn": deployed.topic_arn,
                "notes": aws.notes,
            }
        )
        return
    typer.echo(package.summary())
    for action in aws.actions:
        typer.echo(f"{'would call' if dry_run else 'called'}: {action.describe()}")
    if not aws.actions:
        typer.echo(f"nothing to change: deployment {spec.name} is as asked")
    elif dry_run:
        typer.echo(f"dry run: {len(aws.actions)} calls not made")
    for note in aws.notes:
        typer.echo(f"note: {note}")
    if deployed.endpoint:
        typer.echo(f"endpoint: {deployed.endpoint}")


@aws_app.command("status")
def status_command(
    region: RegionOption = None, name: NameOption = None, json_output: JsonOption = False
) -> None:
    """What is deployed: functions and their version, front door, schedule and the next
    run, the last maintenance run from the audit trail."""
    from datetime import UTC, datetime

    _require_aws()
    from albca.compose.aws import aws_clients
    from albca.compose.deploy import last_maintenance
    from albca.compose.services import open_store
    from albca.infra.calls import Aws
    from albca.infra.deploy.status import deployment_status

    spec = _deploy_spec(region, name, read_store=False)
    status = deployment_status(Aws(aws_clients(spec.region)), spec, datetime.now(UTC))
    try:
        store = open_store(load_settings())
        try:
            last = last_maintenance(store)
        finally:
            store.close()
    except CAError as exc:
        last = f"unknown ({exc})"
    if json_output:
        emit_json({**status.to_json(), "last_maintenance": last})
        return
    if not status.deployed:
        typer.echo(f"deployment {spec.name}: not deployed in {spec.region} (albca aws deploy)")
        return
    fields: list[tuple[str, object]] = [("deployment", f"{spec.name} in {spec.region}")]
    for role, function in status.functions.items():
        fields.append(
            (
                f"{role} function",
                f"{function.name} albca {function.version or '?'} ({function.state}, "
                f"updated {function.last_modified})",
            )
        )
    fields += [
        ("endpoint", status.endpoint or status.target_group_arn or "none"),
        ("schedule", f"{status.schedule or 'none'} ({status.schedule_state or '-'})"),
        ("next run", _next_run_text(status)),
        ("last maintenance", last or "none recorded"),
        ("notices", ", ".join(status.subscriptions) or status.topic_arn or "none"),
    ]
    emit_fields(fields)


def _next_run_text(status: DeploymentStatus) -> str:
    if status.next_run is not None:
        return status.next_run.isoformat()
    if status.next_run_unknown is not None:
        return f"cannot tell: {status.next_run_unknown}"
    return "-"


@aws_app.command("undeploy")
def undeploy_command(
    region: RegionOption = None,
    name: NameOption = None,
    delete_data: Annotated[
        bool,
        typer.Option(
            "--delete-data",
            help="Also delete the table, the bucket (every version) and schedule the CA's KMS "
            "keys for deletion. Needs --yes.",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm --delete-data.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the calls that would be made; make none.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Remove what albca aws deploy made (found by name and its albca:deployment tag). The
    table, bucket and keys stay unless --delete-data --yes."""
    _require_aws()
    from albca.compose.deploy import undeploy_ca
    from albca.infra.deploy.remove import DataToDelete

    if delete_data and not yes and not dry_run:
        fail("--delete-data deletes the CA's records, bundle, CRLs and keys: add --yes")
    spec = _deploy_spec(region, name, read_store=delete_data)
    data = (
        DataToDelete(table=spec.table, bucket=spec.bucket, kms_keys=spec.kms_keys)
        if delete_data
        else None
    )
    aws = undeploy_ca(spec, data=data, dry_run=dry_run)
    if json_output:
        from albca.cli.aws_context import report

        gone = "to be removed" if dry_run else "removed"
        report(aws, f"deployment {spec.name} in {spec.region}: {gone}", json_output=True)
        return
    for action in aws.actions:
        typer.echo(f"{'would call' if dry_run else 'called'}: {action.describe()}")
    if not aws.actions:
        typer.echo(f"nothing to remove: deployment {spec.name} is not in {spec.region}")


@aws_app.command("policy")
def policy_command(
    for_: Annotated[str, typer.Option("--for", help="api, maintenance or operator.")] = "api",
    region: RegionOption = None,
    name: NameOption = None,
    account: Annotated[
        str | None,
        typer.Option(help="The account id (default: the caller's, from STS)."),
    ] = None,
    front_door: Annotated[str, typer.Option(help="url, http-api or alb.")] = "url",
    notify_email: Annotated[list[str] | None, typer.Option(help="As for deploy.")] = None,
) -> None:
    """Print the IAM policy a function (or the operator running deploy) gets, as JSON."""
    _require_aws()
    from albca.infra.deploy.policies import policy_for
    from albca.infra.deploy.spec import Account

    if for_ not in ("api", "maintenance", "operator"):
        fail(f"--for {for_!r}: api, maintenance or operator")
    if front_door not in ("url", "http-api", "alb"):
        fail(f"--front-door {front_door!r}: url, http-api or alb")
    spec = _deploy_spec(
        region,
        name,
        front_door=front_door,
        listener_arn="arn:aws:elasticloadbalancing:::listener/app/-"
        if front_door == "alb"
        else None,
        notify_emails=notify_email or [],
    )
    if account is None:
        from albca.compose.aws import aws_clients
        from albca.infra.calls import Aws
        from albca.infra.deploy.lookup import account_of

        where = account_of(Aws(aws_clients(spec.region)), spec.region)
    else:
        where = Account("aws", account, spec.region)
    emit_json(policy_for(for_, spec, where))
