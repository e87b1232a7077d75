"""Only CloudFront reaches the origin: the load balancer's security group accepts the
origin port from CloudFront's origin-facing servers, through the AWS-managed prefix list,
instead of from everywhere (seed "CloudFront -> ALB end to end").

AWS facts (CloudFront developer guide, "Locations and IP address ranges of CloudFront edge
servers", section "Use the CloudFront managed prefix list"): the lists are named
``com.amazonaws.global.cloudfront.origin-facing`` (IPv4) and
``com.amazonaws.global.ipv6.cloudfront.origin-facing`` (IPv6); CloudFront keeps them
current; an inbound rule from the list lets every origin-facing server in, and only
removing the group's other inbound rules keeps everyone else out. A prefix list counts
against the group's rules quota by its weight (VPC user guide, "AWS-managed prefix list
weight"), so the rule is added once, never per range.

This is a network filter: any CloudFront distribution, anyone's, can still reach the
origin. Origin mutual TLS (``albca cloudfront origin-mtls``) is what admits only yours.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from albca.infra.calls import Aws
from albca.infra.errors import SetupRefused

__all__ = ["ORIGIN_FACING", "ORIGIN_FACING_IPV6", "restrict_to_cloudfront"]

ORIGIN_FACING = "com.amazonaws.global.cloudfront.origin-facing"
ORIGIN_FACING_IPV6 = "com.amazonaws.global.ipv6.cloudfront.origin-facing"
_EVERYWHERE = ("0.0.0.0/0", "::/0")
_DUPLICATE = ("InvalidPermission.Duplicate",)


def restrict_to_cloudfront(
    aws: Aws, *, lb_group: str, port: int = 443, ipv6: bool = False, remove_open: bool = False
) -> str:
    """Let CloudFront's origin-facing servers reach ``lb_group`` on tcp/``port``; with
    ``remove_open``, revoke the rules that let everyone reach that port."""
    if not 1 <= port <= 65535:
        raise SetupRefused(f"--port {port} is not a TCP port (1-65535)", rule="TCP port")
    names = [ORIGIN_FACING, *([ORIGIN_FACING_IPV6] if ipv6 else [])]
    lists = aws.read(
        "ec2",
        "describe_managed_prefix_lists",
        Filters=[{"Name": "prefix-list-name", "Values": names}],
    ).get("PrefixLists", [])
    ids = {entry["PrefixListName"]: entry["PrefixListId"] for entry in lists}
    missing = [name for name in names if name not in ids]
    if missing:
        raise SetupRefused(
            f"this region has no AWS-managed prefix list {missing[0]}",
            rule="CloudFront origin-facing prefix list",
        )
    (group,) = aws.read("ec2", "describe_security_groups", GroupIds=[lb_group])["SecurityGroups"]
    ingress = group.get("IpPermissions", [])
    done = []
    for name in names:
        list_id = ids[name]
        if _allows_prefix_list(ingress, port, list_id):
            done.append(f"{lb_group} already accepts tcp/{port} from {name}")
            continue
        aws.change(
            "ec2",
            "authorize_security_group_ingress",
            already_done=_DUPLICATE,
            GroupId=lb_group,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": port,
                    "ToPort": port,
                    "PrefixListIds": [
                        {"PrefixListId": list_id, "Description": "CloudFront origin-facing (albca)"}
                    ],
                }
            ],
        )
        done.append(f"{lb_group} accepts tcp/{port} from {name}")
    open_rules = _open_to_everyone(ingress, port)
    if open_rules and remove_open:
        aws.change(
            "ec2", "revoke_security_group_ingress", GroupId=lb_group, IpPermissions=open_rules
        )
        done.append(f"{lb_group} no longer accepts tcp/{port} from everywhere")
    elif open_rules:
        aws.note(
            f"{lb_group} still accepts tcp/{port} from everywhere, so anyone can skip "
            "CloudFront: add --remove-open to revoke those rules"
        )
    return "; ".join(done)


def _covers(permission: Mapping[str, Any], port: int) -> bool:
    protocol = str(permission.get("IpProtocol"))
    if protocol == "-1":
        return True
    if protocol not in ("tcp", "6"):
        return False
    return int(permission.get("FromPort", -1)) <= port <= int(permission.get("ToPort", -1))


def _allows_prefix_list(permissions: Iterable[Mapping[str, Any]], port: int, list_id: str) -> bool:
    return any(
        _covers(permission, port)
        and any(
            entry.get("PrefixListId") == list_id for entry in permission.get("PrefixListIds", [])
        )
        for permission in permissions
    )


def _open_to_everyone(permissions: Iterable[Mapping[str, Any]], port: int) -> list[dict[str, Any]]:
    """The parts of the rules that let tcp/``port`` in from anywhere, as revoke takes them
    (only the world-open ranges of each rule, so its other sources stay)."""
    found = []
    for permission in permissions:
        if not _covers(permission, port):
            continue
        v4 = [r for r in permission.get("IpRanges", []) if r.get("CidrIp") in _EVERYWHERE]
        v6 = [r for r in permission.get("Ipv6Ranges", []) if r.get("CidrIpv6") in _EVERYWHERE]
        if not v4 and not v6:
            continue
        rule: dict[str, Any] = {"IpProtocol": permission["IpProtocol"]}
        if permission["IpProtocol"] != "-1":
            rule["FromPort"], rule["ToPort"] = permission["FromPort"], permission["ToPort"]
        if v4:
            rule["IpRanges"] = [{"CidrIp": r["CidrIp"]} for r in v4]
        if v6:
            rule["Ipv6Ranges"] = [{"CidrIpv6": r["CidrIpv6"]} for r in v6]
        found.append(rule)
    return found
