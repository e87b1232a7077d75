"""``albca cloudfront origin-mtls``: CloudFront presents albca's client certificate to its
ALB origin, and the ALB verifies it. moto drops OriginMtlsConfig and ignores IfMatch: the
CloudFront fake keeps and enforces them, and the tests read what it stored."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.aws.conftest import BUCKET, REGION, changes, put_object

pytestmark = pytest.mark.usefixtures("aws")


def alb_dns_name(elbv2, alb) -> str:
    (balancer,) = elbv2.describe_load_balancers(LoadBalancerArns=[alb.load_balancer_arn])[
        "LoadBalancers"
    ]
    name: str = balancer["DNSName"]
    return name


def make_distribution(cloudfront, domain: str, *, policy: str = "https-only") -> str:
    config = {
        "CallerReference": f"albca-{domain}-{policy}",
        "Comment": "albca test",
        "Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "alb",
                    "DomainName": domain,
                    "CustomOriginConfig": {
                        "HTTPPort": 80,
                        "HTTPSPort": 443,
                        "OriginProtocolPolicy": policy,
                    },
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "alb",
            "ViewerProtocolPolicy": "redirect-to-https",
            "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
        },
    }
    distribution_id: str = cloudfront.create_distribution(DistributionConfig=config)[
        "Distribution"
    ]["Id"]
    return distribution_id


@pytest.fixture
def distribution(cloudfront, elbv2, alb) -> str:
    return make_distribution(cloudfront, alb_dns_name(elbv2, alb))


def origin_certificate_arn(cloudfront, distribution_id) -> str | None:
    config = cloudfront.get_distribution_config(Id=distribution_id)["DistributionConfig"]
    custom = config["Origins"]["Items"][0]["CustomOriginConfig"]
    return custom.get("OriginMtlsConfig", {}).get("ClientCertificateArn")


def mutual_authentication(elbv2, listener_arn) -> dict:
    (listener,) = elbv2.describe_listeners(ListenerArns=[listener_arn])["Listeners"]
    return listener["MutualAuthentication"]


def command(distribution_id: str, *extra: str) -> tuple[str, ...]:
    return ("cloudfront", "origin-mtls", "--distribution", distribution_id, "--origin", "alb",
            "--deploy-wait-seconds", "1", *extra)  # fmt: skip


def test_origin_mtls_end_to_end(aws_cli, cloudfront, elbv2, alb, distribution, albca_store,
                                recorded):  # fmt: skip
    result = aws_cli.ok(*command(distribution, "--trust-store", "albca"))
    assert "verifies it with trust store albca" in result.stdout
    operations = [c.operation for c in changes(recorded)]
    assert operations == ["ImportCertificate", "UpdateDistribution", "ModifyListener"]
    imported, update, modify = changes(recorded)
    arn = origin_certificate_arn(cloudfront, distribution)
    assert arn is not None
    assert arn.startswith("arn:aws:acm:us-east-1:")
    assert imported.params["Tags"] == [
        {"Key": "albca:managed-by", "Value": f"cloudfront-origin:{distribution}/alb"}
    ]
    assert update.params["DistributionConfig"]["Origins"]["Items"][0]["CustomOriginConfig"][
        "OriginMtlsConfig"
    ] == {"ClientCertificateArn": arn}
    assert modify.params["MutualAuthentication"]["Mode"] == "verify"
    assert modify.params["MutualAuthentication"]["TrustStoreArn"] == albca_store
    assert mutual_authentication(elbv2, alb.listener_arn)["TrustStoreArn"] == albca_store

    # What the ALB checks: a client certificate (clientAuth) chaining to albca's bundle.
    got = boto3.client("acm", region_name="us-east-1").get_certificate(CertificateArn=arn)
    leaf = x509.load_pem_x509_certificate(got["Certificate"].encode())
    chain = x509.load_pem_x509_certificates(got["CertificateChain"].encode())
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    bundle = x509.load_pem_x509_certificates(aws_cli.ok("bundle").stdout.encode())
    issuing = next(ca for ca in bundle if ca.subject == leaf.issuer)
    leaf.verify_directly_issued_by(issuing)  # raises if the bundle's CA did not sign it
    assert chain[0] == issuing
    assert leaf.not_valid_before_utc <= datetime.now(UTC) < leaf.not_valid_after_utc


def test_second_run_changes_nothing_and_renew_reimports_in_place(
    aws_cli, cloudfront, distribution, albca_store, recorded
):
    aws_cli.ok(*command(distribution, "--trust-store", "albca"))
    arn = origin_certificate_arn(cloudfront, distribution)
    recorded.clear()
    assert "Nothing to change" in aws_cli.ok(*command(distribution)).stdout
    assert changes(recorded) == []
    aws_cli.ok(*command(distribution, "--renew"))
    (reimport,) = changes(recorded)
    assert reimport.operation == "ImportCertificate"
    assert reimport.params["CertificateArn"] == arn
    assert origin_certificate_arn(cloudfront, distribution) == arn


def test_dry_run_issues_nothing_and_changes_nothing(
    aws_cli, cloudfront, elbv2, alb, distribution, albca_store, recorded
):
    result = aws_cli.ok(*command(distribution, "--trust-store", "albca", "--dry-run"))
    assert "albca: issue a client certificate for CloudFront" in result.stdout
    assert "cloudfront.update_distribution" in result.stdout
    assert "OriginMtlsConfig" in result.stdout
    assert "elbv2.modify_listener" in result.stdout
    assert changes(recorded) == []
    assert origin_certificate_arn(cloudfront, distribution) is None
    assert mutual_authentication(elbv2, alb.listener_arn) == {"Mode": "off"}
    assert aws_cli.json("list")["certificates"] == []


def test_with_a_publish_target_the_trust_store_is_made_from_albca_s_bundle(
    aws_cli, cloudfront, elbv2, bucket, alb, distribution, recorded
):
    aws_cli.env["ALBCA_PUBLISH_TO"] = f"s3://{BUCKET}/pki"
    args = command(distribution, "--trust-store", "cloudfront", "--wait-seconds", "0.05")
    dry = aws_cli.ok(*args, "--dry-run")
    assert "elbv2.create_trust_store" in dry.stdout
    assert changes(recorded) == []
    assert elbv2.describe_trust_stores()["TrustStores"] == []

    aws_cli.ok(*args)
    operations = [c.operation for c in changes(recorded)]
    assert operations[:2] == ["PutObject", "CreateTrustStore"]
    assert operations[-3:] == ["ImportCertificate", "UpdateDistribution", "ModifyListener"]
    (store,) = elbv2.describe_trust_stores(Names=["cloudfront"])["TrustStores"]
    assert mutual_authentication(elbv2, alb.listener_arn)["TrustStoreArn"] == store["TrustStoreArn"]
    recorded.clear()
    assert "Nothing to change" in aws_cli.ok(*args).stdout
    assert changes(recorded) == []


def test_a_ca_that_signs_with_sha384_is_refused(aws_cli, distribution, albca_store, recorded,
                                                tmp_path):  # fmt: skip
    other = {"ALBCA_HOME": str(tmp_path / "p384-home")}
    aws_cli.ok("init", "--issuing-key-type", "ec-p384", env=other)
    message = aws_cli.fails(*command(distribution, "--trust-store", "albca"), env=other)
    assert "signed with SHA-256/384/512 with RSA, or SHA-256 with ECDSA" in message
    assert "ECDSA with SHA384" in message
    assert changes(recorded) == []


def test_a_client_key_cloudfront_does_not_take_is_refused(aws_cli, distribution, albca_store):
    message = aws_cli.fails(*command(distribution, "--key-type", "ec-p384"))
    assert "key is RSA 2048 or ECDSA P-256" in message


def test_listener_not_verifying_without_trust_store_is_refused_first(
    aws_cli, cloudfront, distribution, recorded
):
    message = aws_cli.fails(*command(distribution))
    assert "is not in verify mode: give --trust-store" in message
    assert changes(recorded) == []
    assert origin_certificate_arn(cloudfront, distribution) is None


def test_trust_store_without_albca_s_ca_is_refused(
    aws_cli, elbv2, s3, bucket, trust_fake, trust_cas, distribution, recorded
):
    from tests.trust_factories import bundle_pem

    version = put_object(s3, "foreign.pem", bundle_pem(trust_cas))
    elbv2.create_trust_store(
        Name="foreign",
        CaCertificatesBundleS3Bucket=BUCKET,
        CaCertificatesBundleS3Key="foreign.pem",
        CaCertificatesBundleS3ObjectVersion=version,
    )
    trust_fake.activate(
        elbv2.describe_trust_stores(Names=["foreign"])["TrustStores"][0]["TrustStoreArn"]
    )
    message = aws_cli.fails(*command(distribution, "--trust-store", "foreign"))
    assert "does not hold the CA that issues CloudFront's certificate" in message
    assert changes(recorded) == []


def test_origin_behind_a_private_certificate_is_refused(
    aws_cli, distribution, alb, albca_store, recorded
):
    aws_cli.ok("alb", "server-cert", "--listener", alb.listener_arn, "--domain", "origin.example")
    recorded.clear()
    message = aws_cli.fails(*command(distribution, "--trust-store", "albca"))
    assert "publicly trusted certificate" in message
    assert changes(recorded) == []


def test_unknown_origin_and_distribution(aws_cli, distribution):
    message = aws_cli.fails(
        "cloudfront", "origin-mtls", "--distribution", distribution, "--origin", "s3"
    )
    assert "has no origin 's3' (its origins: alb)" in message
    message = aws_cli.fails(
        "cloudfront", "origin-mtls", "--distribution", "ENOSUCH", "--origin", "alb"
    )
    assert "NoSuchDistribution" in message


def test_http_origin_is_refused(aws_cli, cloudfront, elbv2, alb):
    distribution_id = make_distribution(cloudfront, alb_dns_name(elbv2, alb), policy="http-only")
    message = aws_cli.fails(*command(distribution_id))
    assert "uses protocol policy http-only" in message


def test_origin_with_a_name_of_its_own_needs_the_listener(
    aws_cli, cloudfront, alb, albca_store, recorded
):
    distribution_id = make_distribution(cloudfront, "origin.example.com")
    message = aws_cli.fails(*command(distribution_id, "--trust-store", "albca"))
    assert "give --listener ARN" in message
    aws_cli.ok(*command(distribution_id, "--trust-store", "albca", "--listener", alb.listener_arn))
    assert origin_certificate_arn(cloudfront, distribution_id) is not None


# -- the CloudFront fake itself ----------------------------------------------------------


def test_fake_enforces_if_match(cloudfront, distribution):
    got = cloudfront.get_distribution_config(Id=distribution)
    config, etag = got["DistributionConfig"], got["ETag"]
    with pytest.raises(cloudfront.exceptions.PreconditionFailed):
        cloudfront.update_distribution(Id=distribution, IfMatch="E0000", DistributionConfig=config)
    updated = cloudfront.update_distribution(
        Id=distribution, IfMatch=etag, DistributionConfig=config
    )
    assert updated["ETag"] != etag
    with pytest.raises(cloudfront.exceptions.PreconditionFailed):  # the old ETag is stale now
        cloudfront.update_distribution(Id=distribution, IfMatch=etag, DistributionConfig=config)


@pytest.fixture
def acm_east():
    return boto3.client("acm", region_name="us-east-1")


def set_origin_certificate(cloudfront, distribution_id, arn):
    got = cloudfront.get_distribution_config(Id=distribution_id)
    config = got["DistributionConfig"]
    config["Origins"]["Items"][0]["CustomOriginConfig"]["OriginMtlsConfig"] = {
        "ClientCertificateArn": arn
    }
    cloudfront.update_distribution(
        Id=distribution_id, IfMatch=got["ETag"], DistributionConfig=config
    )


def test_fake_refuses_a_server_certificate_and_other_regions(cloudfront, distribution, alb):
    # alb.certificate_arn: a serverAuth certificate in ACM us-east-1 (no clientAuth).
    with pytest.raises(cloudfront.exceptions.InvalidArgument) as caught:
        set_origin_certificate(cloudfront, distribution, alb.certificate_arn)
    assert "clientAuth" in str(caught.value)
    elsewhere = alb.certificate_arn.replace(f":{REGION}:", ":eu-west-1:").replace(
        "us-east-1", "eu-west-1"
    )
    with pytest.raises(cloudfront.exceptions.InvalidArgument):
        set_origin_certificate(cloudfront, distribution, elsewhere)
    assert origin_certificate_arn(cloudfront, distribution) is None
