"""The serverless CA from the command line, under moto: bootstrap, init, issue, revoke, CRL,
with records in DynamoDB and keys in KMS (signing through the KMS stand-in)."""

from __future__ import annotations

import json

import boto3
import pytest
from cryptography import x509
from typer.testing import CliRunner

from albca.cli.app import app
from tests.aws.kms_standin import kms_stand_in
from tests.aws.moto_support import REGION, clean_aws_environment, mocked_aws

TABLE = "albca-cli"
BUCKET = "albca-cli-bundles"
ROOT_ALIAS = f"alias/albca/{TABLE}/root"
ISSUING_ALIAS = f"alias/albca/{TABLE}/issuing"
OTHER_ACCOUNT = "210987654321"


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A serverless configuration: no CA home on disk, AWS under moto."""
    clean_aws_environment(monkeypatch)
    for name in list(__import__("os").environ):
        if name.startswith("ALBCA_"):
            monkeypatch.delenv(name)
    home = tmp_path / "no-home"
    monkeypatch.setenv("ALBCA_HOME", str(home))
    monkeypatch.setenv("ALBCA_STORE", f"dynamodb://{TABLE}")
    monkeypatch.setenv("ALBCA_AWS_REGION", REGION)
    monkeypatch.setenv("ALBCA_PUBLISH_TO", f"s3://{BUCKET}/pki")
    with mocked_aws(), kms_stand_in() as stand_in:
        yield {"home": home, "tmp": tmp_path, "kms": stand_in}


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def ok(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result.output


def one_line_error(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("albca: error: ")
    assert "Traceback" not in result.output
    return lines[0]


def test_bootstrap_dry_run_prints_the_calls_and_makes_none(env):
    output = ok("aws", "bootstrap", "--dry-run")
    for call in (
        "would call: dynamodb CreateTable",
        "dynamodb UpdateContinuousBackups",
        "dynamodb UpdateTimeToLive",
        "would call: s3 CreateBucket",
        "s3 PutBucketVersioning",
        "s3 PutBucketEncryption",
        "s3 PutPublicAccessBlock",
        "s3 PutBucketPolicy",
        "kms CreateKey",
        f'kms CreateAlias {{"AliasName": "{ROOT_ALIAS}"',
    ):
        assert call in output
    assert '"DeletionProtectionEnabled": true' in output
    assert boto3.client("dynamodb", region_name=REGION).list_tables()["TableNames"] == []
    assert boto3.client("s3", region_name=REGION).list_buckets()["Buckets"] == []
    assert boto3.client("kms", region_name=REGION).list_keys()["Keys"] == []


def test_bootstrap_creates_what_a_serverless_ca_needs_then_changes_nothing(env):
    first = ok("aws", "bootstrap")
    assert "called: dynamodb CreateTable" in first
    assert f"next: albca init --key-store kms --root-kms-key {ROOT_ALIAS}" in first

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    table = dynamodb.describe_table(TableName=TABLE)["Table"]
    assert table["DeletionProtectionEnabled"] is True
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} >= {
        "status-expiry",
        "revoked-by-issuer",
    }
    backups = dynamodb.describe_continuous_backups(TableName=TABLE)
    recovery = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert recovery["PointInTimeRecoveryStatus"] == "ENABLED"
    ttl = dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")

    s3 = boto3.client("s3", region_name=REGION)
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    (allow,) = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert allow["Resource"] == f"arn:aws:s3:::{BUCKET}/pki/*"
    assert "s3:GetObjectVersion" in allow["Action"]
    assert allow["Condition"]["ArnEquals"]["aws:PrincipalArn"] == [
        "arn:aws:iam::123456789012:role/aws-service-role/elasticloadbalancing.amazonaws.com/"
        "AWSServiceRoleForElasticLoadBalancing"
    ]

    kms = boto3.client("kms", region_name=REGION)
    for alias in (ROOT_ALIAS, ISSUING_ALIAS):
        metadata = kms.describe_key(KeyId=alias)["KeyMetadata"]
        assert (metadata["KeyUsage"], metadata["KeySpec"]) == ("SIGN_VERIFY", "ECC_NIST_P256")

    again = ok("aws", "bootstrap")
    assert again.startswith("nothing to change: DynamoDB table albca-cli, S3 bucket")
    assert "called:" not in again
    assert len(kms.list_keys()["Keys"]) == 2
    assert ok("aws", "check").startswith("ready: ")
    checked = json.loads(ok("aws", "check", "--json"))
    assert checked["ready"] is True
    assert checked["region"] == REGION
    assert any(TABLE in thing for thing in checked["in_place"])


def test_bootstrap_lets_another_accounts_load_balancers_read(env):
    ok("aws", "bootstrap")
    output = ok("aws", "bootstrap", "--elb-account", OTHER_ACCOUNT)
    assert [line.split(" {")[0] for line in output.splitlines() if line.startswith("called")] == [
        "called: s3 PutBucketPolicy"
    ]
    s3 = boto3.client("s3", region_name=REGION)
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    (allow,) = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert f"arn:aws:iam::{OTHER_ACCOUNT}:root" in allow["Principal"]["AWS"]
    assert any(OTHER_ACCOUNT in arn for arn in allow["Condition"]["ArnEquals"]["aws:PrincipalArn"])


def test_serverless_ca_issues_revokes_and_signs_crls_with_no_local_state(env):
    ok("aws", "bootstrap")
    init = json.loads(
        ok(
            "init",
            "--key-store",
            "kms",
            "--root-kms-key",
            ROOT_ALIAS,
            "--issuing-kms-key",
            ISSUING_ALIAS,
            "--json",
        )
    )
    assert init["home"] is None
    assert init["root"]["key_location"].startswith(f"arn:aws:kms:{REGION}:")
    assert init["created_kms_keys"] == []

    out = env["tmp"] / "out"
    out.mkdir()
    issued = json.loads(ok("issue", "client", "--cn", "alice", "--out", str(out), "--json"))
    serial = issued["serial"]
    # --no-sync: with ALBCA_PUBLISH_TO set, revoke would publish the CRL and sync trust
    # stores, but moto evaluates aws:SecureTransport as false in-process, so the bootstrap
    # bucket's deny-insecure-transport statement refuses every write here (real S3 over
    # HTTPS does not). That sync is tested in tests/cli/test_trust_cli.py.
    ok("revoke", serial, "--reason", "key-compromise", "--no-sync")
    ok("crl", "--out", str(out / "crl.pem"))
    ok("bundle", "--out", str(out / "bundle.pem"))

    root, issuing = x509.load_pem_x509_certificates((out / "bundle.pem").read_bytes())
    root.verify_directly_issued_by(root)
    issuing.verify_directly_issued_by(root)
    leaf = x509.load_pem_x509_certificate((out / "alice.crt.pem").read_bytes())
    leaf.verify_directly_issued_by(issuing)
    crl = x509.load_pem_x509_crl((out / "crl.pem").read_bytes())
    assert crl.is_signature_valid(issuing.public_key())
    assert crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None

    listed = json.loads(ok("list", "--status", "revoked", "--json"))
    assert [row["serial"] for row in listed["certificates"]] == [serial]
    assert not env["home"].exists()  # nothing was written locally
    assert {r.message_type for r in env["kms"].requests} == {"DIGEST"}


def test_init_makes_new_kms_keys_when_none_are_named(env):
    ok("aws", "bootstrap", "--no-kms-keys")
    result = json.loads(ok("init", "--key-store", "kms", "--key-type", "ec-p384", "--json"))
    assert len(result["created_kms_keys"]) == 2
    kms = boto3.client("kms", region_name=REGION)
    for arn in result["created_kms_keys"]:
        assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeySpec"] == "ECC_NIST_P384"
    assert {result["root"]["key_location"], result["issuing"]["key_location"]} == set(
        result["created_kms_keys"]
    )
    line = one_line_error("init", "--key-store", "kms")
    assert "already holds a CA" in line
    assert len(kms.list_keys()["Keys"]) == 2  # the refused init made no keys


def test_missing_table_is_one_line(env, monkeypatch):
    monkeypatch.setenv("ALBCA_STORE", "dynamodb://no-such-table")
    line = one_line_error("list")
    assert "DynamoDB table 'no-such-table' in eu-west-1 does not exist" in line
    assert "albca aws bootstrap" in line
    line = one_line_error("init", "--key-store", "kms")
    assert "no-such-table" in line
    assert boto3.client("kms", region_name=REGION).list_keys()["Keys"] == []


def test_unknown_kms_key_is_one_line(env):
    ok("aws", "bootstrap", "--no-kms-keys")
    line = one_line_error("init", "--root-kms-key", "alias/nope", "--issuing-kms-key", "alias/nope")
    assert "KMS key 'alias/nope' does not exist" in line


@pytest.mark.parametrize(
    ("usage", "spec", "message"),
    [
        ("ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT", "KeyUsage ENCRYPT_DECRYPT"),
        ("SIGN_VERIFY", "ECC_SECG_P256K1", "key spec ECC_SECG_P256K1"),
    ],
)
def test_kms_key_of_the_wrong_usage_or_spec_is_one_line(env, usage, spec, message):
    ok("aws", "bootstrap", "--no-kms-keys")
    kms = boto3.client("kms", region_name=REGION)
    arn = kms.create_key(KeyUsage=usage, KeySpec=spec)["KeyMetadata"]["Arn"]
    line = one_line_error("init", "--root-kms-key", arn, "--issuing-kms-key", arn)
    assert message in line
    assert arn in line


def test_missing_bucket_is_one_line(env):
    ok("aws", "bootstrap", "--no-kms-keys")
    line = one_line_error("aws", "check", "--bucket", "no-such-bucket-here", "--no-kms-keys")
    assert line == (
        "albca: error: the S3 bucket 'no-such-bucket-here' does not exist; "
        "run `albca aws bootstrap`"
    )


def test_config_show_prints_settings_without_secrets(env, monkeypatch):
    monkeypatch.setenv("ALBCA_KEY_PASSPHRASE", "correct horse battery staple")
    output = ok("config", "show")
    assert "correct horse" not in output
    assert "ALBCA_KEY_PASSPHRASE:" in output
    assert "ALBCA_P12_PASSWORD:" in output
    lines = dict(line.split(":", 1) for line in output.splitlines())
    assert lines["ALBCA_KEY_PASSPHRASE"].strip() == "set"
    assert lines["ALBCA_P12_PASSWORD"].strip() == "unset"
    assert lines["ALBCA_STORE"].strip() == f"dynamodb://{TABLE}"
    assert lines["-> store"].strip() == f"dynamodb table {TABLE} in {REGION}"
    assert lines["-> api_store"].strip() == (
        f"dynamodb table {TABLE} in {REGION} (with the certificates)"
    )
    assert lines["-> config"].strip().startswith("built-in defaults")
    shown = json.loads(ok("config", "show", "--json"))
    assert shown["settings"]["ALBCA_PUBLISH_TO"] == f"s3://{BUCKET}/pki"


def test_unknown_store_url_is_one_line(env, monkeypatch):
    monkeypatch.setenv("ALBCA_STORE", "postgres://db")
    line = one_line_error("config", "show")
    assert "ALBCA_STORE" in line
    assert "dynamodb://TABLE" in line


def test_api_tokens_live_in_the_table_with_no_local_state(env):
    ok("aws", "bootstrap", "--no-kms-keys")
    ok("init", "--key-store", "kms")
    created = json.loads(
        ok("token", "create", "ci", "--profile", "client", "--names", "*.svc.internal", "--json")
    )
    ok("token", "create", "reader", "--scopes", "read")
    listed = json.loads(ok("token", "list", "--json"))
    assert [(t["name"], t["status"]) for t in listed] == [("ci", "active"), ("reader", "active")]
    assert listed[0]["dns"] == ["*.svc.internal"]
    assert created["token"] not in ok("token", "list", "--json")

    revoked = json.loads(ok("token", "revoke", "ci", "--json"))
    again = json.loads(ok("token", "revoke", "ci", "--json"))
    assert revoked["revoked_at"] is not None
    assert again["revoked_at"] == revoked["revoked_at"]  # the first time stays
    assert "revoked" in ok("token", "list")
    line = one_line_error("token", "create", "ci", "--profile", "client")
    assert line == "albca: error: a token named 'ci' exists (or existed); choose another name"
    line = one_line_error("token", "revoke", "nobody")
    assert line == "albca: error: no API token named 'nobody'"

    actions = [event["action"] for event in json.loads(ok("audit", "--json"))]
    assert (actions.count("token.create"), actions.count("token.revoke")) == (2, 2)
    assert not env["home"].exists()  # tokens and their audit events are all in DynamoDB
    assert not list(env["tmp"].glob("**/*.db"))


def test_token_commands_with_a_missing_table_are_one_line(env, monkeypatch):
    monkeypatch.setenv("ALBCA_STORE", "dynamodb://no-such-table")
    for args in (("token", "list"), ("token", "revoke", "ci")):
        line = one_line_error(*args)
        assert line == (
            f"albca: error: DynamoDB table 'no-such-table' in {REGION} does not exist; "
            "create it with `albca aws bootstrap`"
        )


def test_a_sqlite_api_store_can_still_be_named(env, monkeypatch):
    api_db = env["tmp"] / "api.db"
    monkeypatch.setenv("ALBCA_API_STORE", f"sqlite:///{api_db}")
    ok("aws", "bootstrap", "--no-kms-keys")
    ok("token", "create", "local", "--scopes", "read")
    assert api_db.exists()
    lines = dict(line.split(":", 1) for line in ok("config", "show").splitlines())
    assert lines["-> api_store"].strip() == f"sqlite file {api_db}"


def test_check_names_the_ttl_the_api_items_age_out_by(env):
    ok("aws", "bootstrap", "--no-kms-keys")
    boto3.client("dynamodb", region_name=REGION).update_time_to_live(
        TableName=TABLE, TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"}
    )
    line = one_line_error("aws", "check", "--no-kms-keys")
    assert line == (
        f"albca: error: the DynamoDB table '{TABLE}' does not age out expired records, "
        "idempotency keys and used renewal tokens (TTL); run `albca aws bootstrap`"
    )
    assert "called: dynamodb UpdateTimeToLive" in ok("aws", "bootstrap", "--no-kms-keys")
    assert ok("aws", "check", "--no-kms-keys").startswith("ready: ")
