"""What deploy, undeploy and status share: finding a resource (None when AWS says it is
not there), reading tags and policy documents, the caller's account."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from albca.infra.calls import Aws
from albca.infra.deploy.spec import DEPLOYMENT_TAG, Account, DeploySpec
from albca.infra.errors import AwsNotFound

__all__ = ["account_of", "document", "forwards_to", "found", "tag_list", "tagged"]


def found(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except AwsNotFound:
        return None


def account_of(aws: Aws, region: str) -> Account:
    identity = aws.read("sts", "get_caller_identity")
    return Account.from_caller_arn(identity["Arn"], identity["Account"], region)


def document(value: Any) -> Any:
    """IAM answers policy documents URL-encoded; boto3 usually decodes them already."""
    if isinstance(value, str):
        return json.loads(urllib.parse.unquote(value))
    return value


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def forwards_to(rule: Mapping[str, Any], group_arn: str) -> bool:
    for action in rule.get("Actions", []):
        if action.get("TargetGroupArn") == group_arn:
            return True
        groups = action.get("ForwardConfig", {}).get("TargetGroups", [])
        if any(group.get("TargetGroupArn") == group_arn for group in groups):
            return True
    return False


def tagged(tags: Any, spec: DeploySpec) -> bool:
    if isinstance(tags, list):
        tags = {tag["Key"]: tag["Value"] for tag in tags}
    return bool((tags or {}).get(DEPLOYMENT_TAG) == spec.name)
