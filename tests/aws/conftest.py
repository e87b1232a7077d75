"""Emulated AWS for the tests: moto (in-process), with the trust store fake installed on a
real boto3 ELBv2 client, a versioned S3 bucket, and an ALB with an HTTPS listener.

Fixtures meant for reuse: ``aws`` (mock_aws is on), ``s3``, ``bucket``, ``elbv2`` (real
client, fake installed), ``trust_fake``, ``alb`` (load balancer + HTTPS listener),
``trust_cas`` (a root and an issuing CA) and the helper ``put_object``.

``fake_settings`` are the trust store fake's options (its documented defaults here). A test
module that must hold whatever AWS does where it documents nothing overrides it with
``every_fake_setting``, which runs each of its tests under every entry of ``FAKE_SETTINGS``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from moto import mock_aws

from albca.emulated_aws import TrustStoreFake, Undocumented, install_trust_store_fake
from tests.aws.kms_standin import kms_stand_in
from tests.trust_factories import make_ca

REGION = "us-east-1"
BUCKET = "albca-trust"
SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


@pytest.fixture(scope="session")
def trust_cas():
    """(root, issuing): the CAs a trust store bundle holds."""
    root = make_ca("Fake Test Root", organization="Example Corp")
    return root, make_ca("Fake Test Issuing CA", issuer=root, organization="Example Corp")


@pytest.fixture
def aws(monkeypatch):
    # Never let a test reach a real account, whatever the machine's configuration says.
    for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


@pytest.fixture
def s3(aws):
    return boto3.client("s3", region_name=REGION)


@pytest.fixture
def bucket(s3):
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return BUCKET


def put_object(s3, key: str, body: bytes, bucket: str = BUCKET) -> str:
    """Upload ``body``; return the version id S3 gave it."""
    version: str = s3.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]
    return version


# The trust store fake's answers where AWS documents none (issue 13, point 10), and page
# lengths shorter than asked (AWS may return fewer than PageSize: issue 13, point 9). Each
# value of each switch is in one entry at least; albca must work under all of them.
FAKE_SETTINGS: dict[str, dict] = {
    "documented": {},
    "removing": {
        "creating_polls": 0,  # ACTIVE at once
        "undocumented": Undocumented(associations="listener", orphan_crls="removed"),
        "max_page_size": 1,
    },
    "refusing": {
        "creating_polls": 3,
        "undocumented": Undocumented(
            associations="listener",
            orphan_crls="refused",
            revocations_while_creating="refused",
        ),
        "max_page_size": 2,
    },
}


@pytest.fixture
def fake_settings() -> dict:
    """The options of the trust store fake ``elbv2`` installs (``install_trust_store_fake``)."""
    return {}


@pytest.fixture(params=list(FAKE_SETTINGS))
def every_fake_setting(request) -> dict:
    """Each entry of ``FAKE_SETTINGS`` in turn; a module uses it by overriding
    ``fake_settings`` with it."""
    return FAKE_SETTINGS[request.param]


@pytest.fixture
def elbv2(aws, s3, fake_settings):
    client = boto3.client("elbv2", region_name=REGION)
    install_trust_store_fake(client, s3, **fake_settings)
    return client


@pytest.fixture
def trust_fake(elbv2) -> TrustStoreFake:
    fake: TrustStoreFake = elbv2._albca_trust_store_fake
    return fake


@dataclass(frozen=True)
class Alb:
    load_balancer_arn: str
    listener_arn: str  # HTTPS on 443
    certificate_arn: str

    def https_listener(self, elbv2, port: int, **extra) -> str:
        """Another HTTPS listener on this load balancer."""
        return create_https_listener(
            elbv2, self.load_balancer_arn, self.certificate_arn, port, **extra
        )


def create_https_listener(elbv2, load_balancer_arn, certificate_arn, port, **extra) -> str:
    listener = elbv2.create_listener(
        LoadBalancerArn=load_balancer_arn,
        Protocol="HTTPS",
        Port=port,
        SslPolicy=SSL_POLICY,
        Certificates=[{"CertificateArn": certificate_arn}],
        DefaultActions=[_FIXED_200],
        **extra,
    )["Listeners"][0]
    arn: str = listener["ListenerArn"]
    return arn


_FIXED_200 = {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}


def local_client(service: str):
    """A client of the in-process moto (under ``mock_aws``)."""
    return boto3.client(service, region_name=REGION)


def make_alb(elbv2, name: str = "albca-test", *, make_client=local_client) -> Alb:
    """An ALB (VPC, two subnets) with an HTTPS listener on 443 using an ACM certificate.

    ``make_client(service)`` makes the EC2 and ACM clients (point it at a moto server)."""
    ec2 = make_client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for n, z in ((1, "a"), (2, "b"))
    ]
    load_balancer = elbv2.create_load_balancer(Name=name, Subnets=subnets)["LoadBalancers"][0]
    load_balancer_arn = load_balancer["LoadBalancerArn"]
    certificate_arn = _import_server_certificate(make_client("acm"))
    listener_arn = create_https_listener(elbv2, load_balancer_arn, certificate_arn, 443)
    return Alb(load_balancer_arn, listener_arn, certificate_arn)


@pytest.fixture
def alb(elbv2) -> Alb:
    return make_alb(elbv2)


def _import_server_certificate(acm) -> str:
    """A self-signed server certificate in (moto) ACM: moto checks listeners use one."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alb.internal.example")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("alb.internal.example")]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    arn: str = acm.import_certificate(
        Certificate=certificate.public_bytes(serialization.Encoding.PEM),
        PrivateKey=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )["CertificateArn"]
    return arn


@pytest.fixture
def kms_standin(aws):
    """moto's KMS with ``Sign`` done as AWS does it (``tests/aws/kms_standin.py``)."""
    with kms_stand_in() as stand_in:
        yield stand_in


# -- the albca CLI against moto --------------------------------------------------------


@dataclass
class RecordedCall:
    service: str
    operation: str  # the API name: ModifyListener
    params: dict


def requests_fetch(url: str) -> bytes:
    """Reads a pre-signed URL through ``requests``, which ``mock_aws`` intercepts."""
    import requests

    response = requests.get(url, timeout=10)
    response.raise_for_status()
    return response.content


def emulated_clients_factory(
    trust_fake,
    recorded: list[RecordedCall],
    cloudfront_fake=None,
    classic_elb_fake=None,
    acm_fake=None,
):
    """A stand-in for ``albca.compose.aws.aws_clients``: moto clients with the fakes
    installed, sharing the tests' state, and the parameters of every call recorded."""
    from albca.emulated_aws import (
        AcmFake,
        install_acm_propagation,
        install_acm_rules,
        install_classic_elb_policy_rules,
        install_cloudfront_fake,
    )
    from albca.infra.clients import AwsClients

    acm_fake = acm_fake or AcmFake()

    def configure(service: str, client) -> None:
        if service == "elbv2":
            install_trust_store_fake(client, fake=trust_fake)
        elif service == "elb":
            install_classic_elb_policy_rules(client, fake=classic_elb_fake)
        elif service == "cloudfront" and cloudfront_fake is not None:
            install_cloudfront_fake(client, fake=cloudfront_fake)
        elif service == "acm":
            install_acm_rules(client, fake=acm_fake)
        if service in ("elbv2", "cloudfront"):
            install_acm_propagation(client, fake=acm_fake)

        def remember(params, model, **_):
            recorded.append(RecordedCall(service, model.name, copy.deepcopy(params)))

        client.meta.events.register("provide-client-params", remember)

    def make(region):
        return AwsClients(region=region or REGION, configure=configure, fetch=requests_fetch)

    return make


@pytest.fixture
def cloudfront_fake(aws):
    from albca.emulated_aws import CloudFrontOriginMtlsFake

    return CloudFrontOriginMtlsFake(boto3.client("acm", region_name="us-east-1"))


@pytest.fixture
def cloudfront(cloudfront_fake):
    """A CloudFront client of the tests, with the fake installed (shared state)."""
    from albca.emulated_aws import install_cloudfront_fake

    client = boto3.client("cloudfront", region_name="us-east-1")
    install_cloudfront_fake(client, fake=cloudfront_fake)
    return client


@pytest.fixture
def classic_elb_fake():
    from albca.emulated_aws import ClassicElbFake

    return ClassicElbFake()


@pytest.fixture
def elb(aws, classic_elb_fake):
    """A Classic ELB client of the tests, with the policy rules installed (shared state)."""
    from albca.emulated_aws import install_classic_elb_policy_rules

    client = boto3.client("elb", region_name=REGION)
    install_classic_elb_policy_rules(client, fake=classic_elb_fake)
    return client


@pytest.fixture
def acm_fake(aws):
    """ACM's import and tag rules and its propagation delay (``unseen_uses``), shared by
    the CLI's clients and ``acm``."""
    from albca.emulated_aws import AcmFake

    return AcmFake()


@pytest.fixture
def acm(aws, acm_fake):
    """An ACM client of the tests, with ACM's import rules installed (shared state)."""
    from albca.emulated_aws import install_acm_rules

    client = boto3.client("acm", region_name=REGION)
    install_acm_rules(client, fake=acm_fake)
    return client


@pytest.fixture
def recorded() -> list[RecordedCall]:
    return []


@pytest.fixture
def aws_cli(
    cli,
    aws,
    s3,
    elbv2,
    trust_fake,
    cloudfront_fake,
    classic_elb_fake,
    acm_fake,
    recorded,
    monkeypatch,
):
    """The ``albca`` command (CliRunner) with an initialised CA home and its AWS calls going
    to moto through the fakes. ``recorded`` holds every call the CLI made."""
    monkeypatch.setattr(
        "albca.compose.aws.aws_clients",
        emulated_clients_factory(trust_fake, recorded, cloudfront_fake, classic_elb_fake, acm_fake),
    )
    cli.ok("init")
    return cli


def changes(recorded: list[RecordedCall]) -> list[RecordedCall]:
    """The calls that change something (not Describe/Get/Head/List)."""
    return [c for c in recorded if not c.operation.startswith(("Describe", "Get", "Head", "List"))]


@pytest.fixture
def albca_store(aws_cli, elbv2, s3, bucket, trust_fake) -> str:
    """An ACTIVE trust store holding the CLI CA's bundle."""
    bundle = aws_cli.ok("bundle").stdout.encode()
    version = put_object(s3, "albca/ca-bundle.pem", bundle)
    arn: str = elbv2.create_trust_store(
        Name="albca",
        CaCertificatesBundleS3Bucket=BUCKET,
        CaCertificatesBundleS3Key="albca/ca-bundle.pem",
        CaCertificatesBundleS3ObjectVersion=version,
    )["TrustStores"][0]["TrustStoreArn"]
    trust_fake.activate(arn)
    return arn


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """The plain CLI (no CA home yet), as in tests/cli."""
    from tests.cli.conftest import Cli

    for name in ("ALBCA_STORE", "ALBCA_KEY_PASSPHRASE_FILE", "ALBCA_P12_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    return Cli(
        home=tmp_path / "home",
        workdir=workdir,
        env={
            "ALBCA_HOME": str(tmp_path / "home"),
            "ALBCA_KEY_PASSPHRASE": "correct horse battery staple",
            "ALBCA_SQLITE_SYNCHRONOUS": "normal",
        },
    )


# -- an authority feeding trust stores ------------------------------------------------------

PREFIX = "pki"


@pytest.fixture
def ca_signers() -> dict:
    """Where the test authority's CA keys live (``mem:...``); rotations add to it."""
    return {}


@pytest.fixture
def authority(tmp_path, ca_signers):
    from tests.authorities import build_authority

    return build_authority(tmp_path / "ca", signers=ca_signers)


@pytest.fixture
def publisher(s3, bucket):
    from albca.trust_bundle.publish import S3Publisher

    return S3Publisher(s3, bucket, PREFIX)


@pytest.fixture
def trust_api(elbv2):
    from albca.trust_bundle.elbv2 import TrustStoreApi

    return TrustStoreApi(elbv2, sleep=lambda _seconds: None)


@pytest.fixture
def manager(authority, publisher, trust_api):
    from albca.trust_bundle.trust_stores import TrustStoreManager

    return TrustStoreManager(
        authority=authority, publisher=publisher, api=trust_api, poll_seconds=0
    )


def object_versions(s3, bucket: str = BUCKET) -> list[str]:
    """Every object version in the bucket, as KEY@VERSION."""
    answer = s3.list_object_versions(Bucket=bucket)
    return [f"{v['Key']}@{v['VersionId']}" for v in answer.get("Versions", [])]
