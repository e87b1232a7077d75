"""The API function's front doors, taken down: when ``deploy --front-door`` switches to
another door, and on ``undeploy``.

A door is found as deploy made it: the function URL of the deployment's API function, the
HTTP API named ``albca-<name>`` carrying the ``albca:deployment`` tag, the target group
``albca-<name>-api`` carrying it (with the listener rules forwarding to it). What is not
tagged as this deployment's is left alone. On a switch, the function's resource-based
statement that let the old door invoke it goes too (Lambda API reference,
RemovePermission), so nothing but the current door can call the function.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from albca.infra.calls import Aws
from albca.infra.deploy.lookup import forwards_to, found, tagged
from albca.infra.deploy.spec import DeploySpec, FrontDoor

__all__ = [
    "URL_PERMISSION",
    "URL_INVOKE_PERMISSION",
    "API_PERMISSION",
    "ALB_PERMISSION",
    "remove_other_doors",
    "remove_function_url",
    "remove_http_api",
    "remove_alb_target",
]

# The StatementIds deploy gives the permissions each door needs on the API function.
URL_PERMISSION = "albca-function-url"
URL_INVOKE_PERMISSION = "albca-function-url-invoke"
API_PERMISSION = "albca-http-api"
ALB_PERMISSION = "albca-alb"


def remove_other_doors(aws: Aws, spec: DeploySpec) -> None:
    """Take down every door of the deployment but ``spec.front_door``."""
    removers: dict[FrontDoor, Callable[..., None]] = {
        "url": remove_function_url,
        "http-api": remove_http_api,
        "alb": remove_alb_target,
    }
    for door, remove in removers.items():
        if door != spec.front_door:
            remove(aws, spec, revoke=True)


def remove_function_url(aws: Aws, spec: DeploySpec, *, revoke: bool) -> None:
    name = spec.function_name("api")
    if found(lambda: aws.read("lambda", "get_function_url_config", FunctionName=name)):
        aws.change("lambda", "delete_function_url_config", FunctionName=name)
    if revoke:
        _revoke(aws, spec, URL_PERMISSION, URL_INVOKE_PERMISSION)


def remove_http_api(aws: Aws, spec: DeploySpec, *, revoke: bool) -> None:
    for api in aws.read("apigatewayv2", "get_apis")["Items"]:
        if api["Name"] == spec.api_name and tagged(api.get("Tags"), spec):
            aws.change("apigatewayv2", "delete_api", ApiId=api["ApiId"])
    if revoke:
        _revoke(aws, spec, API_PERMISSION)


def remove_alb_target(aws: Aws, spec: DeploySpec, *, revoke: bool) -> None:
    """The listener rules forwarding to the deployment's target group, then the group."""
    groups = found(
        lambda: aws.read("elbv2", "describe_target_groups", Names=[spec.target_group_name])[
            "TargetGroups"
        ]
    )
    if groups:
        group = groups[0]
        tags = aws.read("elbv2", "describe_tags", ResourceArns=[group["TargetGroupArn"]])
        if tagged(tags["TagDescriptions"][0]["Tags"], spec):
            _remove_rules_and_group(aws, group)
    if revoke:
        _revoke(aws, spec, ALB_PERMISSION)


def _remove_rules_and_group(aws: Aws, group: dict[str, Any]) -> None:
    group_arn = str(group["TargetGroupArn"])
    for balancer in group.get("LoadBalancerArns", []):
        listeners = aws.read("elbv2", "describe_listeners", LoadBalancerArn=balancer)["Listeners"]
        for listener in listeners:
            rules = aws.read("elbv2", "describe_rules", ListenerArn=listener["ListenerArn"])
            for rule in rules["Rules"]:
                if not rule.get("IsDefault") and forwards_to(rule, group_arn):
                    aws.change("elbv2", "delete_rule", RuleArn=rule["RuleArn"])
    aws.change("elbv2", "delete_target_group", TargetGroupArn=group_arn)


def _revoke(aws: Aws, spec: DeploySpec, *sids: str) -> None:
    """Remove the API function's statements ``sids`` that are there."""
    name = spec.function_name("api")
    answer = found(lambda: aws.read("lambda", "get_policy", FunctionName=name))
    if answer is None:
        return
    present = {statement.get("Sid") for statement in json.loads(answer["Policy"])["Statement"]}
    for sid in sids:
        if sid in present:
            aws.change("lambda", "remove_permission", FunctionName=name, StatementId=sid)
