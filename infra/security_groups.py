"""Security group rules for re-encryption: the load balancer may reach the instances on the
backend port, and nothing else is opened.

As in the Elastic Beanstalk recipe (seed 001): an ingress rule on the instances' group
from the load balancer's group, and an egress rule on the load balancer's group to the
instances' group, made as two separate rules so neither group has to exist before the
other (no circular dependency). A rule that is already there is success: albca looks
first, and ``InvalidPermission.Duplicate`` from a race counts as already there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from albca.infra.calls import Aws
from albca.infra.errors import SetupRefused

__all__ = ["open_backend_port"]

_DUPLICATE = ("InvalidPermission.Duplicate",)


def open_backend_port(aws: Aws, *, lb_group: str, instance_group: str, port: int) -> str:
    if not 1 <= port <= 65535:
        raise SetupRefused(f"--port {port} is not a TCP port (1-65535)", rule="TCP port")
    if lb_group == instance_group:
        raise SetupRefused(
            "--lb-sg and --instance-sg are the same group; give the load balancer's and the "
            "instances' groups",
            rule="two security groups",
        )
    described = aws.read("ec2", "describe_security_groups", GroupIds=[lb_group, instance_group])
    groups = {group["GroupId"]: group for group in described["SecurityGroups"]}
    lb, instances = groups[lb_group], groups[instance_group]
    if lb.get("VpcId") != instances.get("VpcId"):
        raise SetupRefused(
            f"{lb_group} is in {lb.get('VpcId')} and {instance_group} in "
            f"{instances.get('VpcId')}: a rule can only name a group of its own VPC here",
            rule="same VPC",
        )
    done = []
    if _allows(instances.get("IpPermissions", []), port, lb_group):
        done.append(f"{instance_group} already accepts tcp/{port} from {lb_group}")
    else:
        aws.change(
            "ec2",
            "authorize_security_group_ingress",
            already_done=_DUPLICATE,
            GroupId=instance_group,
            IpPermissions=[_permission(port, lb_group, "from the load balancer (albca)")],
        )
        done.append(f"{instance_group} accepts tcp/{port} from {lb_group}")
    if _allows(lb.get("IpPermissionsEgress", []), port, instance_group):
        done.append(f"{lb_group} already sends tcp/{port} to {instance_group}")
    else:
        aws.change(
            "ec2",
            "authorize_security_group_egress",
            already_done=_DUPLICATE,
            GroupId=lb_group,
            IpPermissions=[_permission(port, instance_group, "to the instances (albca)")],
        )
        done.append(f"{lb_group} sends tcp/{port} to {instance_group}")
    return "; ".join(done)


def _permission(port: int, group: str, description: str) -> dict[str, Any]:
    return {
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port,
        "UserIdGroupPairs": [{"GroupId": group, "Description": description}],
    }


def _allows(permissions: Iterable[Mapping[str, Any]], port: int, group: str) -> bool:
    """A rule of the group lets tcp/``port`` through to or from ``group`` (by group id)."""
    for permission in permissions:
        protocol = str(permission.get("IpProtocol"))
        if protocol not in ("tcp", "6", "-1"):
            continue
        if protocol != "-1" and not (
            int(permission.get("FromPort", -1)) <= port <= int(permission.get("ToPort", -1))
        ):
            continue
        if any(pair.get("GroupId") == group for pair in permission.get("UserIdGroupPairs", [])):
            return True
    return False
