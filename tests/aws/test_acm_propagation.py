"""Right after an import, ELBv2 and CloudFront may not see the new certificate yet
(``CertificateNotFound``, ``InvalidViewerCertificate``): albca retries the call that uses it
within a bound, and a rerun after running out reuses the certificate it imported (by its
tag) instead of importing another. The ACM fake plays the delay (``AcmFake.unseen_uses``);
the waits are injected, so nothing sleeps."""

from __future__ import annotations

import boto3
import pytest
from cryptography.hazmat.primitives import serialization

from albca.compose.infra import cloudfront_client_ca, server_certificate_issuer, signing_certificate
from albca.infra.calls import Aws, Call
from albca.infra.cloudfront_origin import OriginMtlsRequest, ensure_origin_mtls
from albca.infra.errors import AwsRefused
from albca.infra.server_cert import IssuedServerCertificate, set_listener_certificate
from albca.infra.trust_store_ready import ExistingTrustStore
from albca.infra.waiting import Wait
from tests.aws.conftest import BUCKET, REGION, emulated_clients_factory, put_object
from tests.aws.test_alb_server_cert_cli import listener_certificate
from tests.aws.test_cloudfront_cli import alb_dns_name, make_distribution, origin_certificate_arn

pytestmark = pytest.mark.usefixtures("aws")
DOMAIN = "service.internal.example"


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def run_aws(trust_fake, cloudfront_fake, acm_fake, recorded):
    """A fresh ``Aws`` per run (as each CLI command makes), its clients sharing the fakes."""
    make = emulated_clients_factory(trust_fake, recorded, cloudfront_fake, None, acm_fake)
    return lambda: Aws(make(REGION))


def server_source(authority, sleeps, seconds: float) -> IssuedServerCertificate:
    return IssuedServerCertificate(
        domain=DOMAIN,
        issue=server_certificate_issuer(authority, actor="test"),
        authorities=authority.trusted_certificates(),
        signing_ca=signing_certificate(authority),
        propagation=Wait(seconds=seconds, interval=5, sleep=sleeps.append),
    )


def acm_arns(region: str = REGION) -> list[str]:
    answer = boto3.client("acm", region_name=region).list_certificates(
        Includes={"keyTypes": ["EC_prime256v1", "RSA_2048"]}
    )
    return [c["CertificateArn"] for c in answer["CertificateSummaryList"]]


def calls(aws: Aws, operation: str) -> list[Call]:
    return [a for a in aws.actions if isinstance(a, Call) and a.operation == operation]


def test_the_listener_change_is_retried_until_elbv2_sees_the_certificate(
    run_aws, authority, acm_fake, elbv2, alb, sleeps
):
    acm_fake.unseen_uses = 2
    aws = run_aws()
    source = server_source(authority, sleeps, 60)
    arn = set_listener_certificate(aws, alb.listener_arn, source, _now())
    assert listener_certificate(elbv2, alb.listener_arn) == arn
    assert sleeps == [5, 5]
    assert len(calls(aws, "modify_listener")) == 1  # on the record once


def test_the_retry_is_bounded_and_a_rerun_reuses_the_imported_certificate(
    run_aws, authority, acm_fake, elbv2, alb, sleeps
):
    acm_fake.unseen_uses = 2
    source = server_source(authority, sleeps, 5)  # two attempts
    with pytest.raises(AwsRefused, match="CertificateNotFound"):
        set_listener_certificate(run_aws(), alb.listener_arn, source, _now())
    assert sleeps == [5]
    (imported,) = [arn for arn in acm_arns() if arn != alb.certificate_arn]
    assert listener_certificate(elbv2, alb.listener_arn) == alb.certificate_arn

    rerun = run_aws()
    arn = set_listener_certificate(rerun, alb.listener_arn, source, _now())
    assert arn == imported
    assert calls(rerun, "import_certificate") == []
    assert sorted(acm_arns()) == sorted([alb.certificate_arn, imported])
    assert listener_certificate(elbv2, alb.listener_arn) == imported


def test_a_certificate_of_another_purpose_is_not_reused(run_aws, authority, acm_fake, alb, sleeps):
    acm_fake.unseen_uses = 2
    with pytest.raises(AwsRefused):
        set_listener_certificate(
            run_aws(), alb.listener_arn, server_source(authority, sleeps, 0), _now()
        )
    other = IssuedServerCertificate(
        domain="other.internal.example",
        issue=server_certificate_issuer(authority, actor="test"),
        authorities=authority.trusted_certificates(),
        signing_ca=signing_certificate(authority),
    )
    acm_fake.unseen_uses = 0
    rerun = run_aws()
    set_listener_certificate(rerun, alb.listener_arn, other, _now())
    assert len(calls(rerun, "import_certificate")) == 1


def test_the_distribution_update_is_retried_until_cloudfront_sees_the_certificate(
    run_aws, authority, acm_fake, trust_fake, cloudfront, elbv2, s3, bucket, alb, sleeps
):
    bundle = b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in authority.trusted_certificates()
    )
    version = put_object(s3, "albca/bundle.pem", bundle)
    store = elbv2.create_trust_store(
        Name="albca",
        CaCertificatesBundleS3Bucket=BUCKET,
        CaCertificatesBundleS3Key="albca/bundle.pem",
        CaCertificatesBundleS3ObjectVersion=version,
    )["TrustStores"][0]["TrustStoreArn"]
    trust_fake.activate(store)
    distribution = make_distribution(cloudfront, alb_dns_name(elbv2, alb))
    acm_fake.unseen_uses = 1
    request = OriginMtlsRequest(
        distribution,
        "alb",
        deploy_wait=Wait(seconds=5, interval=5, sleep=lambda _seconds: None),
        propagation=Wait(seconds=60, interval=5, sleep=sleeps.append),
    )
    aws = run_aws()
    ensure_origin_mtls(
        aws,
        request,
        cloudfront_client_ca(authority, key_spec=None, actor="test"),
        trust_store=ExistingTrustStore(store, Wait(seconds=0)),
        now=_now(),
    )
    assert origin_certificate_arn(cloudfront, distribution) is not None
    assert sleeps == [5]  # one retry of UpdateDistribution
    assert len(calls(aws, "update_distribution")) == 1


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_a_rerun_with_the_user_s_own_certificate_reuses_its_import(
    run_aws, acm_fake, elbv2, alb, sleeps, tmp_path
):
    from albca.infra.acm import ImportMaterial
    from albca.infra.cert_checks import load_certificate_file, load_private_key_file
    from albca.infra.server_cert import FileServerCertificate
    from tests.aws.test_alb_server_cert_cli import write_pair

    cert, key = write_pair(tmp_path)
    material = ImportMaterial(load_certificate_file(cert), load_private_key_file(key), ())
    source = FileServerCertificate(
        material, str(cert), propagation=Wait(seconds=0, interval=5, sleep=sleeps.append)
    )
    acm_fake.unseen_uses = 1
    with pytest.raises(AwsRefused, match="CertificateNotFound"):
        set_listener_certificate(run_aws(), alb.listener_arn, source, _now())
    rerun = run_aws()
    arn = set_listener_certificate(rerun, alb.listener_arn, source, _now())
    assert calls(rerun, "import_certificate") == []
    assert sorted(acm_arns()) == sorted([alb.certificate_arn, arn])


def test_a_rerun_asking_for_another_key_type_does_not_reuse(
    run_aws, authority, acm_fake, alb, sleeps
):
    from dataclasses import replace

    from albca.ca.keys import KeySpec

    acm_fake.unseen_uses = 1
    source = server_source(authority, sleeps, 0)
    with pytest.raises(AwsRefused):
        set_listener_certificate(run_aws(), alb.listener_arn, source, _now())
    acm_fake.unseen_uses = 0
    rerun = run_aws()
    set_listener_certificate(
        rerun, alb.listener_arn, replace(source, key_spec=KeySpec.EC_P384), _now()
    )
    assert len(calls(rerun, "import_certificate")) == 1
