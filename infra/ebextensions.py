"""The ``.ebextensions/*.config`` files of Elastic Beanstalk's end-to-end encryption recipe
(seed 001, "Configuring End-to-End Encryption in a Load Balanced Elastic Beanstalk
Environment"; AWS_NOTES, "Backend re-encryption"), filled in with the real values.

The ``aws:elb:*`` namespaces of the recipe configure a Classic Load Balancer and work only
in an environment created with one: the load balancer type is chosen when the environment
is created and cannot change after, and new environments get an Application Load Balancer
by default (Elastic Beanstalk Developer Guide, "Configuring an Application Load
Balancer"). ``load_balancer="application"`` writes the ALB environment's equivalent
instead (``aws:elbv2:listener:443``, ``aws:elasticbeanstalk:environment:process:default``;
"General options for all environments" in the option reference), where the load balancer
encrypts to the instances but pins no key: an ALB accepts any instance certificate.
Each file sets ``aws:elasticbeanstalk:environment: LoadBalancerType`` so that a file meant
for the other type is refused at creation instead of silently doing nothing.

- ``https-reencrypt.config``: listener 443 forwards HTTPS to the instance port; the health
  check goes over HTTPS too.
- ``https-backendauth.config`` (Classic only): a public key policy holding the instances'
  certificate and a backend encryption policy that trusts only it on the instance port.
- ``https-lbterminate.config`` (with an ACM certificate ARN): the HTTPS listener itself.
- ``https-lbsecuritygroup.config`` and ``https-backendsecurity.config`` (with a VPC id):
  a load balancer security group, and the rules between it and the instances' group as
  separate resources (no circular dependency). The group's own egress is set to nothing,
  which removes EC2's default allow-all egress rule (CloudFormation,
  ``AWS::EC2::SecurityGroup``: the default rule is removed only when an egress rule is
  given; 127.0.0.1/32 allows no traffic): the one egress is then the instance port.

Values are written as JSON strings, which YAML reads as they are (an ARN's colons, a path
with spaces). A second run with the same inputs rewrites nothing.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from albca.infra.errors import CertificateUnusable, SetupRefused

__all__ = [
    "EbRecipe",
    "LOAD_BALANCER_TYPES",
    "ebextensions_caveat",
    "render_ebextensions",
    "write_ebextensions",
]

LOAD_BALANCER_TYPES = ("classic", "application")

_ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$")
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_POLICY_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")


@dataclass(frozen=True)
class EbRecipe:
    certificate: x509.Certificate  # the instances' certificate (pinned by the ELB)
    instance_port: int = 443
    health_check_path: str = "/"
    ssl_certificate_arn: str | None = None  # the load balancer listener's certificate
    vpc_id: str | None = None
    encryption_policy: str = "backendencryption"
    key_policy: str = "backendkey"
    load_balancer: str = "classic"  # the environment's load balancer type (at creation)

    def __post_init__(self) -> None:
        if self.load_balancer not in LOAD_BALANCER_TYPES:
            raise SetupRefused(
                f"--load-balancer {self.load_balancer!r} is not classic or application",
                rule="Elastic Beanstalk load balancer type",
            )
        if not 1 <= self.instance_port <= 65535:
            raise SetupRefused(f"--port {self.instance_port} is not a TCP port", rule="TCP port")
        if not self.health_check_path.startswith("/"):
            raise SetupRefused(
                f"--health-path {self.health_check_path!r} must start with /",
                rule="health check path",
            )
        if self.ssl_certificate_arn is not None and not _ACM_ARN.match(self.ssl_certificate_arn):
            raise SetupRefused(
                f"--ssl-certificate-arn {self.ssl_certificate_arn!r} is not an ACM certificate "
                "ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)",
                rule="ACM certificate ARN",
            )
        if self.vpc_id is not None and not _VPC_ID.match(self.vpc_id):
            raise SetupRefused(f"--vpc-id {self.vpc_id!r} is not a VPC id", rule="VPC id")
        for name in (self.encryption_policy, self.key_policy):
            if not _POLICY_NAME.match(name):
                raise SetupRefused(
                    f"policy name {name!r}: letters, digits and hyphens only",
                    rule="policy name",
                )


def ebextensions_caveat(load_balancer: str) -> str:
    """What the user must know about the environment these files are for."""
    if load_balancer == "application":
        return (
            "These aws:elbv2:* settings are for an environment created with an Application "
            "Load Balancer: it encrypts to the instances but accepts any certificate they "
            "present (no key pinning; that needs a Classic Load Balancer environment)."
        )
    return (
        "These aws:elb:* settings work only in an environment created with a Classic Load "
        "Balancer: the type is chosen at creation (eb create --elb-type classic) and cannot "
        "change, and new environments get an Application Load Balancer; for one, run again "
        "with --load-balancer application."
    )


def render_ebextensions(recipe: EbRecipe) -> dict[str, str]:
    """File name -> content, for the files this recipe needs."""
    if recipe.load_balancer == "application":
        return _application(recipe)
    port = recipe.instance_port
    files: dict[str, str] = {}
    header = _header(recipe)
    if recipe.ssl_certificate_arn is not None:
        files["https-lbterminate.config"] = header + _lines(
            "# The load balancer's HTTPS listener.",
            "option_settings:",
            *_type_setting(recipe),
            "  aws:elb:listener:443:",
            f"    SSLCertificateId: {_q(recipe.ssl_certificate_arn)}",
            "    ListenerProtocol: HTTPS",
        )
    files["https-reencrypt.config"] = header + _lines(
        "# Forward HTTPS to the instances and check their health over HTTPS.",
        "# The EB CLI and console set recommended values for these options: remove those if",
        "# they conflict (see 'Recommended values' in the Elastic Beanstalk guide).",
        "option_settings:",
        *_type_setting(recipe),
        "  aws:elb:listener:443:",
        f"    InstancePort: {port}",
        "    InstanceProtocol: HTTPS",
        "  aws:elasticbeanstalk:application:",
        f"    Application Healthcheck URL: {_q(f'HTTPS:{port}{recipe.health_check_path}')}",
    )
    if recipe.vpc_id is not None:
        files.update(_security_groups(recipe, "aws:elb:loadbalancer"))
    pem = recipe.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    subject = recipe.certificate.subject.rfc4514_string()
    files["https-backendauth.config"] = header + _lines(
        "# The load balancer trusts only this certificate's key on the instance port.",
        f"# Certificate: {subject}, serial {recipe.certificate.serial_number:x}, expires "
        f"{recipe.certificate.not_valid_after_utc.date().isoformat()}.",
        "option_settings:",
        *_type_setting(recipe),
        f"  aws:elb:policies:{recipe.encryption_policy}:",
        f"    PublicKeyPolicyNames: {recipe.key_policy}",
        f"    InstancePorts: {port}",
        f"  aws:elb:policies:{recipe.key_policy}:",
        "    PublicKey: |",
        *(f"      {line}" for line in pem.splitlines()),
    )
    return files


def _application(recipe: EbRecipe) -> dict[str, str]:
    """The ALB environment's files: HTTPS listener, HTTPS to the instances, no pinning."""
    port = recipe.instance_port
    header = _header(recipe)
    files: dict[str, str] = {}
    listener = ["  aws:elbv2:listener:443:", "    ListenerEnabled: 'true'", "    Protocol: HTTPS"]
    if recipe.ssl_certificate_arn is not None:
        listener.append(f"    SSLCertificateArns: {_q(recipe.ssl_certificate_arn)}")
    listener.append("    DefaultProcess: default")
    files["https-reencrypt.config"] = header + _lines(
        "# The HTTPS listener forwards HTTPS to the instances, health checks over HTTPS too.",
        "# An Application Load Balancer accepts any instance certificate (self-signed or",
        "# expired): this encrypts to the instances but does not authenticate them.",
        "option_settings:",
        *_type_setting(recipe),
        *listener,
        "  aws:elasticbeanstalk:environment:process:default:",
        f"    Port: '{port}'",
        "    Protocol: HTTPS",
        f"    HealthCheckPath: {_q(recipe.health_check_path)}",
    )
    if recipe.vpc_id is not None:
        files.update(_security_groups(recipe, "aws:elbv2:loadbalancer"))
    return files


def _security_groups(recipe: EbRecipe, namespace: str) -> dict[str, str]:
    port = recipe.instance_port
    header = _header(recipe)
    return {
        "https-lbsecuritygroup.config": header
        + _lines(
            "# A security group of our own for the load balancer (default VPC or not): HTTPS",
            "# in from anywhere; out only to the instances (https-backendsecurity.config).",
            "option_settings:",
            *_type_setting(recipe),
            f"  {namespace}:",
            '    SecurityGroups: \'`{ "Ref" : "loadbalancersg" }`\'',
            '    ManagedSecurityGroup: \'`{ "Ref" : "loadbalancersg" }`\'',
            "Resources:",
            "  loadbalancersg:",
            "    Type: AWS::EC2::SecurityGroup",
            "    Properties:",
            "      GroupDescription: load balancer security group (albca)",
            f"      VpcId: {_q(recipe.vpc_id or '')}",
            "      SecurityGroupIngress:",
            "        - IpProtocol: tcp",
            "          FromPort: 443",
            "          ToPort: 443",
            "          CidrIp: 0.0.0.0/0",
            "      # Replaces EC2's default allow-all egress with a rule that allows nothing",
            "      # (CloudFormation, AWS::EC2::SecurityGroup, SecurityGroupEgress).",
            "      SecurityGroupEgress:",
            "        - IpProtocol: '-1'",
            "          CidrIp: 127.0.0.1/32",
        ),
        "https-backendsecurity.config": header
        + _lines(
            "# The load balancer reaches the instances on the backend port, and only that.",
            "# Separate resources, so neither group has to exist before the other.",
            "Resources:",
            "  httpsFromLoadBalancerSG:",
            "    Type: AWS::EC2::SecurityGroupIngress",
            "    Properties:",
            '      GroupId: {"Fn::GetAtt": ["AWSEBSecurityGroup", "GroupId"]}',
            "      IpProtocol: tcp",
            f"      FromPort: {port}",
            f"      ToPort: {port}",
            '      SourceSecurityGroupId: {"Fn::GetAtt": ["loadbalancersg", "GroupId"]}',
            "  httpsToBackendInstances:",
            "    Type: AWS::EC2::SecurityGroupEgress",
            "    Properties:",
            '      GroupId: {"Fn::GetAtt": ["loadbalancersg", "GroupId"]}',
            "      IpProtocol: tcp",
            f"      FromPort: {port}",
            f"      ToPort: {port}",
            '      DestinationSecurityGroupId: {"Fn::GetAtt": ["AWSEBSecurityGroup", "GroupId"]}',
        ),
    }


def _header(recipe: EbRecipe) -> str:
    kind = "Classic" if recipe.load_balancer == "classic" else "Application"
    return (
        "# Written by `albca backend ebextensions`; Elastic Beanstalk end-to-end encryption.\n"
        f"# For an environment created with a{'n' if kind[0] == 'A' else ''} {kind} Load "
        "Balancer (the type is chosen at creation).\n"
    )


def _type_setting(recipe: EbRecipe) -> tuple[str, ...]:
    # Chosen at creation only (EB Developer Guide): set here, a creation with these files
    # gets this type, and a mismatch is an error rather than options silently ignored.
    return ("  aws:elasticbeanstalk:environment:", f"    LoadBalancerType: {recipe.load_balancer}")


def write_ebextensions(directory: Path, files: dict[str, str], *, force: bool) -> list[str]:
    """Write the files into ``directory`` (created if needed); returns the names written.

    Files already holding the same content are left alone; different content is replaced
    only with ``force``, and then nothing is written unless every file can be.
    """
    changed = {}
    for name, content in files.items():
        path = directory / name
        if path.exists():
            try:
                if path.read_text() == content:
                    continue
            except (OSError, UnicodeDecodeError):
                pass
            if not force:
                raise SetupRefused(
                    f"{path} exists with other content; use --force to replace it",
                    rule="no silent overwrite",
                )
        changed[name] = content
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, content in changed.items():
            fd, staging = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
            with os.fdopen(fd, "w") as out:
                os.fchmod(out.fileno(), 0o644)
                out.write(content)
            os.replace(staging, directory / name)
    except OSError as exc:
        raise CertificateUnusable(
            f"cannot write into {directory}: {exc.strerror or exc}", source=str(directory)
        ) from None
    return sorted(changed)


def _q(value: str) -> str:
    return json.dumps(value)


def _lines(*lines: str) -> str:
    return "\n".join(lines) + "\n"
