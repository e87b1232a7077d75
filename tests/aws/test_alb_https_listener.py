"""``albca alb https-listener``: a load balancer with only HTTP gets an HTTPS listener with a
certificate from albca's CA (seed "Securing Lambda to ELB Connections"), under moto."""

from __future__ import annotations

import boto3
import pytest

from tests.aws.conftest import REGION, changes

pytestmark = pytest.mark.usefixtures("aws")

DOMAIN = "lambda-target.internal.example"


@pytest.fixture
def http_only(elbv2):
    """The seed's starting point: an ALB with an HTTP listener on 80 forwarding to targets."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.3.{n}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for n, z in ((1, "a"), (2, "b"))
    ]
    balancer = elbv2.create_load_balancer(Name="http-only", Subnets=subnets)["LoadBalancers"][0]
    group = elbv2.create_target_group(Name="app", Protocol="HTTP", Port=80, VpcId=vpc)[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    elbv2.create_listener(
        LoadBalancerArn=balancer["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
    )
    return balancer["LoadBalancerArn"], group


def https_listeners(elbv2, balancer):
    listeners = elbv2.describe_listeners(LoadBalancerArn=balancer)["Listeners"]
    return [item for item in listeners if item["Protocol"] == "HTTPS"]


def test_creates_the_https_listener_forwarding_to_the_http_targets_once(
    aws_cli, elbv2, http_only, recorded
):
    balancer, group = http_only
    args = ("alb", "https-listener", "--load-balancer", balancer, "--domain", DOMAIN)
    aws_cli.ok(*args)
    imported, created = changes(recorded)
    assert imported.operation == "ImportCertificate"
    assert created.operation == "CreateListener"
    (listener,) = https_listeners(elbv2, balancer)
    assert listener["Port"] == 443
    assert listener["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert listener["DefaultActions"][0]["TargetGroupArn"] == group
    certificate = listener["Certificates"][0]["CertificateArn"]
    got = boto3.client("acm", region_name=REGION).describe_certificate(CertificateArn=certificate)
    assert DOMAIN in got["Certificate"]["SubjectAlternativeNames"]
    recorded.clear()
    assert "Nothing to change" in aws_cli.ok(*args).stdout
    assert changes(recorded) == []


def test_the_dry_run_changes_nothing(aws_cli, elbv2, http_only, recorded):
    balancer, _ = http_only
    result = aws_cli.ok(
        "alb", "https-listener", "--load-balancer", balancer, "--domain", DOMAIN, "--dry-run"
    )
    assert "create_listener" in result.stdout
    assert changes(recorded) == []
    assert https_listeners(elbv2, balancer) == []


def test_an_http_listener_on_the_port_is_refused(aws_cli, http_only):
    balancer, _ = http_only
    message = aws_cli.fails(
        "alb", "https-listener", "--load-balancer", balancer, "--domain", DOMAIN, "--port", "80"
    )
    assert "has a HTTP listener" in message


def test_no_http_listener_to_take_targets_from_is_one_line(aws_cli, http_only):
    balancer, _ = http_only
    message = aws_cli.fails(
        "alb", "https-listener", "--load-balancer", balancer, "--domain", DOMAIN,
        "--from-port", "8080",
    )  # fmt: skip
    assert "no HTTP listener on port 8080" in message
