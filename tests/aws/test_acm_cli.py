"""What ACM refuses and moto accepts, through ``albca alb server-cert`` and ``albca
cloudfront origin-mtls`` against moto with the ACM fake (``tests/aws/test_acm_fake.py``):
the leaf's key algorithm is its CA's, a renewal keeps the key type (or imports a new
certificate and repoints), and tag values keep to ACM's pattern."""

from __future__ import annotations

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from albca.emulated_aws.acm_rules import acm_tag_text_ok
from albca.infra.acm_rules import acm_tag_value
from tests.aws.conftest import REGION, changes
from tests.aws.test_alb_server_cert_cli import DOMAIN, listener_certificate, write_pair
from tests.aws.test_cloudfront_cli import (
    alb_dns_name,
    command,
    make_distribution,
    origin_certificate_arn,
)

pytestmark = pytest.mark.usefixtures("aws")


def server_cert(alb, *extra: str) -> tuple[str, ...]:
    return ("alb", "server-cert", "--listener", alb.listener_arn, "--domain", DOMAIN, *extra)


def acm_leaf(arn: str, region: str = REGION) -> x509.Certificate:
    got = boto3.client("acm", region_name=region).get_certificate(CertificateArn=arn)
    return x509.load_pem_x509_certificate(got["Certificate"].encode())


@pytest.fixture
def distribution(cloudfront, elbv2, alb) -> str:
    return make_distribution(cloudfront, alb_dns_name(elbv2, alb))


@pytest.fixture
def rsa_home(aws_cli, tmp_path) -> dict[str, str]:
    """A second CA home whose CAs have RSA keys."""
    env = {"ALBCA_HOME": str(tmp_path / "rsa-home")}
    aws_cli.ok("init", "--key-type", "rsa-2048", env=env)
    return env


def test_under_an_rsa_ca_the_server_certificate_gets_an_rsa_key(aws_cli, alb, elbv2, rsa_home):
    aws_cli.ok(*server_cert(alb), env=rsa_home)
    key = acm_leaf(listener_certificate(elbv2, alb.listener_arn)).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size == 2048


def test_a_key_type_of_another_algorithm_than_the_ca_is_refused_before_issuing(
    aws_cli, alb, recorded, rsa_home
):
    message = aws_cli.fails(*server_cert(alb, "--key-type", "ec-p256"), env=rsa_home)
    assert "--key-type ec-p256 is an EC key" in message
    assert "has an RSA key" in message
    assert changes(recorded) == []
    assert aws_cli.json("list", env=rsa_home)["certificates"] == []


def test_under_an_rsa_ca_cloudfront_gets_an_rsa_2048_client_certificate(
    aws_cli, cloudfront, elbv2, distribution, albca_store, recorded, rsa_home
):
    # The trust store holds the RSA CA's bundle instead.
    from tests.aws.conftest import BUCKET, put_object

    s3 = boto3.client("s3", region_name=REGION)
    bundle = aws_cli.ok("bundle", env=rsa_home).stdout.encode()
    version = put_object(s3, "albca/rsa-bundle.pem", bundle)
    elbv2.modify_trust_store(
        TrustStoreArn=albca_store,
        CaCertificatesBundleS3Bucket=BUCKET,
        CaCertificatesBundleS3Key="albca/rsa-bundle.pem",
        CaCertificatesBundleS3ObjectVersion=version,
    )
    aws_cli.ok(*command(distribution, "--trust-store", "albca"), env=rsa_home)
    arn = origin_certificate_arn(cloudfront, distribution)
    key = acm_leaf(arn, "us-east-1").public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size == 2048
    message = aws_cli.fails(*command(distribution, "--key-type", "ec-p256"), env=rsa_home)
    assert "has an RSA key" in message


def test_renewal_keeps_the_current_key_type(aws_cli, alb, elbv2, recorded):
    aws_cli.ok(*server_cert(alb, "--key-type", "ec-p384"))
    arn = listener_certificate(elbv2, alb.listener_arn)
    recorded.clear()
    aws_cli.ok(*server_cert(alb, "--renew"))
    (reimport,) = changes(recorded)
    assert reimport.params["CertificateArn"] == arn
    key = acm_leaf(arn).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp384r1"


def test_a_new_key_type_imports_a_new_certificate_and_repoints_the_listener(
    aws_cli, alb, elbv2, recorded
):
    aws_cli.ok(*server_cert(alb, "--key-type", "ec-p384"))
    old = listener_certificate(elbv2, alb.listener_arn)
    recorded.clear()
    dry = aws_cli.ok(*server_cert(alb, "--renew", "--key-type", "ec-p256", "--dry-run"))
    assert "cannot be re-imported in place" in dry.stdout
    assert "acm.import_certificate" in dry.stdout
    assert "elbv2.modify_listener" in dry.stdout
    result = aws_cli.ok(*server_cert(alb, "--renew", "--key-type", "ec-p256"))
    assert f"delete {old} once nothing uses it" in " ".join(result.stdout.split())
    imported, modified = changes(recorded)
    assert "CertificateArn" not in imported.params
    assert imported.params["Tags"] == [
        {"Key": "albca:managed-by", "Value": f"alb-listener:{DOMAIN}"}
    ]
    new = listener_certificate(elbv2, alb.listener_arn)
    assert new != old
    assert modified.params["Certificates"] == [{"CertificateArn": new}]
    key = acm_leaf(new).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("alb-listener:service.internal.example", "alb-listener:service.internal.example"),
        ("alb-listener:*.internal.example", "alb-listener:=2A.internal.example"),
        ("cloudfront-origin:E2/my origin#1", "cloudfront-origin:E2/my origin=231"),
        ("a=b", "a=3Db"),
    ],
)
def test_tag_values_are_encoded_into_acm_s_pattern(text, value):
    assert acm_tag_value(text) == value
    assert acm_tag_text_ok(acm_tag_value(text))


def test_a_long_tag_value_is_cut_to_256_with_a_hash():
    one, two = acm_tag_value("x" * 300), acm_tag_value("x" * 299 + "y")
    assert len(one) == len(two) == 256
    assert one != two


def test_a_wildcard_certificate_is_imported_with_a_valid_tag(
    aws_cli, alb, elbv2, recorded, tmp_path
):
    cert, key = write_pair(tmp_path, name="wild", dns_name="*.internal.example")
    aws_cli.ok("alb", "server-cert", "--listener", alb.listener_arn,
               "--cert", str(cert), "--key", str(key))  # fmt: skip
    imported, _ = changes(recorded)
    assert imported.params["Tags"] == [
        {"Key": "albca:managed-by", "Value": "alb-listener:=2A.internal.example"}
    ]


def test_a_brought_certificate_of_another_algorithm_than_its_ca_is_refused_before_acm(
    aws_cli, alb, recorded, tmp_path
):
    from cryptography.hazmat.primitives import serialization

    from tests.aws.test_acm_fake import leaf
    from tests.trust_factories import make_ca

    ca = make_ca("Brought RSA CA", key=rsa.generate_private_key(65537, 2048))
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "leaf.pem").write_bytes(
        leaf(ca, key, name=DOMAIN).public_bytes(serialization.Encoding.PEM)
    )
    (tmp_path / "leaf.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "chain.pem").write_bytes(ca.pem)
    message = aws_cli.fails("alb", "server-cert", "--listener", alb.listener_arn,
                            "--cert", str(tmp_path / "leaf.pem"),
                            "--key", str(tmp_path / "leaf.key"),
                            "--chain", str(tmp_path / "chain.pem"))  # fmt: skip
    assert "the certificate has an EC key but its CA (CN=Brought RSA CA) an RSA key" in message
    assert changes(recorded) == []
