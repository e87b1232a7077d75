"""``albca cloudfront restrict-origin``: the origin's security group admits CloudFront's
origin-facing servers (the AWS-managed prefix list, which moto knows) instead of everyone."""

from __future__ import annotations

import boto3
import pytest

from tests.aws.conftest import REGION, changes

pytestmark = pytest.mark.usefixtures("aws")

# What AWS names the list (CloudFront developer guide, "Use the CloudFront managed prefix
# list"); stated here, not read from albca.
ORIGIN_FACING = "com.amazonaws.global.cloudfront.origin-facing"


@pytest.fixture
def open_group():
    """The seed's starting point: the ALB's group accepts 443 from everywhere (and SSH from
    one office, which must stay)."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="alb", Description="alb", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
             "IpRanges": [{"CidrIp": "0.0.0.0/0"}, {"CidrIp": "192.0.2.0/24"}]},
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
             "IpRanges": [{"CidrIp": "198.51.100.7/32"}]},
        ],
    )  # fmt: skip
    return ec2, group


def ingress(ec2, group):
    return ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]


def origin_facing_id(ec2):
    lists = ec2.describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [ORIGIN_FACING]}]
    )["PrefixLists"]
    return lists[0]["PrefixListId"]


def test_the_prefix_list_rule_is_added_once_and_the_open_rule_is_pointed_out(
    aws_cli, open_group, recorded
):
    ec2, group = open_group
    result = aws_cli.ok("cloudfront", "restrict-origin", "--lb-sg", group)
    (added,) = changes(recorded)
    assert added.operation == "AuthorizeSecurityGroupIngress"
    (permission,) = added.params["IpPermissions"]
    assert permission["PrefixListIds"][0]["PrefixListId"] == origin_facing_id(ec2)
    assert (permission["FromPort"], permission["ToPort"]) == (443, 443)
    assert "--remove-open" in result.stdout  # 0.0.0.0/0 is still there, and said so
    assert any(r.get("CidrIp") == "0.0.0.0/0" for p in ingress(ec2, group) for r in p["IpRanges"])
    recorded.clear()
    assert (
        "Nothing to change" in aws_cli.ok("cloudfront", "restrict-origin", "--lb-sg", group).stdout
    )
    assert changes(recorded) == []


def test_remove_open_revokes_only_the_world_open_ranges(aws_cli, open_group):
    ec2, group = open_group
    aws_cli.ok("cloudfront", "restrict-origin", "--lb-sg", group, "--remove-open")
    ranges = {r["CidrIp"] for p in ingress(ec2, group) for r in p.get("IpRanges", [])}
    assert "0.0.0.0/0" not in ranges
    assert {"192.0.2.0/24", "198.51.100.7/32"} <= ranges  # other sources stay
    lists = {e["PrefixListId"] for p in ingress(ec2, group) for e in p.get("PrefixListIds", [])}
    assert origin_facing_id(ec2) in lists


def test_the_dry_run_lists_the_calls_and_changes_nothing(aws_cli, open_group, recorded):
    ec2, group = open_group
    before = ingress(ec2, group)
    result = aws_cli.ok(
        "cloudfront", "restrict-origin", "--lb-sg", group, "--remove-open", "--dry-run"
    )
    assert "Dry run" in result.stdout
    assert "authorize_security_group_ingress" in result.stdout
    assert "revoke_security_group_ingress" in result.stdout
    assert changes(recorded) == []
    assert ingress(ec2, group) == before


def test_an_unknown_group_is_one_line(aws_cli):
    assert "InvalidGroup.NotFound" in aws_cli.fails(
        "cloudfront", "restrict-origin", "--lb-sg", "sg-00000000000000000"
    )
