"""``albca aws deploy``, through ``infra.calls.Aws``: every step reads what exists and makes
only the calls that are missing, so a rerun makes none, and ``--dry-run`` (the same code
with ``Aws(dry_run=True)``) lists exactly the calls a live run would make.

Resources are found again by name (``spec``) and checked by their ``albca:deployment``
tag, so ``undeploy`` never removes something of the same name albca did not make. A
resource this run has just created (or, in a dry run, would create) is known to be empty:
its parts are created without reading, which is also what keeps a dry run from reading
resources that do not exist.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from albca.infra.calls import Aws
from albca.infra.deploy.doors import (
    ALB_PERMISSION,
    API_PERMISSION,
    URL_INVOKE_PERMISSION,
    URL_PERMISSION,
    remove_other_doors,
)
from albca.infra.deploy.lookup import account_of, document, forwards_to, found, tag_list
from albca.infra.deploy.package import LambdaPackage
from albca.infra.deploy.policies import (
    api_policy,
    lambda_trust_policy,
    maintenance_policy,
    scheduler_policy,
    scheduler_trust_policy,
)
from albca.infra.deploy.spec import (
    DEPLOYMENT_TAG,
    HANDLER,
    MAINTAIN_INPUT,
    RUNTIME,
    Account,
    DeploySpec,
    FunctionRole,
)
from albca.infra.errors import AwsRefused, SetupRefused
from albca.infra.waiting import Wait

__all__ = ["Deployed", "deploy"]

_POLICY_NAME = "albca"
# Right after CreateRole, CreateFunction can fail with this until IAM has propagated the
# role (Lambda developer guide, "Troubleshoot deployment issues": "The role defined for
# the function cannot be assumed by Lambda").
_ROLE_NOT_READY = "cannot be assumed by Lambda"


@dataclass
class Deployed:
    """What a deploy made or found: ``endpoint`` is the API's URL (None behind an ALB)."""

    account: Account
    functions: dict[str, str] = field(default_factory=dict)
    endpoint: str | None = None
    target_group_arn: str | None = None
    topic_arn: str | None = None


# -- deploy ------------------------------------------------------------------------------


def deploy(
    aws: Aws,
    spec: DeploySpec,
    package: LambdaPackage,
    *,
    wait: Wait,
    environment: Mapping[FunctionRole, Mapping[str, str]],
) -> Deployed:
    """Brings the deployment in line with ``spec``; ``environment`` is each function's."""
    account = account_of(aws, spec.region)
    deployed = Deployed(account)
    deployed.topic_arn = _topic(aws, spec, account)
    code = _code(aws, spec, package)
    functions: tuple[tuple[FunctionRole, dict[str, Any], int], ...] = (
        ("api", api_policy(spec, account), spec.api_timeout_seconds),
        ("maintenance", maintenance_policy(spec, account), spec.maintenance_timeout_seconds),
    )
    for role, policy, timeout in functions:
        fresh_role = _role(aws, spec, role, lambda_trust_policy(), policy)
        deployed.functions[role] = _function(
            aws,
            spec,
            account,
            role,
            package,
            code,
            environment=dict(environment.get(role, {})),
            timeout=timeout,
            wait=wait,
            fresh_role=fresh_role,
        )
    api_arn = deployed.functions["api"]
    if spec.front_door == "url":
        deployed.endpoint = _function_url(aws, spec)
    elif spec.front_door == "http-api":
        deployed.endpoint = _http_api(aws, spec, account, api_arn)
    else:
        deployed.target_group_arn = _alb_target(aws, spec, account, api_arn)
    # A switch of --front-door: the door an earlier deploy made comes down once the new
    # one stands, so the API is never without a way in.
    remove_other_doors(aws, spec)
    _role(
        aws,
        spec,
        "scheduler",
        scheduler_trust_policy(account),
        scheduler_policy(deployed.functions["maintenance"]),
    )
    _schedule(aws, spec, account, deployed.functions["maintenance"])
    return deployed


def _topic(aws: Aws, spec: DeploySpec, account: Account) -> str | None:
    topic_arn = spec.topic_arn(account)
    if topic_arn is None:
        return None
    existing = found(lambda: aws.read("sns", "get_topic_attributes", TopicArn=topic_arn))
    endpoints: set[str] = set()
    if existing is None:
        aws.change("sns", "create_topic", Name=spec.topic_name, Tags=tag_list(spec.tags))
    else:
        answer = aws.read("sns", "list_subscriptions_by_topic", TopicArn=topic_arn)
        endpoints = {s["Endpoint"] for s in answer["Subscriptions"] if s["Protocol"] == "email"}
    for email in spec.notify_emails:
        if email not in endpoints:
            # The address gets a confirmation mail; nothing is delivered before it is
            # confirmed (SNS developer guide, "Email notifications").
            aws.change("sns", "subscribe", TopicArn=topic_arn, Protocol="email", Endpoint=email)
    return topic_arn


def _code(aws: Aws, spec: DeploySpec, package: LambdaPackage) -> dict[str, Any]:
    """How the zip reaches Lambda: in the request, or (over 50 MB) through the bucket."""
    if not package.needs_s3:
        return {"ZipFile": package.read()}
    if spec.bucket is None:
        raise SetupRefused(
            f"the Lambda package is over the 50 MB direct upload limit ({package.summary()}) "
            "and no bucket is configured to upload it through: set ALBCA_PUBLISH_TO=s3://...",
            rule="lambda zipped size",
        )
    digest = package.code_sha256.replace("/", "_").replace("+", "-").rstrip("=")
    key = "/".join(filter(None, [spec.object_prefix, "lambda", f"{digest}.zip"]))
    present = found(lambda: aws.read("s3", "head_object", Bucket=spec.bucket, Key=key))
    if present is None:
        aws.change("s3", "put_object", Bucket=spec.bucket, Key=key, Body=package.read())
    return {"S3Bucket": spec.bucket, "S3Key": key}


def _role(
    aws: Aws, spec: DeploySpec, role: str, trust: dict[str, Any], policy: dict[str, Any]
) -> bool:
    """The role and its one inline policy; True when it is new."""
    name = f"albca-{spec.name}-{role}"
    existing = found(lambda: aws.read("iam", "get_role", RoleName=name))
    if existing is None:
        aws.change(
            "iam",
            "create_role",
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(trust),
            Description=f"albca deployment {spec.name}: {role}",
            Tags=tag_list(spec.tags),
        )
        current = None
    else:
        _check_tagged(existing["Role"].get("Tags"), f"IAM role {name}", spec)
        if document(existing["Role"]["AssumeRolePolicyDocument"]) != trust:
            aws.change(
                "iam", "update_assume_role_policy", RoleName=name, PolicyDocument=json.dumps(trust)
            )
        answer = found(
            lambda: aws.read("iam", "get_role_policy", RoleName=name, PolicyName=_POLICY_NAME)
        )
        current = None if answer is None else document(answer["PolicyDocument"])
    if current != policy:
        aws.change(
            "iam",
            "put_role_policy",
            RoleName=name,
            PolicyName=_POLICY_NAME,
            PolicyDocument=json.dumps(policy),
        )
    return existing is None


def _check_tagged(tags: Any, what: str, spec: DeploySpec) -> None:
    """Refuses to take over a resource of the same name that another deployment (or
    someone else) made."""
    if isinstance(tags, list):
        tags = {tag["Key"]: tag["Value"] for tag in tags}
    if (tags or {}).get(DEPLOYMENT_TAG) != spec.name:
        raise SetupRefused(
            f"{what} exists but is not tagged {DEPLOYMENT_TAG}={spec.name}: albca did not make "
            "it; remove or rename it, or deploy under another --name",
            rule="deployment tag",
        )


def _function(
    aws: Aws,
    spec: DeploySpec,
    account: Account,
    role: FunctionRole,
    package: LambdaPackage,
    code: dict[str, Any],
    *,
    environment: dict[str, str],
    timeout: int,
    wait: Wait,
    fresh_role: bool,
) -> str:
    name = spec.function_name(role)
    arn = spec.function_arn(account, role)
    wanted: dict[str, Any] = {
        "Role": spec.role_arn(account, role),
        "Handler": HANDLER,
        "Runtime": RUNTIME,
        "Timeout": timeout,
        "MemorySize": spec.memory_mb,
        "Description": f"albca {spec.version}: {role}",
        "Environment": {"Variables": environment},
    }
    existing = found(lambda: aws.read("lambda", "get_function", FunctionName=name))
    if existing is None:
        _create_function(
            aws,
            wait if fresh_role else Wait(seconds=0, interval=1, sleep=wait.sleep),
            FunctionName=name,
            Code=code,
            Architectures=[spec.architecture],
            PackageType="Zip",
            Tags=dict(spec.tags),
            **wanted,
        )
        _settled(aws, name, wait)
        return arn
    _check_tagged(existing.get("Tags"), f"Lambda function {name}", spec)
    configuration = existing["Configuration"]
    if configuration.get("CodeSha256") != package.code_sha256 or configuration.get(
        "Architectures", ["x86_64"]
    ) != [spec.architecture]:
        aws.change(
            "lambda",
            "update_function_code",
            FunctionName=name,
            Architectures=[spec.architecture],
            **code,
        )
        _settled(aws, name, wait)
    current = {
        **{key: configuration.get(key) for key in wanted},
        "Environment": {"Variables": configuration.get("Environment", {}).get("Variables", {})},
    }
    changed = {key: value for key, value in wanted.items() if current[key] != value}
    if changed:
        aws.change("lambda", "update_function_configuration", FunctionName=name, **changed)
        _settled(aws, name, wait)
    if existing.get("Tags", {}) != {**existing.get("Tags", {}), **spec.tags}:
        aws.change("lambda", "tag_resource", Resource=arn, Tags=dict(spec.tags))
    return arn


def _create_function(aws: Aws, wait: Wait, **params: Any) -> None:
    for attempt in range(wait.polls + 1):
        before = len(aws.actions)
        try:
            aws.change("lambda", "create_function", **params)
            return
        except AwsRefused as exc:
            if _ROLE_NOT_READY not in str(exc) or attempt == wait.polls:
                raise
            del aws.actions[before:]  # the retry goes on the record once
            wait.sleep(wait.interval)


def _settled(aws: Aws, name: str, wait: Wait) -> None:
    """Waits until the function is Active and its last update done: Lambda refuses the
    next change meanwhile (ResourceConflictException; Lambda developer guide, "Lambda
    function states")."""
    if aws.dry_run:
        return
    for attempt in range(wait.polls + 1):
        state = aws.read("lambda", "get_function_configuration", FunctionName=name)
        if state.get("State") != "Pending" and state.get("LastUpdateStatus") != "InProgress":
            return
        if attempt < wait.polls:
            wait.sleep(wait.interval)
    raise SetupRefused(
        f"Lambda function {name} is still updating after {wait.seconds:.0f}s; run again",
        rule="function state",
    )


def _permission(aws: Aws, function: str, sid: str, *, fresh: bool = False, **params: Any) -> None:
    if not fresh:
        answer = found(lambda: aws.read("lambda", "get_policy", FunctionName=function))
        if answer is not None:
            statements = json.loads(answer["Policy"]).get("Statement", [])
            if any(statement.get("Sid") == sid for statement in statements):
                return
    aws.change("lambda", "add_permission", FunctionName=function, StatementId=sid, **params)


def _function_url(aws: Aws, spec: DeploySpec) -> str | None:
    name = spec.function_name("api")
    existing = found(lambda: aws.read("lambda", "get_function_url_config", FunctionName=name))
    url: str | None = None
    if existing is None:
        # AuthType NONE: the API authenticates every request itself (bearer tokens, renewal
        # proofs); its public endpoints (bundle, CRL, health) are meant to be public.
        made = aws.change(
            "lambda", "create_function_url_config", FunctionName=name, AuthType="NONE"
        )
        url = None if made is None else made["FunctionUrl"]
    else:
        url = existing["FunctionUrl"]
    # A NONE function URL still needs resource-based statements allowing everyone, and
    # since October 2025 both lambda:InvokeFunctionUrl and lambda:InvokeFunction, the
    # latter only through the URL (Lambda developer guide, "Control access to Lambda
    # function URLs"; AddPermission's InvokedViaFunctionUrl).
    _permission(
        aws,
        name,
        URL_PERMISSION,
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
    )
    _permission(
        aws,
        name,
        URL_INVOKE_PERMISSION,
        Action="lambda:InvokeFunction",
        Principal="*",
        InvokedViaFunctionUrl=True,
    )
    return url


def _http_api(aws: Aws, spec: DeploySpec, account: Account, function_arn: str) -> str | None:
    apis = aws.read("apigatewayv2", "get_apis")["Items"]
    ours = [a for a in apis if a["Name"] == spec.api_name]
    fresh = not ours
    if fresh:
        made = aws.change(
            "apigatewayv2", "create_api", Name=spec.api_name, ProtocolType="HTTP", Tags=spec.tags
        )
        api_id = "API_ID" if made is None else made["ApiId"]
        endpoint = None if made is None else made["ApiEndpoint"]
    else:
        _check_tagged(ours[0].get("Tags"), f"HTTP API {spec.api_name}", spec)
        api_id, endpoint = ours[0]["ApiId"], ours[0]["ApiEndpoint"]
    integrations = (
        [] if fresh else aws.read("apigatewayv2", "get_integrations", ApiId=api_id)["Items"]
    )
    found = [i for i in integrations if i.get("IntegrationUri") == function_arn]
    if found:
        integration_id = found[0]["IntegrationId"]
    else:
        # Payload format 2.0: what Mangum reads as an HTTP API event.
        made = aws.change(
            "apigatewayv2",
            "create_integration",
            ApiId=api_id,
            IntegrationType="AWS_PROXY",
            IntegrationUri=function_arn,
            PayloadFormatVersion="2.0",
        )
        integration_id = "INTEGRATION_ID" if made is None else made["IntegrationId"]
    target = f"integrations/{integration_id}"
    routes = [] if fresh else aws.read("apigatewayv2", "get_routes", ApiId=api_id)["Items"]
    route = [r for r in routes if r["RouteKey"] == "$default"]
    if not route:
        aws.change("apigatewayv2", "create_route", ApiId=api_id, RouteKey="$default", Target=target)
    elif route[0].get("Target") != target:
        aws.change(
            "apigatewayv2",
            "update_route",
            ApiId=api_id,
            RouteId=route[0]["RouteId"],
            Target=target,
        )
    stages = [] if fresh else aws.read("apigatewayv2", "get_stages", ApiId=api_id)["Items"]
    if not any(s["StageName"] == "$default" for s in stages):
        aws.change(
            "apigatewayv2", "create_stage", ApiId=api_id, StageName="$default", AutoDeploy=True
        )
    _permission(
        aws,
        spec.function_name("api"),
        API_PERMISSION,
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=account.arn("execute-api", f"{api_id}/*"),
    )
    return endpoint


def _alb_target(aws: Aws, spec: DeploySpec, account: Account, function_arn: str) -> str:
    listener_arn = str(spec.listener_arn)
    existing = found(
        lambda: aws.read("elbv2", "describe_target_groups", Names=[spec.target_group_name])[
            "TargetGroups"
        ]
    )
    fresh = not existing
    if fresh:
        made = aws.change(
            "elbv2",
            "create_target_group",
            Name=spec.target_group_name,
            TargetType="lambda",
            Tags=tag_list(spec.tags),
        )
        group_arn = (
            account.arn("elasticloadbalancing", f"targetgroup/{spec.target_group_name}/NEW")
            if made is None
            else made["TargetGroups"][0]["TargetGroupArn"]
        )
    else:
        group_arn = existing[0]["TargetGroupArn"]
        tags = aws.read("elbv2", "describe_tags", ResourceArns=[group_arn])
        _check_tagged(tags["TagDescriptions"][0]["Tags"], f"target group {group_arn}", spec)
    # Elastic Load Balancing invokes the function only with this permission, which must
    # exist before the function is registered (ELB user guide, "Lambda functions as
    # targets").
    _permission(
        aws,
        spec.function_name("api"),
        ALB_PERMISSION,
        Action="lambda:InvokeFunction",
        Principal="elasticloadbalancing.amazonaws.com",
        SourceArn=group_arn,
    )
    registered = (
        []
        if fresh
        else aws.read("elbv2", "describe_target_health", TargetGroupArn=group_arn)[
            "TargetHealthDescriptions"
        ]
    )
    if not any(t["Target"]["Id"] == function_arn for t in registered):
        aws.change(
            "elbv2", "register_targets", TargetGroupArn=group_arn, Targets=[{"Id": function_arn}]
        )
    rules = aws.read("elbv2", "describe_rules", ListenerArn=listener_arn)["Rules"]
    if not any(forwards_to(rule, group_arn) for rule in rules):
        taken = {int(r["Priority"]) for r in rules if r["Priority"] != "default"}
        aws.change(
            "elbv2",
            "create_rule",
            ListenerArn=listener_arn,
            Priority=min(set(range(1, len(taken) + 2)) - taken),
            Conditions=[
                {"Field": "path-pattern", "PathPatternConfig": {"Values": [spec.path_pattern]}}
            ],
            Actions=[{"Type": "forward", "TargetGroupArn": group_arn}],
            Tags=tag_list(spec.tags),
        )
    return group_arn


def _schedule(aws: Aws, spec: DeploySpec, account: Account, function_arn: str) -> None:
    group = found(lambda: aws.read("scheduler", "get_schedule_group", Name=spec.schedule_group))
    if group is None:
        aws.change(
            "scheduler",
            "create_schedule_group",
            Name=spec.schedule_group,
            Tags=tag_list(spec.tags),
        )
        existing = None
    else:
        tags = aws.read("scheduler", "list_tags_for_resource", ResourceArn=group["Arn"])["Tags"]
        _check_tagged(tags, f"schedule group {spec.schedule_group}", spec)
        existing = found(
            lambda: aws.read(
                "scheduler", "get_schedule", Name=spec.schedule_name, GroupName=spec.schedule_group
            )
        )
    target = {
        "Arn": function_arn,
        "RoleArn": spec.role_arn(account, "scheduler"),
        "Input": json.dumps(MAINTAIN_INPUT, sort_keys=True),
    }
    wanted: dict[str, Any] = {
        "Name": spec.schedule_name,
        "GroupName": spec.schedule_group,
        "ScheduleExpression": spec.schedule,
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": target,
        "State": "ENABLED",
        "Description": f"albca {spec.name}: maintenance (CRLs, renewals, notices)",
    }
    if existing is None:
        aws.change("scheduler", "create_schedule", **wanted)
        return
    current_target = existing.get("Target", {})
    same = (
        existing.get("ScheduleExpression") == spec.schedule
        and existing.get("State") == "ENABLED"
        and {k: current_target.get(k) for k in target} == target
    )
    if not same:
        aws.change("scheduler", "update_schedule", **wanted)
