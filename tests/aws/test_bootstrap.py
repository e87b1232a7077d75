"""infra.bootstrap against moto: it completes what is missing and leaves the rest alone."""

from __future__ import annotations

import json

import boto3
import pytest

from albca.ca.errors import ConfigurationError
from albca.ca.stores.dynamodb_models import table_definition
from albca.infra.bootstrap import BootstrapSpec, bootstrap
from albca.infra.clients import AwsClients
from tests.aws.moto_support import REGION

BUCKET = "albca-bootstrap-test"


def operations(report):
    return [call.operation for call in report.calls]


def test_a_table_made_without_the_safety_settings_gets_them(aws):
    boto3.client("dynamodb", region_name=REGION).create_table(**table_definition("plain"))
    report = bootstrap(BootstrapSpec(region=REGION, table="plain"), AwsClients(region=REGION))
    assert operations(report) == ["UpdateTable", "UpdateContinuousBackups", "UpdateTimeToLive"]
    again = bootstrap(BootstrapSpec(region=REGION, table="plain"), AwsClients(region=REGION))
    assert again.calls == []
    assert again.in_place == ["DynamoDB table plain"]


def test_a_foreign_table_of_the_same_name_is_refused(aws):
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName="theirs",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(ConfigurationError, match="'theirs' exists with another key schema"):
        bootstrap(BootstrapSpec(region=REGION, table="theirs"), AwsClients(region=REGION))


def test_ttl_on_another_attribute_is_refused(aws):
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(**table_definition("ttl"))
    dynamodb.update_time_to_live(
        TableName="ttl", TimeToLiveSpecification={"Enabled": True, "AttributeName": "gone_at"}
    )
    with pytest.raises(ConfigurationError, match="TTL on 'gone_at'"):
        bootstrap(BootstrapSpec(region=REGION, table="ttl"), AwsClients(region=REGION))


def test_check_names_the_missing_table_and_changes_nothing(aws):
    with pytest.raises(ConfigurationError, match="DynamoDB table 'absent' does not exist"):
        bootstrap(
            BootstrapSpec(region=REGION, table="absent"), AwsClients(region=REGION), mode="check"
        )
    assert boto3.client("dynamodb", region_name=REGION).list_tables()["TableNames"] == []


def test_bucket_policy_keeps_statements_that_are_not_albcas(aws):
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    foreign = {
        "Sid": "TheirAuditorReads",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
        "Action": "s3:ListBucket",
        "Resource": f"arn:aws:s3:::{BUCKET}",
    }
    s3.put_bucket_policy(
        Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [foreign]})
    )
    spec = BootstrapSpec(region=REGION, bucket=BUCKET, prefix="pki")
    report = bootstrap(spec, AwsClients(region=REGION))
    assert "CreateBucket" not in operations(report)
    statements = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"]
    assert statements[0] == foreign
    assert [s["Sid"] for s in statements[1:]] == [
        "AlbcaElasticLoadBalancingReadsBundleAndCrls",
        "AlbcaDenyInsecureTransport",
    ]
    assert bootstrap(spec, AwsClients(region=REGION)).calls == []


def test_an_existing_key_alias_of_the_wrong_usage_is_refused(kms_standin):
    kms = boto3.client("kms", region_name=REGION)
    key = kms.create_key(KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/albca/x/root", TargetKeyId=key)
    spec = BootstrapSpec(region=REGION, kms_alias_prefix="alias/albca/x")
    with pytest.raises(Exception, match="KeyUsage ENCRYPT_DECRYPT"):
        bootstrap(spec, AwsClients(region=REGION))


def test_spec_refuses_an_account_that_is_not_twelve_digits():
    with pytest.raises(ValueError, match="12-digit"):
        BootstrapSpec(region=REGION, bucket=BUCKET, elb_accounts=("1234",))


def test_spec_refuses_alias_names_kms_refuses():
    with pytest.raises(ValueError, match="not a KMS alias name"):
        BootstrapSpec(region=REGION, kms_alias_prefix="alias/albca/prod.v2")
    with pytest.raises(ValueError, match="reserved"):
        BootstrapSpec(region=REGION, kms_alias_prefix="alias/aws/albca")


def test_point_in_time_recovery_waits_out_a_brand_new_table(aws, monkeypatch):
    """DynamoDB refuses PITR for a few minutes after CreateTable; bootstrap waits."""
    import albca.infra.bootstrap as module

    monkeypatch.setattr(module, "_PITR_DELAY_SECONDS", 0)
    clients = AwsClients(region=REGION)
    refusals = []
    original = clients.client("dynamodb").update_continuous_backups

    def update_continuous_backups(**params):
        if len(refusals) < 2:
            refusals.append(params)
            raise clients.client("dynamodb").exceptions.ContinuousBackupsUnavailableException(
                {"Error": {"Code": "ContinuousBackupsUnavailableException", "Message": "wait"}},
                "UpdateContinuousBackups",
            )
        return original(**params)

    monkeypatch.setattr(
        clients.client("dynamodb"), "update_continuous_backups", update_continuous_backups
    )
    bootstrap(BootstrapSpec(region=REGION, table="fresh"), clients)
    assert len(refusals) == 2
    backups = boto3.client("dynamodb", region_name=REGION).describe_continuous_backups(
        TableName="fresh"
    )
    description = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert description["PointInTimeRecoveryStatus"] == "ENABLED"


TRUST_STORE_ADMIN = "arn:aws:iam::210987654321:role/trust-store-admin"


def test_reader_principals_may_read_the_bundle_and_crls_besides_the_elb_role(aws):
    """The CloudFormation trust store schemas give the caller s3:GetObject(Version); the seed
    article the ELB service-linked role: both are granted (AWS_NOTES, "Trust stores")."""
    from typer.testing import CliRunner

    from albca.cli.app import app

    args = ["aws", "bootstrap", "--region", REGION, "--bucket", BUCKET, "--prefix", "pki",
            "--no-kms-keys", "--reader-principal", TRUST_STORE_ADMIN]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"ALBCA_HOME": "/nonexistent-albca-home"})
    assert result.exit_code == 0, result.output
    s3 = boto3.client("s3", region_name=REGION)
    statements = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"]
    by_sid = {s["Sid"]: s for s in statements}
    callers = by_sid["AlbcaTrustStoreCallersReadBundleAndCrls"]
    assert callers["Principal"] == {"AWS": [TRUST_STORE_ADMIN]}
    assert callers["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert callers["Resource"] == f"arn:aws:s3:::{BUCKET}/pki/*"
    elb = by_sid["AlbcaElasticLoadBalancingReadsBundleAndCrls"]
    assert elb["Condition"]["ArnEquals"]["aws:PrincipalArn"][0].endswith(
        ":role/aws-service-role/elasticloadbalancing.amazonaws.com/"
        "AWSServiceRoleForElasticLoadBalancing"
    )
    again = CliRunner().invoke(app, args, env={"ALBCA_HOME": "/nonexistent-albca-home"})
    assert "nothing to change" in again.output


def test_a_reader_principal_that_is_not_an_iam_arn_is_refused(aws):
    from typer.testing import CliRunner

    from albca.cli.app import app

    args = ["aws", "bootstrap", "--region", REGION, "--bucket", BUCKET, "--no-kms-keys",
            "--reader-principal", "trust-store-admin"]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"ALBCA_HOME": "/nonexistent-albca-home"})
    assert result.exit_code == 1
    assert "--reader-principal: 'trust-store-admin' is not an IAM principal ARN" in result.output
    assert boto3.client("s3", region_name=REGION).list_buckets()["Buckets"] == []
