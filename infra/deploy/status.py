"""``albca aws status``: what a deployment has in AWS, read back (changes nothing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from albca.infra.calls import Aws
from albca.infra.deploy.schedule_times import CannotPredict, next_run
from albca.infra.deploy.spec import VERSION_TAG, DeploySpec, FunctionRole
from albca.infra.errors import AwsNotFound

__all__ = ["DeploymentStatus", "FunctionStatus", "deployment_status"]


@dataclass(frozen=True)
class FunctionStatus:
    name: str
    version: str | None
    code_sha256: str
    last_modified: str
    state: str


@dataclass
class DeploymentStatus:
    name: str
    functions: dict[str, FunctionStatus] = field(default_factory=dict)
    endpoint: str | None = None
    target_group_arn: str | None = None
    schedule: str | None = None
    schedule_state: str | None = None
    next_run: datetime | None = None
    next_run_unknown: str | None = None  # why next_run could not be told
    topic_arn: str | None = None
    subscriptions: list[str] = field(default_factory=list)

    @property
    def deployed(self) -> bool:
        return bool(self.functions)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "deployed": self.deployed,
            "functions": {role: vars(f) for role, f in self.functions.items()},
            "endpoint": self.endpoint,
            "target_group_arn": self.target_group_arn,
            "schedule": self.schedule,
            "schedule_state": self.schedule_state,
            "next_run": self.next_run.isoformat() if self.next_run else None,
            "next_run_unknown": self.next_run_unknown,
            "topic_arn": self.topic_arn,
            "subscriptions": self.subscriptions,
        }


def _found(aws: Aws, service: str, operation: str, **params: Any) -> Any:
    try:
        return aws.read(service, operation, **params)
    except AwsNotFound:
        return None


def deployment_status(aws: Aws, spec: DeploySpec, now: datetime) -> DeploymentStatus:
    status = DeploymentStatus(spec.name)
    roles: tuple[FunctionRole, ...] = ("api", "maintenance")
    for role in roles:
        name = spec.function_name(role)
        answer = _found(aws, "lambda", "get_function", FunctionName=name)
        if answer is None:
            continue
        configuration = answer["Configuration"]
        status.functions[role] = FunctionStatus(
            name=name,
            version=answer.get("Tags", {}).get(VERSION_TAG),
            code_sha256=configuration["CodeSha256"],
            last_modified=configuration.get("LastModified", ""),
            state=configuration.get("State", "Active"),
        )
    if "api" in status.functions:
        api_name = spec.function_name("api")
        url = _found(aws, "lambda", "get_function_url_config", FunctionName=api_name)
        if url is not None:
            status.endpoint = url["FunctionUrl"]
        for api in aws.read("apigatewayv2", "get_apis")["Items"]:
            if api["Name"] == spec.api_name:
                status.endpoint = api["ApiEndpoint"]
        groups = _found(aws, "elbv2", "describe_target_groups", Names=[spec.target_group_name])
        if groups:
            status.target_group_arn = groups["TargetGroups"][0]["TargetGroupArn"]
    schedule = _found(
        aws, "scheduler", "get_schedule", Name=spec.schedule_name, GroupName=spec.schedule_group
    )
    if schedule is not None:
        status.schedule = schedule["ScheduleExpression"]
        status.schedule_state = schedule.get("State")
        start = schedule.get("StartDate") or schedule.get("CreationDate")
        if status.schedule_state == "ENABLED" and isinstance(start, datetime):
            timezone = schedule.get("ScheduleExpressionTimezone")
            try:
                status.next_run = next_run(status.schedule, start, now, timezone)
            except CannotPredict as exc:
                status.next_run_unknown = str(exc)
    account = aws.read("sts", "get_caller_identity")
    partition = account["Arn"].split(":")[1]
    topic_arn = f"arn:{partition}:sns:{spec.region}:{account['Account']}:{spec.topic_name}"
    if _found(aws, "sns", "get_topic_attributes", TopicArn=topic_arn) is not None:
        status.topic_arn = topic_arn
        answer = aws.read("sns", "list_subscriptions_by_topic", TopicArn=topic_arn)
        status.subscriptions = [f"{s['Protocol']}:{s['Endpoint']}" for s in answer["Subscriptions"]]
    return status
