"""The bootstrap bucket policy lets the trust store's reader read the bundle and CRLs from
another account, whichever reader AWS uses: the caller of CreateTrustStore/ModifyTrustStore/
AddTrustStoreRevocations (the CloudFormation schemas) or the load balancer account's ELB
service-linked role (the seed article). The emulated check (``albca.emulated_aws.
s3_readers``) plays each answer; the bucket is in moto's account, the load balancer and
the caller in another."""

from __future__ import annotations

import json

import boto3
import pytest

from albca.emulated_aws.s3_readers import CrossAccountReads, install_cross_account_reads
from albca.infra.bootstrap import BootstrapSpec, bootstrap
from albca.infra.clients import AwsClients
from tests.aws.conftest import REGION, put_object
from tests.trust_factories import bundle_pem, crl_pem, make_crl

BUCKET = "albca-shared-pki"
BUCKET_ACCOUNT = "123456789012"  # moto's
LB_ACCOUNT = "210987654321"
CALLER = f"arn:aws:iam::{LB_ACCOUNT}:role/trust-store-admin"


def bootstrapped(*readers: str) -> None:
    spec = BootstrapSpec(
        region=REGION,
        bucket=BUCKET,
        prefix="pki",
        elb_accounts=(LB_ACCOUNT,),
        reader_principals=readers,
    )
    bootstrap(spec, AwsClients(region=REGION))
    # moto 5.2 applies a bucket policy's Deny without reading its Condition, so the
    # statement refusing plain HTTP would refuse moto's every request: take it out here.
    # (test_the_deny_of_plain_http_does_not_stop_a_tls_read checks it with the check.)
    s3 = boto3.client("s3", region_name=REGION)
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    policy["Statement"] = [
        s for s in policy["Statement"] if s["Sid"] != "AlbcaDenyInsecureTransport"
    ]
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))


def create_store(elbv2, s3, trust_cas, *, key: str = "pki/ca-bundle.pem") -> str:
    version = put_object(s3, key, bundle_pem(trust_cas, comments=False), bucket=BUCKET)
    arn: str = elbv2.create_trust_store(
        Name="shared",
        CaCertificatesBundleS3Bucket=BUCKET,
        CaCertificatesBundleS3Key=key,
        CaCertificatesBundleS3ObjectVersion=version,
    )["TrustStores"][0]["TrustStoreArn"]
    return arn


def reads(s3, reader) -> CrossAccountReads:
    return CrossAccountReads(s3, bucket_account=BUCKET_ACCOUNT, caller_arn=CALLER, reader=reader)


@pytest.mark.parametrize("reader", ["caller", "service-role", "both"])
def test_with_reader_principals_every_reader_may_read_bundle_and_crls(
    aws, s3, elbv2, trust_fake, trust_cas, reader
):
    bootstrapped(CALLER)
    install_cross_account_reads(elbv2, reads(s3, reader))
    arn = create_store(elbv2, s3, trust_cas)
    trust_fake.activate(arn)
    crl = crl_pem(make_crl(trust_cas[1], serials=[7]))
    version = put_object(s3, "pki/crl/issuing.pem", crl, bucket=BUCKET)
    added = elbv2.add_trust_store_revocations(
        TrustStoreArn=arn,
        RevocationContents=[{"S3Bucket": BUCKET, "S3Key": "pki/crl/issuing.pem",
                             "S3ObjectVersion": version, "RevocationType": "CRL"}],
    )  # fmt: skip
    assert added["TrustStoreRevocations"][0]["NumberOfRevokedEntries"] == 1


def test_without_reader_principals_a_caller_read_is_refused(aws, s3, elbv2, trust_cas):
    bootstrapped()
    install_cross_account_reads(elbv2, reads(s3, "caller"))
    with pytest.raises(elbv2.exceptions.CaCertificatesBundleNotFoundException) as caught:
        create_store(elbv2, s3, trust_cas)
    assert CALLER in str(caller := caught.value)
    assert "s3:GetObject" in str(caller)


def test_the_service_role_may_not_read_outside_the_prefix(aws, s3, elbv2, trust_cas):
    bootstrapped(CALLER)
    install_cross_account_reads(elbv2, reads(s3, "service-role"))
    with pytest.raises(elbv2.exceptions.CaCertificatesBundleNotFoundException):
        create_store(elbv2, s3, trust_cas, key="elsewhere/ca-bundle.pem")


def test_within_the_bucket_s_account_iam_decides(aws, s3, elbv2, trust_cas):
    bootstrapped()
    same = CrossAccountReads(
        s3, bucket_account=BUCKET_ACCOUNT, caller_arn=f"arn:aws:iam::{BUCKET_ACCOUNT}:role/x"
    )
    install_cross_account_reads(elbv2, same)
    create_store(elbv2, s3, trust_cas)


class _PolicyOnly:
    def __init__(self, statements):
        self.policy = json.dumps({"Version": "2012-10-17", "Statement": statements})

    def get_bucket_policy(self, Bucket):  # boto3 names it Bucket
        return {"Policy": self.policy}


def test_the_deny_of_plain_http_does_not_stop_a_tls_read():
    from albca.infra.bootstrap import bucket_policy

    statements = bucket_policy(BUCKET, "pki", [BUCKET_ACCOUNT, LB_ACCOUNT], readers=[CALLER])
    check = reads(_PolicyOnly(statements), "both")
    assert check.refusal(BUCKET, "pki/ca-bundle.pem") is None
    deny_all = {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": f"arn:aws:s3:::{BUCKET}/*"}  # fmt: skip
    check = reads(_PolicyOnly([*statements, deny_all]), "both")
    assert "may not s3:GetObject" in str(check.refusal(BUCKET, "pki/ca-bundle.pem"))
