"""The same fake in front of moto's ThreadedMotoServer (over HTTP, as ``albca demo
--aws-emulated`` uses it): the hooks work whatever the client's endpoint."""

from __future__ import annotations

import functools
import urllib.request

import boto3
import pytest
from moto.server import ThreadedMotoServer

from albca.emulated_aws import install_trust_store_fake
from tests.aws.conftest import REGION, make_alb
from tests.trust_factories import bundle_pem


@pytest.fixture
def moto_server(monkeypatch):
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_trust_store_and_verify_listener_against_moto_server(moto_server, trust_cas):
    make_client = functools.partial(boto3.client, region_name=REGION, endpoint_url=moto_server)
    s3 = make_client("s3")
    elbv2 = make_client("elbv2")
    fake = install_trust_store_fake(elbv2, s3, creating_polls=2)

    s3.create_bucket(Bucket="server-trust")
    s3.put_bucket_versioning(Bucket="server-trust", VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket="server-trust", Key="bundle.pem", Body=bundle_pem(trust_cas))[
        "VersionId"
    ]
    arn = elbv2.create_trust_store(
        Name="server-store",
        CaCertificatesBundleS3Bucket="server-trust",
        CaCertificatesBundleS3Key="bundle.pem",
        CaCertificatesBundleS3ObjectVersion=version,
    )["TrustStores"][0]["TrustStoreArn"]
    statuses = [
        elbv2.describe_trust_stores(TrustStoreArns=[arn])["TrustStores"][0]["Status"]
        for _ in range(3)
    ]
    assert statuses == ["CREATING", "CREATING", "ACTIVE"]

    # The bundle URL is served by the moto server to any HTTP client.
    url = elbv2.get_trust_store_ca_certificates_bundle(TrustStoreArn=arn)["Location"]
    assert url.startswith(moto_server)
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (local server)
        assert response.read() == bundle_pem(trust_cas)

    alb = make_alb(elbv2, name="server-alb", make_client=make_client)
    elbv2.modify_listener(
        ListenerArn=alb.listener_arn,
        MutualAuthentication={"Mode": "verify", "TrustStoreArn": arn},
    )
    (listener,) = elbv2.describe_listeners(ListenerArns=[alb.listener_arn])["Listeners"]
    assert listener["MutualAuthentication"]["TrustStoreArn"] == arn
    with pytest.raises(elbv2.exceptions.TrustStoreInUseException):
        elbv2.delete_trust_store(TrustStoreArn=arn)
    assert fake.bundle_location(arn).version_id == version


def test_acm_rules_against_moto_server(moto_server):
    """The ACM fake over HTTP: moto's server imports what AWS refuses, the fake does not."""
    from botocore.exceptions import ClientError
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from albca.emulated_aws import install_acm_rules
    from tests.aws.test_acm_fake import material
    from tests.trust_factories import make_ca

    acm = boto3.client("acm", region_name=REGION, endpoint_url=moto_server)
    rsa_ca = make_ca("Server RSA CA", key=rsa.generate_private_key(65537, 2048))
    ec_leaf = material(rsa_ca, ec.generate_private_key(ec.SECP256R1()))
    acm.import_certificate(**ec_leaf)  # moto alone
    install_acm_rules(acm)
    with pytest.raises(ClientError, match="ValidationException"):
        acm.import_certificate(**ec_leaf)
    rsa_leaf = material(rsa_ca, rsa.generate_private_key(65537, 2048))
    arn = acm.import_certificate(**rsa_leaf)["CertificateArn"]
    with pytest.raises(ClientError, match="tags"):
        acm.import_certificate(CertificateArn=arn, Tags=[{"Key": "k", "Value": "v"}], **rsa_leaf)
