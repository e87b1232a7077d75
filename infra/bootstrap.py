"""``albca aws bootstrap``: what a serverless CA needs in one account and region.

- the DynamoDB table of ``ca.stores.dynamodb_models`` (on-demand, deletion protection, point-in-
  time recovery, TTL on ``expires_at``). It is all the HTTP API needs too: its tokens,
  idempotency keys and used renewal tokens are items of the same table, with no index of
  their own, aged out by the same TTL (``api.stores.dynamodb_models``);
- the S3 bucket relying parties read the CA bundle and CRLs from (versioning, default
  encryption SSE-S3, public access blocked, a policy letting Elastic Load Balancing read
  the published objects, also from other accounts, and the principals that create and
  modify trust stores and add their revocations: ``bucket_policy`` says why both);
- the two KMS keys of the CA (root and issuing), found again by their aliases.

Every step reads the current state first and makes only the calls that are missing, so a
second run makes none and says so. ``mode="plan"`` (``--dry-run``) makes the same reads
and lists the calls it would make without making them; ``mode="check"`` fails on the
first thing that is missing (``albca aws check``). boto3 clients come from the
``AwsClients`` it is given; nothing is made at import time. A resource that is missing (in check
mode) or exists in a shape albca cannot use is a ``ConfigurationError`` naming it; AWS
errors become the same, naming the refused operation.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from albca.ca.aws_errors import AwsFailure, aws_errors, aws_failure
from albca.ca.errors import ConfigurationError
from albca.ca.keys import KeySpec
from albca.ca.kms_signer import KmsSigner, create_key_request
from albca.ca.stores.dynamodb_models import TTL_ATTRIBUTE, index_names, table_definition

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_kms.client import KMSClient
    from mypy_boto3_s3.client import S3Client

    from albca.infra.clients import AwsClients

__all__ = [
    "AwsCall",
    "BootstrapReport",
    "BootstrapSpec",
    "Mode",
    "bootstrap",
    "bucket_policy",
    "elb_role_arn",
]

Mode = Literal["apply", "plan", "check"]

_ELB_ROLE = (
    "role/aws-service-role/elasticloadbalancing.amazonaws.com/AWSServiceRoleForElasticLoadBalancing"
)
_POLICY_SID_PREFIX = "Albca"
_ACCOUNT = 12  # digits in an AWS account id
_ALIAS = re.compile(r"^alias/[A-Za-z0-9/_-]+$")  # AWS KMS API reference, CreateAlias
# An IAM role, user or account root ARN (IAM User Guide, "IAM identifiers": ARNs), the
# principals a bucket policy can name.
_PRINCIPAL = re.compile(
    r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:(root|(role|user)/[\w+=,.@/-]{1,512})$"
)
# Point-in-time recovery cannot be turned on during the first minutes of a new table
# (ContinuousBackupsUnavailableException): wait this long, then ask for a re-run.
_PITR_ATTEMPTS = 12
_PITR_DELAY_SECONDS = 5.0


@dataclass(frozen=True)
class BootstrapSpec:
    region: str
    table: str | None = None
    bucket: str | None = None
    prefix: str = ""  # where the bundle and CRLs go in the bucket ("" = the whole bucket)
    # Accounts whose load balancers load the bundle and CRLs, besides this one.
    elb_accounts: tuple[str, ...] = ()
    # IAM principals (role, user or account root ARNs) that call CreateTrustStore,
    # ModifyTrustStore and AddTrustStoreRevocations with the bundle and CRLs.
    reader_principals: tuple[str, ...] = ()
    kms_alias_prefix: str | None = None  # e.g. alias/albca/prod -> .../root, .../issuing
    root_key: KeySpec = KeySpec.EC_P256
    issuing_key: KeySpec = KeySpec.EC_P256

    def __post_init__(self) -> None:
        for account in self.elb_accounts:
            if not (account.isdigit() and len(account) == _ACCOUNT):
                raise ValueError(f"elb_accounts: {account!r} is not a 12-digit account id")
        for principal in self.reader_principals:
            if not _PRINCIPAL.match(principal):
                raise ValueError(
                    f"--reader-principal: {principal!r} is not an IAM principal ARN "
                    "(arn:aws:iam::ACCOUNT:role/NAME, :user/NAME or :root)"
                )
        alias = self.kms_alias_prefix
        if alias is not None and (not _ALIAS.match(alias) or alias.startswith("alias/aws/")):
            raise ValueError(
                f"kms_alias_prefix: {alias!r} is not a KMS alias name (alias/ then letters, "
                "digits, '/', '_', '-'; alias/aws/ is reserved)"
            )


@dataclass(frozen=True)
class AwsCall:
    """One call that changes something: the service, the operation, its parameters."""

    service: str
    operation: str
    parameters: dict[str, Any]
    why: str

    def describe(self) -> str:
        return (
            f"{self.service} {self.operation} "
            f"{json.dumps(self.parameters, sort_keys=True, default=str)}"
        )


@dataclass
class BootstrapReport:
    mode: Mode
    calls: list[AwsCall] = field(default_factory=list)
    in_place: list[str] = field(default_factory=list)  # what was already as required
    kms_keys: dict[str, str] = field(default_factory=dict)  # role -> alias

    @property
    def changed(self) -> bool:
        return bool(self.calls)


class _Calls:
    """Makes (apply), lists (plan) or refuses (check) each call that would change AWS."""

    def __init__(self, report: BootstrapReport) -> None:
        self.report = report

    def make(
        self, service: str, operation: str, call: Callable[..., Any], why: str, **params: Any
    ) -> Any:
        self.report.calls.append(AwsCall(service, operation, params, why))
        if self.report.mode == "check":
            raise ConfigurationError(f"{why}; run `albca aws bootstrap`", setting=service)
        if self.report.mode == "plan":
            return None
        return call(**params)

    @property
    def applying(self) -> bool:
        return self.report.mode == "apply"


def bootstrap(spec: BootstrapSpec, clients: AwsClients, *, mode: Mode = "apply") -> BootstrapReport:
    """Bring the table, the bucket and the keys to what albca needs; see the module doc."""
    report = BootstrapReport(mode=mode)
    calls = _Calls(report)
    with aws_errors(_refused):
        if spec.table is not None:
            _ensure_table(spec.table, clients.client("dynamodb"), calls)
        if spec.bucket is not None:
            account = clients.client("sts").get_caller_identity()["Account"]
            _ensure_bucket(spec, account, clients.client("s3"), calls)
        if spec.kms_alias_prefix is not None:
            _ensure_keys(spec, clients.client("kms"), calls)
    return report


def _refused(failure: AwsFailure) -> ConfigurationError:
    if not failure.answered:
        return ConfigurationError(f"cannot reach AWS: {failure.message}", setting="aws")
    return ConfigurationError(
        f"AWS refused {failure.operation}: {failure.describe()}", setting="aws"
    )


# -- DynamoDB ------------------------------------------------------------------------
def _ensure_table(table: str, dynamodb: DynamoDBClient, calls: _Calls) -> None:
    before = len(calls.report.calls)
    try:
        description: Any = dynamodb.describe_table(TableName=table)["Table"]
    except dynamodb.exceptions.ResourceNotFoundException:
        description = None
    if description is None:
        calls.make(
            "dynamodb",
            "CreateTable",
            dynamodb.create_table,
            f"the DynamoDB table {table!r} does not exist",
            **table_definition(table),
            DeletionProtectionEnabled=True,
        )
        if calls.applying:
            dynamodb.get_waiter("table_exists").wait(
                TableName=table, WaiterConfig={"Delay": 2, "MaxAttempts": 90}
            )
        point_in_time = ttl = False
    else:
        _check_table_shape(table, description)
        if not description.get("DeletionProtectionEnabled"):
            calls.make(
                "dynamodb",
                "UpdateTable",
                dynamodb.update_table,
                f"the DynamoDB table {table!r} has no deletion protection",
                TableName=table,
                DeletionProtectionEnabled=True,
            )
        backups = dynamodb.describe_continuous_backups(TableName=table)
        recovery = backups["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
        point_in_time = recovery.get("PointInTimeRecoveryStatus") == "ENABLED"
        ttl_description = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        ttl_status = ttl_description.get("TimeToLiveStatus")
        ttl_attribute = ttl_description.get("AttributeName")
        if ttl_status in ("ENABLED", "ENABLING") and ttl_attribute != TTL_ATTRIBUTE:
            raise ConfigurationError(
                f"the DynamoDB table {table!r} has TTL on {ttl_attribute!r}; albca ages "
                f"records out by {TTL_ATTRIBUTE!r}",
                setting="ALBCA_STORE",
            )
        ttl = ttl_status in ("ENABLED", "ENABLING")
    if not point_in_time:

        def enable_point_in_time_recovery(**params: Any) -> Any:
            for _attempt in range(_PITR_ATTEMPTS - 1):
                try:
                    return dynamodb.update_continuous_backups(**params)
                except dynamodb.exceptions.ContinuousBackupsUnavailableException:
                    time.sleep(_PITR_DELAY_SECONDS)
            try:
                return dynamodb.update_continuous_backups(**params)
            except dynamodb.exceptions.ContinuousBackupsUnavailableException as exc:
                raise ConfigurationError(
                    f"the new DynamoDB table {table!r} cannot take point-in-time recovery "
                    "yet; run `albca aws bootstrap` again in a few minutes to finish",
                    setting="ALBCA_STORE",
                ) from exc

        calls.make(
            "dynamodb",
            "UpdateContinuousBackups",
            enable_point_in_time_recovery,
            f"the DynamoDB table {table!r} has no point-in-time recovery",
            TableName=table,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )
    if not ttl:
        calls.make(
            "dynamodb",
            "UpdateTimeToLive",
            dynamodb.update_time_to_live,
            f"the DynamoDB table {table!r} does not age out expired records, idempotency "
            "keys and used renewal tokens (TTL)",
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
    if description is not None and len(calls.report.calls) == before:
        calls.report.in_place.append(f"DynamoDB table {table}")


def _check_table_shape(table: str, description: Any) -> None:
    keys = {key["AttributeName"]: key["KeyType"] for key in description["KeySchema"]}
    if keys != {"pk": "HASH", "sk": "RANGE"}:
        raise ConfigurationError(
            f"the DynamoDB table {table!r} exists with another key schema; albca needs "
            "pk (HASH) and sk (RANGE). Choose another table name",
            setting="ALBCA_STORE",
        )
    present = {index["IndexName"] for index in description.get("GlobalSecondaryIndexes", [])}
    missing = sorted(index_names() - present)
    if missing:
        raise ConfigurationError(
            f"the DynamoDB table {table!r} exists without the indexes {', '.join(missing)}; "
            "albca does not alter a table it did not make. Choose another table name",
            setting="ALBCA_STORE",
        )


# -- S3 ------------------------------------------------------------------------------
def elb_role_arn(account: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account}:{_ELB_ROLE}"


def bucket_policy(
    bucket: str,
    prefix: str,
    accounts: list[str],
    partition: str = "aws",
    readers: tuple[str, ...] | list[str] = (),
) -> list[dict[str, Any]]:
    """albca's statements in the bucket policy.

    Who reads the bundle and the CRLs is not settled by one document, so both kinds of
    principal may (AWS_NOTES, "Trust stores"):
    - the seed article grants the service-linked role ``AWSServiceRoleForElasticLoadBalancing``
      of the account that owns the load balancer. The statement names each account as
      principal and the role by ``aws:PrincipalArn``: a policy that named a role not yet
      created (an account that never made a load balancer) would be refused as malformed;
    - the CloudFormation resource schemas of ``AWS::ElasticLoadBalancingV2::TrustStore`` and
      ``::TrustStoreRevocation`` list ``s3:GetObject`` and ``s3:GetObjectVersion`` among the
      permissions of the principal that calls CreateTrustStore, ModifyTrustStore and
      AddTrustStoreRevocations: ``readers``, named as principals (they must exist).
    Versions are readable too, as trust stores load a pinned ``S3ObjectVersion``.
    """
    objects = f"arn:{partition}:s3:::{bucket}/{prefix.strip('/') + '/' if prefix else ''}*"
    callers: list[dict[str, Any]] = []
    if readers:
        callers.append(
            {
                "Sid": f"{_POLICY_SID_PREFIX}TrustStoreCallersReadBundleAndCrls",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(set(readers))},
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": objects,
            }
        )
    return [
        *callers,
        {
            "Sid": f"{_POLICY_SID_PREFIX}ElasticLoadBalancingReadsBundleAndCrls",
            "Effect": "Allow",
            "Principal": {"AWS": [f"arn:{partition}:iam::{a}:root" for a in sorted(accounts)]},
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": objects,
            "Condition": {
                "ArnEquals": {
                    "aws:PrincipalArn": [elb_role_arn(a, partition) for a in sorted(accounts)]
                }
            },
        },
        {
            "Sid": f"{_POLICY_SID_PREFIX}DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:{partition}:s3:::{bucket}", f"arn:{partition}:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ]


def _ensure_bucket(spec: BootstrapSpec, account: str, s3: S3Client, calls: _Calls) -> None:
    bucket = spec.bucket
    assert bucket is not None
    before = len(calls.report.calls)
    exists = _bucket_exists(bucket, s3)
    if not exists:
        params: dict[str, Any] = {"Bucket": bucket}
        if spec.region != "us-east-1":  # us-east-1 takes no LocationConstraint
            params["CreateBucketConfiguration"] = {"LocationConstraint": spec.region}
        calls.make(
            "s3",
            "CreateBucket",
            s3.create_bucket,
            f"the S3 bucket {bucket!r} does not exist",
            **params,
        )
    versioned = exists and s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"
    if not versioned:
        calls.make(
            "s3",
            "PutBucketVersioning",
            s3.put_bucket_versioning,
            f"the S3 bucket {bucket!r} is not versioned",
            Bucket=bucket,
            VersioningConfiguration={"Status": "Enabled"},
        )
    if not (exists and _bucket_encrypted(bucket, s3)):
        calls.make(
            "s3",
            "PutBucketEncryption",
            s3.put_bucket_encryption,
            f"the S3 bucket {bucket!r} has no default encryption",
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                # SSE-S3: load balancers read the objects without a KMS grant.
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
    if not (exists and _public_access_blocked(bucket, s3)):
        calls.make(
            "s3",
            "PutPublicAccessBlock",
            s3.put_public_access_block,
            f"the S3 bucket {bucket!r} does not block public access",
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
    current = _bucket_policy_statements(bucket, s3) if exists else []
    accounts = sorted({account, *spec.elb_accounts})
    ours = bucket_policy(bucket, spec.prefix, accounts, readers=spec.reader_principals)
    others = [s for s in current if not str(s.get("Sid", "")).startswith(_POLICY_SID_PREFIX)]
    wanted = others + ours
    if wanted != current:
        calls.make(
            "s3",
            "PutBucketPolicy",
            s3.put_bucket_policy,
            f"the S3 bucket {bucket!r} does not let Elastic Load Balancing read the bundle",
            Bucket=bucket,
            Policy=json.dumps({"Version": "2012-10-17", "Statement": wanted}),
        )
    if exists and len(calls.report.calls) == before:
        calls.report.in_place.append(f"S3 bucket {bucket}")


def _bucket_exists(bucket: str, s3: S3Client) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = _code(exc)
        if code in ("404", "NoSuchBucket", "NotFound"):
            return False
        if code in ("403", "AccessDenied", "Forbidden"):
            raise ConfigurationError(
                f"the S3 bucket {bucket!r} exists but this account cannot use it (bucket "
                "names are global: it may belong to another account)",
                setting="ALBCA_PUBLISH_TO",
            ) from exc
        raise
    return True


def _bucket_encrypted(bucket: str, s3: S3Client) -> bool:
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    except ClientError as exc:
        if _code(exc) == "ServerSideEncryptionConfigurationNotFoundError":
            return False
        raise
    return any(rule.get("ApplyServerSideEncryptionByDefault") for rule in rules["Rules"])


def _public_access_blocked(bucket: str, s3: S3Client) -> bool:
    try:
        block: Any = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except ClientError as exc:
        if _code(exc) == "NoSuchPublicAccessBlockConfiguration":
            return False
        raise
    names = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    return all(block.get(name) for name in names)


def _bucket_policy_statements(bucket: str, s3: S3Client) -> list[dict[str, Any]]:
    try:
        policy = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    except ClientError as exc:
        if _code(exc) == "NoSuchBucketPolicy":
            return []
        raise
    statements: list[dict[str, Any]] = json.loads(policy).get("Statement", [])
    return statements


# -- KMS -----------------------------------------------------------------------------
def _ensure_keys(spec: BootstrapSpec, kms: KMSClient, calls: _Calls) -> None:
    assert spec.kms_alias_prefix is not None
    for role, key_spec in (("root", spec.root_key), ("issuing", spec.issuing_key)):
        alias = f"{spec.kms_alias_prefix.rstrip('/')}/{role}"
        calls.report.kms_keys[role] = alias
        try:
            kms.describe_key(KeyId=alias)
        except kms.exceptions.NotFoundException:
            created = calls.make(
                "kms",
                "CreateKey",
                kms.create_key,
                f"the KMS key {alias} does not exist",
                **create_key_request(
                    key_spec, description=f"albca {role} CA key ({alias})", role=role
                ),
            )
            key_id = created["KeyMetadata"]["KeyId"] if created else f"<the new {role} key>"
            calls.make(
                "kms",
                "CreateAlias",
                kms.create_alias,
                f"the KMS alias {alias} does not exist",
                AliasName=alias,
                TargetKeyId=key_id,
            )
            continue
        KmsSigner(kms, alias)  # usable as a CA key: SIGN_VERIFY, a known spec, Enabled
        calls.report.in_place.append(f"KMS key {alias}")


def _code(exc: ClientError) -> str:
    failure = aws_failure(exc)
    return failure.code if failure is not None else ""
