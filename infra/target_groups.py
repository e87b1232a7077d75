"""An HTTPS target group with an HTTPS health check: the ALB re-encrypts to the targets.

An ALB does NOT authenticate the targets' certificates (AWS_NOTES): it encrypts, and
accepts whatever certificate a target presents, self-signed or expired. Every message
about HTTPS target groups says so; backend authentication needs a Classic ELB with
pinned keys (``infra.classic_elb``).

A target group's protocol, port and VPC cannot change after creation; its health check
can. A second run with the same settings changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from albca.infra.calls import Aws
from albca.infra.errors import AwsNotFound, SetupRefused
from albca.trust_bundle.planning import PLACEHOLDER

__all__ = ["HttpsTargetGroup", "ensure_https_target_group"]

_NAME_LENGTH = 32


@dataclass(frozen=True)
class HttpsTargetGroup:
    name: str
    port: int = 443
    vpc_id: str | None = None  # needed to create; checked when given for an existing one
    health_check_path: str = "/"
    health_check_port: str = "traffic-port"
    matcher: str = "200"
    target_type: str = "instance"

    def __post_init__(self) -> None:
        if not 1 <= len(self.name) <= _NAME_LENGTH or self.name.startswith("-"):
            raise SetupRefused(
                f"--name {self.name!r}: a target group name is 1-32 characters, not starting "
                "with a hyphen",
                rule="target group name",
            )
        if not 1 <= self.port <= 65535:
            raise SetupRefused(f"--port {self.port} is not a TCP port", rule="TCP port")
        if not self.health_check_path.startswith("/"):
            raise SetupRefused(
                f"--health-path {self.health_check_path!r} must start with /",
                rule="health check path",
            )
        if self.health_check_port != "traffic-port" and not (
            self.health_check_port.isdigit() and 1 <= int(self.health_check_port) <= 65535
        ):
            raise SetupRefused(
                f"--health-port {self.health_check_port!r} is not a port or traffic-port",
                rule="health check port",
            )

    def health_check(self) -> dict[str, Any]:
        return {
            "HealthCheckProtocol": "HTTPS",
            "HealthCheckPort": self.health_check_port,
            "HealthCheckPath": self.health_check_path,
            "Matcher": {"HttpCode": self.matcher},
        }


def ensure_https_target_group(aws: Aws, spec: HttpsTargetGroup) -> str:
    """Create the target group, or bring its health check in line; returns its state."""
    existing = _find(aws, spec.name)
    if existing is None:
        if spec.vpc_id is None:
            raise SetupRefused(
                f"target group {spec.name} does not exist; give --vpc-id to create it",
                rule="VPC of a new target group",
            )
        created = aws.change(
            "elbv2",
            "create_target_group",
            Name=spec.name,
            Protocol="HTTPS",
            Port=spec.port,
            VpcId=spec.vpc_id,
            TargetType=spec.target_type,
            HealthCheckEnabled=True,
            **spec.health_check(),
        )
        arn = created["TargetGroups"][0]["TargetGroupArn"] if created else PLACEHOLDER
        return f"target group {spec.name} ({arn}): {_describe(spec)}"
    _require_unchangeable_match(existing, spec)
    wanted = spec.health_check()
    if any(existing.get(key) != value for key, value in wanted.items()):
        aws.change(
            "elbv2",
            "modify_target_group",
            TargetGroupArn=existing["TargetGroupArn"],
            HealthCheckEnabled=True,
            **wanted,
        )
    return f"target group {spec.name} ({existing['TargetGroupArn']}): {_describe(spec)}"


def _find(aws: Aws, name: str) -> Mapping[str, Any] | None:
    try:
        response = aws.read("elbv2", "describe_target_groups", Names=[name])
    except AwsNotFound:
        return None
    (group,) = response["TargetGroups"]
    found: Mapping[str, Any] = group
    return found


def _require_unchangeable_match(existing: Mapping[str, Any], spec: HttpsTargetGroup) -> None:
    name = spec.name
    if existing.get("Protocol") != "HTTPS" or existing.get("Port") != spec.port:
        raise SetupRefused(
            f"target group {name} is {existing.get('Protocol')}:{existing.get('Port')}, not "
            f"HTTPS:{spec.port}; a target group's protocol and port cannot change: give a new "
            "--name and move the listener's forward action to it",
            rule="target group protocol and port",
        )
    if spec.vpc_id is not None and existing.get("VpcId") != spec.vpc_id:
        raise SetupRefused(
            f"target group {name} is in {existing.get('VpcId')}, not {spec.vpc_id}",
            rule="target group VPC",
        )


def _describe(spec: HttpsTargetGroup) -> str:
    return (
        f"HTTPS:{spec.port}, health check HTTPS {spec.health_check_port}{spec.health_check_path} "
        f"expecting {spec.matcher}"
    )
