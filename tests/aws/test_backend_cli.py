"""``albca backend``: certificates for the instances, HTTPS target groups, Classic ELB key
pinning, security group rules and .ebextensions, through the CLI against moto."""

from __future__ import annotations

import stat
from datetime import UTC, datetime

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import verification

from albca.infra.cert_checks import certificate_body
from tests.aws.conftest import REGION, changes

pytestmark = pytest.mark.usefixtures("aws")


def load(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def public_key_of(key_path):
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    return key.public_key()


# -- backend cert ------------------------------------------------------------------------


def test_self_signed_backend_certificate_then_nothing_to_change(aws_cli, tmp_path):
    out = tmp_path / "certs"
    args = ("backend", "cert", "--dns", "app.internal", "--self-signed", "--out", str(out))
    first = aws_cli.ok(*args)
    assert "wrote" in first.stdout
    certificate = load(out / "app.internal.crt.pem")
    assert certificate.issuer == certificate.subject
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["app.internal"]
    assert stat.S_IMODE((out / "app.internal.key.pem").stat().st_mode) == 0o600
    assert certificate.public_key() == public_key_of(out / "app.internal.key.pem")
    second = aws_cli.ok(*args)
    assert second.stdout.startswith("Nothing to change")
    assert load(out / "app.internal.crt.pem") == certificate


def test_renewal_keeps_the_key_when_asked(aws_cli, tmp_path):
    out = tmp_path / "certs"
    args = ("backend", "cert", "--dns", "app.internal", "--self-signed", "--out", str(out))
    aws_cli.ok(*args)
    before = load(out / "app.internal.crt.pem")
    kept = aws_cli.ok(*args, "--renew", "--keep-key")
    after = load(out / "app.internal.crt.pem")
    assert "kept the key" in kept.stdout
    assert after.serial_number != before.serial_number
    assert after.public_key() == before.public_key()
    renewed = aws_cli.ok(*args, "--renew")
    assert "the key changed" in renewed.stdout
    assert load(out / "app.internal.crt.pem").public_key() != before.public_key()


def test_ca_issued_backend_certificate_chains_to_the_bundle(aws_cli, tmp_path):
    out = tmp_path / "certs"
    aws_cli.ok("backend", "cert", "--dns", "app.internal", "--out", str(out))
    chain = x509.load_pem_x509_certificates((out / "app.internal.fullchain.pem").read_bytes())
    bundle = x509.load_pem_x509_certificates(aws_cli.ok("bundle").stdout.encode())
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store(bundle))
        .time(datetime.now(UTC))
        .build_server_verifier(x509.DNSName("app.internal"))
    )
    verifier.verify(chain[0], chain[1:])
    # A self-signed run over it is another kind of certificate: refused without --force.
    message = aws_cli.fails(
        "backend", "cert", "--dns", "app.internal", "--self-signed", "--out", str(out)
    )
    assert "use --force" in message


def test_backend_cert_refuses_a_key_that_does_not_match(aws_cli, tmp_path):
    out = tmp_path / "certs"
    for name in ("a.internal", "b.internal"):
        aws_cli.ok("backend", "cert", "--dns", name, "--self-signed", "--out", str(out))
    (out / "a.internal.key.pem").write_bytes((out / "b.internal.key.pem").read_bytes())
    message = aws_cli.fails(
        "backend", "cert", "--dns", "a.internal", "--self-signed", "--out", str(out)
    )
    assert "the private key does not match the certificate" in message


def test_backend_cert_for_other_names_needs_force(aws_cli, tmp_path):
    out = tmp_path / "certs"
    base = ("backend", "cert", "--self-signed", "--out", str(out), "--name", "web")
    aws_cli.ok(*base, "--dns", "a.internal")
    message = aws_cli.fails(*base, "--dns", "b.internal")
    assert "is for a.internal, not b.internal" in message
    aws_cli.ok(*base, "--dns", "b.internal", "--force")


# -- target group ------------------------------------------------------------------------


@pytest.fixture
def vpc_id(aws):
    import boto3

    return boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.1.0.0/16")["Vpc"][
        "VpcId"
    ]


def test_https_target_group_is_created_once_and_says_alb_does_not_authenticate(
    aws_cli, elbv2, vpc_id, recorded
):
    args = ("backend", "target-group", "--name", "app-https", "--vpc-id", vpc_id,
            "--health-path", "/health", "--region", REGION)  # fmt: skip
    result = aws_cli.ok(*args)
    assert "does NOT authenticate backend certificates" in result.stdout
    (create,) = changes(recorded)
    assert create.params == {
        "Name": "app-https",
        "Protocol": "HTTPS",
        "Port": 443,
        "VpcId": vpc_id,
        "TargetType": "instance",
        "HealthCheckEnabled": True,
        "HealthCheckProtocol": "HTTPS",
        "HealthCheckPort": "traffic-port",
        "HealthCheckPath": "/health",
        "Matcher": {"HttpCode": "200"},
    }
    (group,) = elbv2.describe_target_groups(Names=["app-https"])["TargetGroups"]
    assert (group["Protocol"], group["HealthCheckProtocol"]) == ("HTTPS", "HTTPS")
    recorded.clear()
    again = aws_cli.ok(*args)
    assert "Nothing to change" in again.stdout
    assert "does NOT authenticate" in again.stdout
    assert changes(recorded) == []
    aws_cli.ok("backend", "target-group", "--name", "app-https", "--health-path", "/ready")
    (modify,) = changes(recorded)
    assert modify.operation == "ModifyTargetGroup"
    assert elbv2.describe_target_groups(Names=["app-https"])["TargetGroups"][0][
        "HealthCheckPath"
    ] == ("/ready")


def test_http_target_group_cannot_become_https(aws_cli, elbv2, vpc_id, recorded):
    elbv2.create_target_group(Name="plain", Protocol="HTTP", Port=80, VpcId=vpc_id)
    message = aws_cli.fails("backend", "target-group", "--name", "plain")
    assert "is HTTP:80, not HTTPS:443" in message
    assert changes(recorded) == []


def test_new_target_group_needs_a_vpc(aws_cli):
    assert "--vpc-id" in aws_cli.fails("backend", "target-group", "--name", "nowhere")


def test_target_group_dry_run_makes_nothing(aws_cli, elbv2, vpc_id, recorded):
    result = aws_cli.ok("backend", "target-group", "--name", "dry", "--vpc-id", vpc_id, "--dry-run")
    assert "elbv2.create_target_group" in result.stdout
    assert changes(recorded) == []
    with pytest.raises(elbv2.exceptions.TargetGroupNotFoundException):
        elbv2.describe_target_groups(Names=["dry"])


# -- Classic ELB pinning -----------------------------------------------------------------


@pytest.fixture
def classic(elb):
    elb.create_load_balancer(
        LoadBalancerName="classic",
        Listeners=[
            {
                "Protocol": "TCP",
                "LoadBalancerPort": 443,
                "InstanceProtocol": "SSL",
                "InstancePort": 443,
            },
            {
                "Protocol": "HTTP",
                "LoadBalancerPort": 80,
                "InstanceProtocol": "HTTP",
                "InstancePort": 8080,
            },
        ],
        AvailabilityZones=[f"{REGION}a"],
    )
    return "classic"


@pytest.fixture
def backend_certs(aws_cli, tmp_path):
    out = tmp_path / "backend"
    for name in ("old.internal", "new.internal"):
        aws_cli.ok("backend", "cert", "--dns", name, "--self-signed", "--out", str(out))
    return out / "old.internal.crt.pem", out / "new.internal.crt.pem"


def pinned_keys(elb, name="classic", port=443) -> set[str]:
    """The certificate bodies the ELB accepts on the port, read back from the policies."""
    (described,) = elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"]
    policies = {
        p["PolicyName"]: p
        for p in elb.describe_load_balancer_policies(LoadBalancerName=name)["PolicyDescriptions"]
    }
    applied = next(
        (
            b["PolicyNames"]
            for b in described["BackendServerDescriptions"]
            if b["InstancePort"] == port
        ),
        [],
    )
    bodies = set()
    for policy_name in applied:
        for attribute in policies[policy_name]["PolicyAttributeDescriptions"]:
            if attribute["AttributeName"] == "PublicKeyPolicyName":
                key_policy = policies[attribute["AttributeValue"]]
                bodies.add(key_policy["PolicyAttributeDescriptions"][0]["AttributeValue"])
    return bodies


def body(path) -> str:
    return certificate_body(load(path))


def test_pin_then_rollover_keeps_both_keys_until_the_old_is_unpinned(
    aws_cli, elb, classic, backend_certs, recorded
):
    old, new = backend_certs
    pin = ("backend", "pin", "--elb", classic, "--port", "443", "--region", REGION)
    aws_cli.ok(*pin, "--cert", str(old))
    assert pinned_keys(elb) == {body(old)}
    ops = [c.operation for c in changes(recorded)]
    assert ops == [
        "CreateLoadBalancerPolicy",
        "CreateLoadBalancerPolicy",
        "SetLoadBalancerPoliciesForBackendServer",
    ]
    recorded.clear()
    assert "already pinned" in aws_cli.ok(*pin, "--cert", str(old)).stdout
    assert changes(recorded) == []

    aws_cli.ok(*pin, "--cert", str(new))
    assert pinned_keys(elb) == {body(old), body(new)}  # both accepted during the switch
    recorded.clear()
    aws_cli.ok("backend", "unpin", "--elb", classic, "--port", "443", "--cert", str(old))
    assert pinned_keys(elb) == {body(new)}
    deleted = [c.params["PolicyName"] for c in changes(recorded)
               if c.operation == "DeleteLoadBalancerPolicy"]  # fmt: skip
    assert any(name.startswith("albca-key-") for name in deleted)
    policies = elb.describe_load_balancer_policies(LoadBalancerName=classic)["PolicyDescriptions"]
    assert len(policies) == 2  # the new key and the one authentication policy listing it


def test_pin_keeps_a_key_pinned_by_someone_else(aws_cli, elb, classic, backend_certs):
    old, new = backend_certs
    # What the Elastic Beanstalk recipe leaves behind: its own two policies on port 443.
    elb.create_load_balancer_policy(
        LoadBalancerName=classic, PolicyName="backendkey", PolicyTypeName="PublicKeyPolicyType",
        PolicyAttributes=[{"AttributeName": "PublicKey", "AttributeValue": body(old)}],
    )  # fmt: skip
    elb.create_load_balancer_policy(
        LoadBalancerName=classic,
        PolicyName="backendencryption",
        PolicyTypeName="BackendServerAuthenticationPolicyType",
        PolicyAttributes=[{"AttributeName": "PublicKeyPolicyName", "AttributeValue": "backendkey"}],
    )
    elb.set_load_balancer_policies_for_backend_server(
        LoadBalancerName=classic, InstancePort=443, PolicyNames=["backendencryption"]
    )
    aws_cli.ok("backend", "pin", "--elb", classic, "--cert", str(new))
    assert pinned_keys(elb) == {body(old), body(new)}
    # The old key is recognised by its content, whatever its policy is called.
    aws_cli.ok("backend", "unpin", "--elb", classic, "--cert", str(old))
    assert pinned_keys(elb) == {body(new)}


def test_unpinning_the_last_key_needs_allow_none(aws_cli, elb, classic, backend_certs, recorded):
    old, _ = backend_certs
    aws_cli.ok("backend", "pin", "--elb", classic, "--cert", str(old))
    recorded.clear()
    message = aws_cli.fails("backend", "unpin", "--elb", classic, "--cert", str(old))
    assert "last key pinned" in message
    assert changes(recorded) == []
    aws_cli.ok("backend", "unpin", "--elb", classic, "--cert", str(old), "--allow-none")
    assert pinned_keys(elb) == set()


@pytest.mark.parametrize(
    ("port", "expected"),
    [("8080", "talks HTTP to instance port 8080"), ("8443", "no listener of the ELB classic")],
)
def test_pin_refuses_a_wrong_port(aws_cli, classic, backend_certs, recorded, port, expected):
    message = aws_cli.fails(
        "backend", "pin", "--elb", classic, "--port", port, "--cert", str(backend_certs[0])
    )
    assert expected in message
    assert changes(recorded) == []


def test_pin_unknown_elb_is_one_line(aws_cli, backend_certs):
    message = aws_cli.fails("backend", "pin", "--elb", "nope", "--cert", str(backend_certs[0]))
    assert "LoadBalancerNotFound" in message


def test_pin_dry_run_prints_and_makes_nothing(aws_cli, elb, classic, backend_certs, recorded):
    result = aws_cli.ok(
        "backend", "pin", "--elb", classic, "--cert", str(backend_certs[0]), "--dry-run"
    )
    assert "elb.set_load_balancer_policies_for_backend_server" in result.stdout
    assert changes(recorded) == []
    assert pinned_keys(elb) == set()


def test_the_fake_refuses_deleting_a_policy_in_use(elb, classic, backend_certs):
    elb.create_load_balancer_policy(
        LoadBalancerName=classic, PolicyName="k", PolicyTypeName="PublicKeyPolicyType",
        PolicyAttributes=[{"AttributeName": "PublicKey", "AttributeValue": body(backend_certs[0])}],
    )  # fmt: skip
    elb.create_load_balancer_policy(
        LoadBalancerName=classic, PolicyName="auth",
        PolicyTypeName="BackendServerAuthenticationPolicyType",
        PolicyAttributes=[{"AttributeName": "PublicKeyPolicyName", "AttributeValue": "k"}],
    )  # fmt: skip
    elb.set_load_balancer_policies_for_backend_server(
        LoadBalancerName=classic, InstancePort=443, PolicyNames=["auth"]
    )
    with pytest.raises(elb.exceptions.InvalidConfigurationRequestException):
        elb.delete_load_balancer_policy(LoadBalancerName=classic, PolicyName="auth")
    with pytest.raises(elb.exceptions.DuplicatePolicyNameException):
        elb.create_load_balancer_policy(
            LoadBalancerName=classic, PolicyName="k", PolicyTypeName="PublicKeyPolicyType",
            PolicyAttributes=[{"AttributeName": "PublicKey", "AttributeValue": "bm90IGEga2V5"}],
        )  # fmt: skip
    with pytest.raises(elb.exceptions.PolicyNotFoundException):
        elb.set_load_balancer_policies_for_backend_server(
            LoadBalancerName=classic, InstancePort=443, PolicyNames=["missing"]
        )


# -- security groups ---------------------------------------------------------------------


@pytest.fixture
def groups(aws, vpc_id):
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION)
    lb = ec2.create_security_group(GroupName="lb", Description="lb", VpcId=vpc_id)["GroupId"]
    instances = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc_id)[
        "GroupId"
    ]
    return ec2, lb, instances


def test_open_adds_ingress_and_egress_as_two_rules_once(aws_cli, groups, recorded):
    _ec2, lb, instances = groups
    args = ("backend", "open", "--lb-sg", lb, "--instance-sg", instances, "--port", "443")
    aws_cli.ok(*args)
    ingress, egress = changes(recorded)
    assert ingress.operation == "AuthorizeSecurityGroupIngress"
    assert ingress.params["GroupId"] == instances
    assert ingress.params["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == lb
    assert egress.operation == "AuthorizeSecurityGroupEgress"
    assert egress.params["GroupId"] == lb
    assert egress.params["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == instances
    recorded.clear()
    assert "Nothing to change" in aws_cli.ok(*args).stdout
    assert changes(recorded) == []


def test_open_refuses_the_same_group_twice(aws_cli, groups):
    _, lb, _ = groups
    assert "same group" in aws_cli.fails("backend", "open", "--lb-sg", lb, "--instance-sg", lb)


def test_open_unknown_group_is_one_line(aws_cli, groups):
    _, lb, _ = groups
    message = aws_cli.fails("backend", "open", "--lb-sg", lb, "--instance-sg", "sg-0000000000")
    assert "InvalidGroup.NotFound" in message


def test_duplicate_rule_from_aws_counts_as_already_there(groups):
    from albca.infra.calls import Aws
    from albca.infra.clients import AwsClients

    ec2, lb, instances = groups
    permission = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                   "UserIdGroupPairs": [{"GroupId": lb}]}]  # fmt: skip
    ec2.authorize_security_group_ingress(GroupId=instances, IpPermissions=permission)
    aws = Aws(AwsClients(region=REGION))
    response = aws.change(
        "ec2",
        "authorize_security_group_ingress",
        already_done=("InvalidPermission.Duplicate",),
        GroupId=instances,
        IpPermissions=permission,
    )
    assert response is None
    assert not aws.changed


# -- .ebextensions -----------------------------------------------------------------------


def test_ebextensions_hold_the_real_certificate_and_settings(aws_cli, backend_certs, tmp_path):
    cert = backend_certs[0]
    out = tmp_path / "app" / ".ebextensions"
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-aaaa-bbbb-cccc-1234567890ab"
    args = ("backend", "ebextensions", "--cert", str(cert), "--out", str(out),
            "--health-path", "/health", "--ssl-certificate-arn", arn,
            "--vpc-id", "vpc-0123456789abcdef0")  # fmt: skip
    aws_cli.ok(*args)
    configs = {path.name: yaml.safe_load(path.read_text()) for path in out.iterdir()}
    assert set(configs) == {
        "https-lbterminate.config",
        "https-reencrypt.config",
        "https-lbsecuritygroup.config",
        "https-backendsecurity.config",
        "https-backendauth.config",
    }
    settings = configs["https-reencrypt.config"]["option_settings"]
    assert settings["aws:elb:listener:443"] == {"InstancePort": 443, "InstanceProtocol": "HTTPS"}
    assert settings["aws:elasticbeanstalk:application"] == {
        "Application Healthcheck URL": "HTTPS:443/health"
    }
    auth = configs["https-backendauth.config"]["option_settings"]
    assert auth["aws:elb:policies:backendencryption"] == {
        "PublicKeyPolicyNames": "backendkey",
        "InstancePorts": 443,
    }
    pem = auth["aws:elb:policies:backendkey"]["PublicKey"]
    assert x509.load_pem_x509_certificate(pem.encode()) == load(cert)
    terminate = configs["https-lbterminate.config"]["option_settings"]["aws:elb:listener:443"]
    assert terminate == {"SSLCertificateId": arn, "ListenerProtocol": "HTTPS"}
    resources = configs["https-backendsecurity.config"]["Resources"]
    assert resources["httpsFromLoadBalancerSG"]["Properties"]["FromPort"] == 443
    assert resources["httpsToBackendInstances"]["Type"] == "AWS::EC2::SecurityGroupEgress"

    assert "Nothing to change" in aws_cli.ok(*args).stdout
    (out / "https-reencrypt.config").write_text("option_settings: {}\n")
    assert "use --force" in aws_cli.fails(*args)
    aws_cli.ok(*args, "--force")


def test_ebextensions_say_the_aws_elb_namespaces_need_a_classic_environment(
    aws_cli, backend_certs, tmp_path
):
    out = tmp_path / "classic"
    result = aws_cli.ok("backend", "ebextensions", "--cert", str(backend_certs[0]),
                        "--out", str(out))  # fmt: skip
    said = " ".join(result.stdout.split())
    assert "work only in an environment created with a Classic Load Balancer" in said
    assert "--load-balancer application" in said
    for path in out.iterdir():
        config = yaml.safe_load(path.read_text())
        assert config["option_settings"]["aws:elasticbeanstalk:environment"] == {
            "LoadBalancerType": "classic"
        }


def test_ebextensions_for_an_alb_environment_use_elbv2_and_an_https_process(
    aws_cli, backend_certs, tmp_path
):
    out = tmp_path / "alb" / ".ebextensions"
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-aaaa-bbbb-cccc-1234567890ab"
    result = aws_cli.ok(
        "backend", "ebextensions", "--cert", str(backend_certs[0]), "--out", str(out),
        "--load-balancer", "application", "--port", "8443", "--health-path", "/health",
        "--ssl-certificate-arn", arn, "--vpc-id", "vpc-0123456789abcdef0",
    )  # fmt: skip
    assert "accepts any certificate they present" in " ".join(result.stdout.split())
    configs = {path.name: yaml.safe_load(path.read_text()) for path in out.iterdir()}
    assert set(configs) == {
        "https-reencrypt.config",
        "https-lbsecuritygroup.config",
        "https-backendsecurity.config",
    }  # no key pinning on an ALB: no https-backendauth.config
    settings = configs["https-reencrypt.config"]["option_settings"]
    assert settings["aws:elasticbeanstalk:environment"] == {"LoadBalancerType": "application"}
    assert settings["aws:elbv2:listener:443"] == {
        "ListenerEnabled": "true",
        "Protocol": "HTTPS",
        "SSLCertificateArns": arn,
        "DefaultProcess": "default",
    }
    assert settings["aws:elasticbeanstalk:environment:process:default"] == {
        "Port": "8443",
        "Protocol": "HTTPS",
        "HealthCheckPath": "/health",
    }
    assert not any(key.startswith("aws:elb:") for c in configs.values()
                   for key in (c.get("option_settings") or {}))  # fmt: skip
    groups = configs["https-lbsecuritygroup.config"]["option_settings"]
    assert "aws:elbv2:loadbalancer" in groups
    assert "bogus" in aws_cli.fails(
        "backend", "ebextensions", "--cert", str(backend_certs[0]), "--out", str(out),
        "--load-balancer", "bogus",
    )  # fmt: skip


def test_the_load_balancer_group_egresses_only_to_the_instances(aws_cli, backend_certs, tmp_path):
    """EC2 gives a new VPC security group an allow-all egress rule, removed only when the
    template states egress (CloudFormation, AWS::EC2::SecurityGroup)."""
    out = tmp_path / "sg"
    aws_cli.ok("backend", "ebextensions", "--cert", str(backend_certs[0]), "--out", str(out),
               "--vpc-id", "vpc-0123456789abcdef0")  # fmt: skip
    group = yaml.safe_load((out / "https-lbsecuritygroup.config").read_text())
    egress = group["Resources"]["loadbalancersg"]["Properties"]["SecurityGroupEgress"]
    assert egress == [{"IpProtocol": "-1", "CidrIp": "127.0.0.1/32"}]  # allows nothing
    rules = yaml.safe_load((out / "https-backendsecurity.config").read_text())["Resources"]
    (out_rule,) = [r for r in rules.values() if r["Type"] == "AWS::EC2::SecurityGroupEgress"]
    assert out_rule["Properties"]["FromPort"] == out_rule["Properties"]["ToPort"] == 443
    assert out_rule["Properties"]["DestinationSecurityGroupId"] == {
        "Fn::GetAtt": ["AWSEBSecurityGroup", "GroupId"]
    }


def test_ebextensions_refuse_bad_input(aws_cli, backend_certs, tmp_path):
    cert = str(backend_certs[0])
    out = str(tmp_path / "eb")
    assert "not an ACM certificate ARN" in aws_cli.fails(
        "backend", "ebextensions", "--cert", cert, "--out", out, "--ssl-certificate-arn", "arn:x"
    )
    not_a_cert = tmp_path / "note.txt"
    not_a_cert.write_text("hello")
    assert "not a PEM certificate" in aws_cli.fails(
        "backend", "ebextensions", "--cert", str(not_a_cert), "--out", out
    )


def test_region_is_the_option_then_albca_aws_region(aws_cli, monkeypatch):
    import albca.compose.aws as aws

    regions = []
    made = aws.aws_clients

    def spy(region):
        regions.append(region)
        return made(region)

    monkeypatch.setattr(aws, "aws_clients", spy)
    args = ("backend", "open", "--lb-sg", "sg-1", "--instance-sg", "sg-2", "--dry-run")
    aws_cli(*args, env={"ALBCA_AWS_REGION": "eu-west-1"})
    aws_cli(*args, "--region", "ap-south-1", env={"ALBCA_AWS_REGION": "eu-west-1"})
    assert regions == ["eu-west-1", "ap-south-1"]


# -- --json (issue 16, point 6) ----------------------------------------------------------


def test_open_prints_its_changes_as_json(aws_cli, groups):
    _, lb, instances = groups
    args = ("backend", "open", "--lb-sg", lb, "--instance-sg", instances)
    planned = aws_cli.json(*args, "--dry-run")
    assert planned["dry_run"] is True
    assert len(planned["changes"]) == 2
    first = aws_cli.json(*args)
    assert first["dry_run"] is False
    assert [change.split()[0] for change in first["changes"]] == [
        "ec2.authorize_security_group_ingress",
        "ec2.authorize_security_group_egress",
    ]
    assert first["summary"]
    again = aws_cli.json(*args)
    assert again["changes"] == []


def test_backend_cert_and_ebextensions_print_json(aws_cli, tmp_path):
    out = tmp_path / "certs"
    args = ("backend", "cert", "--dns", "app.internal", "--self-signed", "--out", str(out))
    first = aws_cli.json(*args)
    assert first["changed"] is True
    assert first["files"]["certificate"] == str(out / "app.internal.crt.pem")
    assert load(out / "app.internal.crt.pem")  # the file it names is there
    assert aws_cli.json(*args)["changed"] is False
    eb = tmp_path / ".ebextensions"
    written = aws_cli.json(
        "backend", "ebextensions", "--cert", str(out / "app.internal.crt.pem"), "--out", str(eb)
    )
    assert written["written"] == written["files"]
    assert sorted(path.name for path in eb.iterdir()) == written["files"]
    again = aws_cli.json(
        "backend", "ebextensions", "--cert", str(out / "app.internal.crt.pem"), "--out", str(eb)
    )
    assert again["written"] == []
