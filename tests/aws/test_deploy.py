"""``albca aws deploy`` / ``undeploy`` / ``status`` under moto (Lambda, IAM, Scheduler, SNS,
API Gateway v2, ELBv2): every resource as configured, a rerun that changes nothing, a dry
run that lists exactly the live run's calls, an undeploy that leaves nothing tagged.

moto's Lambda creates functions without Docker (it needs Docker only to invoke them), so
the package here is a small zip; the real package is built in tests/packaging.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from albca.infra.calls import Aws, Call
from albca.infra.clients import AwsClients
from albca.infra.deploy.apply import deploy
from albca.infra.deploy.package import zip_directory
from albca.infra.deploy.remove import DataToDelete, undeploy
from albca.infra.deploy.spec import DEPLOYMENT_TAG, MAINTAIN_INPUT, DeploySpec
from albca.infra.deploy.status import deployment_status
from albca.infra.errors import SetupRefused
from albca.infra.waiting import Wait
from tests.aws.conftest import REGION

ACCOUNT = "123456789012"  # moto's
KEYS = (f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555",)
ENVIRONMENT = {
    "api": {"ALBCA_STORE": "dynamodb://albca", "ALBCA_AWS_REGION": REGION},
    "maintenance": {"ALBCA_STORE": "dynamodb://albca", "ALBCA_AWS_REGION": REGION},
}
NO_WAIT = Wait(seconds=0, interval=1, sleep=lambda _: None)


def make_spec(**changes) -> DeploySpec:
    values = {
        "name": "prod",
        "region": REGION,
        "table": "albca",
        "version": "0.1.0",
        "bucket": "pki-bucket",
        "prefix": "albca",
        "kms_keys": KEYS,
        "ca_id": "ca-1234",
        "notify_emails": ("pki@example.com",),
        **changes,
    }
    return DeploySpec(**values)


@pytest.fixture
def package(tmp_path):
    return package_of(tmp_path, "first")


def package_of(tmp_path, text: str):
    folder = tmp_path / f"src-{text}"
    (folder / "albca").mkdir(parents=True)
    (folder / "albca" / "lambda_handler.py").write_text(f"# {text}\n")
    return zip_directory(folder, tmp_path / f"{text}.zip")


def run(spec, package, *, dry_run=False) -> Aws:
    aws = Aws(AwsClients(region=REGION), dry_run=dry_run)
    deploy(aws, spec, package, wait=NO_WAIT, environment=ENVIRONMENT)
    return aws


def operations(aws: Aws) -> list[tuple[str, str]]:
    return [(a.service, a.operation) for a in aws.actions if isinstance(a, Call)]


def client(service):
    return boto3.client(service, region_name=REGION)


def tags_of(tag_list) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tag_list}


def test_deploy_makes_every_resource_as_configured(aws, package):
    spec = make_spec()
    run(spec, package)

    lam = client("lambda")
    for role in ("api", "maintenance"):
        answer = lam.get_function(FunctionName=f"albca-prod-{role}")
        config = answer["Configuration"]
        assert config["Runtime"] == "python3.12"
        assert config["Handler"] == "albca.lambda_handler.handler"
        assert config["Architectures"] == ["arm64"]
        assert config["CodeSha256"] == package.code_sha256
        assert config["Role"] == f"arn:aws:iam::{ACCOUNT}:role/albca-prod-{role}"
        assert config["Environment"]["Variables"] == ENVIRONMENT[role]
        assert answer["Tags"][DEPLOYMENT_TAG] == "prod"

    url = lam.get_function_url_config(FunctionName="albca-prod-api")
    assert url["AuthType"] == "NONE"
    statements = json.loads(lam.get_policy(FunctionName="albca-prod-api")["Policy"])["Statement"]
    assert [s["Action"] for s in statements] == [
        "lambda:InvokeFunctionUrl",
        "lambda:InvokeFunction",
    ]

    iam = client("iam")
    for role in ("api", "maintenance", "scheduler"):
        described = iam.get_role(RoleName=f"albca-prod-{role}")["Role"]
        assert tags_of(described["Tags"])[DEPLOYMENT_TAG] == "prod"
        policy = iam.get_role_policy(RoleName=f"albca-prod-{role}", PolicyName="albca")
        for statement in policy["PolicyDocument"]["Statement"]:
            assert "*" not in statement["Action"]
    api_policy = iam.get_role_policy(RoleName="albca-prod-api", PolicyName="albca")
    resources = {s["Sid"]: s["Resource"] for s in api_policy["PolicyDocument"]["Statement"]}
    assert resources["CertificateStore"] == [
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/albca",
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/albca/index/*",
    ]
    assert resources["CaKeys"] == list(KEYS)
    assert resources["PublishedObjects"] == ["arn:aws:s3:::pki-bucket/albca/*"]
    # Maintenance renews the ACM certificates albca manages: CloudFront's in us-east-1 too.
    maintenance_policy = iam.get_role_policy(RoleName="albca-prod-maintenance", PolicyName="albca")
    by_sid = {s["Sid"]: s for s in maintenance_policy["PolicyDocument"]["Statement"]}
    assert "acm:GetCertificate" in by_sid["ManagedCertificates"]["Action"]
    assert (
        f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/*"
        in (by_sid["ManagedCertificates"]["Resource"])
    )
    assert by_sid["FindManagedCertificates"]["Action"] == ["acm:ListCertificates"]

    scheduler = client("scheduler")
    schedule = scheduler.get_schedule(Name="maintain", GroupName="albca-prod")
    assert schedule["ScheduleExpression"] == "rate(1 hour)"
    assert json.loads(schedule["Target"]["Input"]) == MAINTAIN_INPUT
    assert schedule["Target"]["Arn"].endswith(":function:albca-prod-maintenance")
    assert schedule["Target"]["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/albca-prod-scheduler"
    scheduler_policy = iam.get_role_policy(RoleName="albca-prod-scheduler", PolicyName="albca")
    (invoke,) = scheduler_policy["PolicyDocument"]["Statement"]
    assert invoke["Resource"] == [schedule["Target"]["Arn"]]

    sns = client("sns")
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:albca-prod-notices"
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "pki@example.com")]
    maintenance = iam.get_role_policy(RoleName="albca-prod-maintenance", PolicyName="albca")
    notices = [s for s in maintenance["PolicyDocument"]["Statement"] if s["Sid"] == "Notices"]
    assert notices[0]["Resource"] == [topic]


def test_a_rerun_changes_nothing(aws, package):
    spec = make_spec()
    assert run(spec, package).changed
    again = run(spec, package)
    assert again.actions == []


def test_a_new_package_only_updates_the_code(aws, package, tmp_path):
    spec = make_spec()
    run(spec, package)
    newer = package_of(tmp_path, "second")
    assert operations(run(spec, newer)) == [
        ("lambda", "update_function_code"),
        ("lambda", "update_function_code"),
    ]
    config = client("lambda").get_function(FunctionName="albca-prod-api")["Configuration"]
    assert config["CodeSha256"] == newer.code_sha256


def test_a_changed_schedule_is_updated_in_place(aws, package):
    run(make_spec(), package)
    assert operations(run(make_spec(schedule="rate(30 minutes)"), package)) == [
        ("scheduler", "update_schedule")
    ]
    schedule = client("scheduler").get_schedule(Name="maintain", GroupName="albca-prod")
    assert schedule["ScheduleExpression"] == "rate(30 minutes)"


@pytest.mark.parametrize("front_door", ["url", "http-api", "alb"])
def test_the_dry_run_lists_exactly_the_live_runs_calls(aws, package, alb, front_door):
    listener = alb.listener_arn if front_door == "alb" else None
    spec = make_spec(front_door=front_door, listener_arn=listener)

    planned = run(spec, package, dry_run=True)
    assert client("lambda").list_functions()["Functions"] == []  # nothing was made
    assert client("iam").list_roles()["Roles"] == []
    live = run(spec, package)

    assert operations(planned) == operations(live)
    if front_door == "url":  # nothing the live run learns from AWS: the very same calls
        assert [a.describe() for a in planned.actions] == [a.describe() for a in live.actions]


def test_the_http_api_proxies_everything_to_the_api_function(aws, package):
    run(make_spec(front_door="http-api"), package)
    apigw = client("apigatewayv2")
    (api,) = apigw.get_apis()["Items"]
    assert api["Name"] == "albca-prod"
    assert api["Tags"][DEPLOYMENT_TAG] == "prod"
    (integration,) = apigw.get_integrations(ApiId=api["ApiId"])["Items"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["IntegrationUri"].endswith(":function:albca-prod-api")
    (route,) = apigw.get_routes(ApiId=api["ApiId"])["Items"]
    assert (route["RouteKey"], route["Target"]) == (
        "$default",
        f"integrations/{integration['IntegrationId']}",
    )
    statements = json.loads(client("lambda").get_policy(FunctionName="albca-prod-api")["Policy"])
    (allow,) = statements["Statement"]
    assert allow["Principal"] == {"Service": "apigateway.amazonaws.com"}


def test_the_alb_front_door_is_a_lambda_target_behind_a_path_rule(aws, package, alb):
    spec = make_spec(front_door="alb", listener_arn=alb.listener_arn, path_pattern="/v1/*")
    run(spec, package)
    elbv2 = client("elbv2")
    (group,) = elbv2.describe_target_groups(Names=["albca-prod-api"])["TargetGroups"]
    assert group["TargetType"] == "lambda"
    (target,) = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])[
        "TargetHealthDescriptions"
    ]
    assert target["Target"]["Id"].endswith(":function:albca-prod-api")
    rules = [r for r in elbv2.describe_rules(ListenerArn=alb.listener_arn)["Rules"]]
    (rule,) = [r for r in rules if not r["IsDefault"]]
    assert rule["Conditions"][0]["PathPatternConfig"]["Values"] == ["/v1/*"]
    assert rule["Actions"][0]["TargetGroupArn"] == group["TargetGroupArn"]
    assert run(spec, package).actions == []


@pytest.mark.parametrize("front_door", ["url", "http-api", "alb"])
def test_undeploy_leaves_nothing_tagged(aws, package, alb, front_door):
    listener = alb.listener_arn if front_door == "alb" else None
    spec = make_spec(front_door=front_door, listener_arn=listener)
    run(spec, package)
    removing = Aws(AwsClients(region=REGION))
    undeploy(removing, spec)
    assert removing.changed

    assert client("lambda").list_functions()["Functions"] == []
    iam = client("iam")
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == []
    assert client("scheduler").list_schedule_groups()["ScheduleGroups"] == [
        g
        for g in client("scheduler").list_schedule_groups()["ScheduleGroups"]
        if g["Name"] == "default"
    ]
    assert client("sns").list_topics()["Topics"] == []
    assert client("apigatewayv2").get_apis()["Items"] == []
    elbv2 = client("elbv2")
    assert elbv2.describe_target_groups()["TargetGroups"] == []
    rules = elbv2.describe_rules(ListenerArn=alb.listener_arn)["Rules"]
    assert [r["IsDefault"] for r in rules] == [True]
    again = Aws(AwsClients(region=REGION))
    undeploy(again, spec)
    assert again.actions == []


def test_undeploy_keeps_what_it_did_not_make_and_the_data(aws, package):
    spec = make_spec()
    iam = client("iam")
    iam.create_role(RoleName="albca-prod-scheduler", AssumeRolePolicyDocument="{}")
    s3 = client("s3")
    s3.create_bucket(Bucket="pki-bucket")
    with pytest.raises(SetupRefused, match="not tagged albca:deployment=prod"):
        run(spec, package)
    undeploy(Aws(AwsClients(region=REGION)), spec)
    assert iam.get_role(RoleName="albca-prod-scheduler")
    assert s3.head_bucket(Bucket="pki-bucket")


def test_undeploy_with_data_deletes_the_table_bucket_and_schedules_the_keys(aws, package):
    kms = client("kms")
    key = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["Arn"]
    s3 = client("s3")
    s3.create_bucket(Bucket="pki-bucket")
    s3.put_bucket_versioning(Bucket="pki-bucket", VersioningConfiguration={"Status": "Enabled"})
    for body in (b"one", b"two"):
        s3.put_object(Bucket="pki-bucket", Key="albca/ca-bundle.pem", Body=body)
    dynamodb = client("dynamodb")
    dynamodb.create_table(
        TableName="albca",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        DeletionProtectionEnabled=True,
    )
    spec = make_spec(kms_keys=(key,))
    run(spec, package)
    undeploy(
        Aws(AwsClients(region=REGION)),
        spec,
        data=DataToDelete(table="albca", bucket="pki-bucket", kms_keys=(key,)),
    )
    assert dynamodb.list_tables()["TableNames"] == []
    assert s3.list_buckets()["Buckets"] == []
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "PendingDeletion"


def test_status_reads_back_the_deployment(aws, package):
    spec = make_spec(schedule="rate(2 hours)")
    before = deployment_status(Aws(AwsClients(region=REGION)), spec, datetime.now(UTC))
    assert not before.deployed
    run(spec, package)
    now = datetime.now(UTC)
    status = deployment_status(Aws(AwsClients(region=REGION)), spec, now)
    assert set(status.functions) == {"api", "maintenance"}
    assert status.functions["api"].version == "0.1.0"
    assert status.functions["api"].code_sha256 == package.code_sha256
    assert status.endpoint is not None
    assert status.endpoint.startswith("https://")
    assert status.schedule == "rate(2 hours)"
    assert status.next_run is not None
    assert now < status.next_run <= now + timedelta(hours=2)
    assert status.subscriptions == ["email:pki@example.com"]


def test_status_predicts_a_cron_schedule_or_says_it_cannot(aws, package):
    run(make_spec(schedule="cron(0 * * * ? *)"), package)  # every hour on the hour
    now = datetime(2030, 5, 6, 7, 8, tzinfo=UTC)
    status = deployment_status(Aws(AwsClients(region=REGION)), make_spec(), now)
    assert status.schedule == "cron(0 * * * ? *)"
    assert status.next_run == datetime(2030, 5, 6, 8, 0, tzinfo=UTC)
    assert status.next_run_unknown is None

    run(make_spec(schedule="cron(0 12 L * ? *)"), package)  # the last day of each month
    status = deployment_status(Aws(AwsClients(region=REGION)), make_spec(), now)
    assert status.next_run is None
    assert "L, W and # wildcards are not evaluated" in (status.next_run_unknown or "")


def api_permissions() -> list[str]:
    policy = client("lambda").get_policy(FunctionName="albca-prod-api")["Policy"]
    return sorted(statement["Sid"] for statement in json.loads(policy)["Statement"])


def test_switching_the_front_door_takes_the_old_one_down(aws, package, alb):
    lam, apigw, elbv2 = client("lambda"), client("apigatewayv2"), client("elbv2")
    run(make_spec(front_door="url"), package)
    assert lam.get_function_url_config(FunctionName="albca-prod-api")["FunctionUrl"]

    switched = run(make_spec(front_door="http-api"), package)
    assert ("lambda", "delete_function_url_config") in operations(switched)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_url_config(FunctionName="albca-prod-api")
    assert [a["Name"] for a in apigw.get_apis()["Items"]] == ["albca-prod"]
    assert api_permissions() == ["albca-http-api"]  # the URL's statements are gone

    alb_spec = make_spec(front_door="alb", listener_arn=alb.listener_arn)
    run(alb_spec, package)
    assert apigw.get_apis()["Items"] == []
    assert api_permissions() == ["albca-alb"]
    assert len(elbv2.describe_target_groups()["TargetGroups"]) == 1

    run(make_spec(front_door="url"), package)
    assert elbv2.describe_target_groups()["TargetGroups"] == []
    rules = elbv2.describe_rules(ListenerArn=alb.listener_arn)["Rules"]
    assert [r["IsDefault"] for r in rules] == [True]  # the path rule went with the group
    assert api_permissions() == ["albca-function-url", "albca-function-url-invoke"]
    assert run(make_spec(front_door="url"), package).actions == []  # and it stays so


def test_another_http_api_of_the_same_name_is_not_taken_down(aws, package):
    apigw = client("apigatewayv2")
    theirs = apigw.create_api(Name="albca-prod", ProtocolType="HTTP")["ApiId"]
    run(make_spec(front_door="url"), package)
    assert [a["ApiId"] for a in apigw.get_apis()["Items"]] == [theirs]


# -- the operator policy covers every call deploy, a door switch and undeploy make -------
# IAM action names (Service Authorization Reference): for Lambda, IAM, Scheduler, SNS,
# ELBv2 (prefix elasticloadbalancing), DynamoDB, KMS and STS the action is the API
# operation's name; API Gateway v2 is authorised by HTTP method (apigateway:GET, ...);
# S3 (list_amazons3.html) names these differently.
IAM_PREFIX = {"elbv2": "elasticloadbalancing"}
S3_ACTIONS = {
    "HeadBucket": ["s3:ListBucket"],
    "ListObjectVersions": ["s3:ListBucketVersions"],
    "DeleteObjects": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
}


def iam_actions(service: str, operation) -> list[str]:
    if service == "apigatewayv2":
        return [f"apigateway:{operation.http['method']}"]
    if service == "s3":
        return S3_ACTIONS.get(operation.name, [f"s3:{operation.name}"])
    return [f"{IAM_PREFIX.get(service, service)}:{operation.name}"]


def recording_clients(actions: set[str]) -> AwsClients:
    def configure(service: str, made) -> None:
        def remember(model, **_):
            actions.update(iam_actions(service, model))

        made.meta.events.register("provide-client-params", remember)

    return AwsClients(region=REGION, configure=configure)


def test_the_operator_policy_allows_every_call_of_deploy_switch_and_undeploy_with_data(
    aws, package, alb
):
    kms = client("kms")
    key = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["Arn"]
    s3 = client("s3")
    s3.create_bucket(Bucket="pki-bucket")
    s3.put_bucket_versioning(Bucket="pki-bucket", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="pki-bucket", Key="albca/ca-bundle.pem", Body=b"bundle")
    client("dynamodb").create_table(
        TableName="albca",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    from albca.infra.deploy.policies import operator_policy
    from albca.infra.deploy.spec import Account

    account = Account("aws", ACCOUNT, REGION)
    for door in ("url", "http-api", "alb", "url"):  # every door, and every switch away
        listener = alb.listener_arn if door == "alb" else None
        spec = make_spec(kms_keys=(key,), front_door=door, listener_arn=listener)
        called: set[str] = set()
        deploy(Aws(recording_clients(called)), spec, package, wait=NO_WAIT, environment=ENVIRONMENT)
        allowed = {a for s in operator_policy(spec, account)["Statement"] for a in s["Action"]}
        assert called - allowed == set(), door
    called = set()
    undeploy(
        Aws(recording_clients(called)),
        spec,
        data=DataToDelete(table="albca", bucket="pki-bucket", kms_keys=(key,)),
    )
    assert {"dynamodb:DeleteTable", "s3:DeleteBucket", "kms:ScheduleKeyDeletion"} <= called
    allowed = {a for s in operator_policy(spec, account)["Statement"] for a in s["Action"]}
    assert called - allowed == set()


# -- the ALB door in front of a verify-mode listener ---------------------------------------
# moto drops MutualAuthentication; the trust store fake (albca.emulated_aws.elbv2_trust_stores,
# installed by the aws_cli fixture's client factory) keeps it as ELBv2 documents it.


def api_environment() -> dict[str, str]:
    config = client("lambda").get_function_configuration(FunctionName="albca-prod-api")
    variables: dict[str, str] = config["Environment"]["Variables"]
    return variables


def test_behind_a_verify_mode_listener_the_api_trusts_the_client_certificate_headers(
    aws_cli, elbv2, alb, albca_store, package
):
    from albca.compose.deploy import deploy_ca

    elbv2.modify_listener(
        ListenerArn=alb.listener_arn,
        MutualAuthentication={"Mode": "verify", "TrustStoreArn": albca_store},
    )
    spec = make_spec(front_door="alb", listener_arn=alb.listener_arn)
    aws, _deployed = deploy_ca(spec, package, dry_run=False, wait_seconds=0)
    assert api_environment()["ALBCA_API_BEHIND_ALB_MTLS"] == "true"
    assert not any("not verify" in note for note in aws.notes)


@pytest.mark.parametrize("mode", ["off", "passthrough"])
def test_behind_a_listener_that_does_not_verify_the_headers_are_not_trusted(
    aws_cli, elbv2, alb, package, mode
):
    # Passthrough forwards whatever certificate the client sent, checked by nobody
    # (AWS_NOTES): a header from it proves nothing.
    from albca.compose.deploy import deploy_ca

    elbv2.modify_listener(ListenerArn=alb.listener_arn, MutualAuthentication={"Mode": mode})
    spec = make_spec(front_door="alb", listener_arn=alb.listener_arn)
    aws, _deployed = deploy_ca(spec, package, dry_run=False, wait_seconds=0)
    assert "ALBCA_API_BEHIND_ALB_MTLS" not in api_environment()
    assert any(f"mode is {mode}, not verify" in note for note in aws.notes)
