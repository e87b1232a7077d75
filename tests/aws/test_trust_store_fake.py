"""The trust store fake, through a real boto3 client (botocore validates every request) with
bundles and CRLs in a versioned moto S3 bucket: each documented rule and error."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from botocore.exceptions import ClientError, ParamValidationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from albca.ca.certificates import build_root_certificate
from albca.ca.crl import build_crl
from albca.ca.records import RevokedEntry
from albca.ca.signer import PrivateKeySigner
from albca.emulated_aws import install_trust_store_fake
from tests.aws.conftest import BUCKET, put_object
from tests.factories import T0
from tests.trust_factories import BuiltCA, bundle_pem, crl_pem, make_ca, make_crl, name


def error_code(caught: pytest.ExceptionInfo[ClientError]) -> str:
    code: str = caught.value.response["Error"]["Code"]
    return code


@pytest.fixture
def bundle_version(s3, bucket, trust_cas):
    return put_object(s3, "bundle.pem", bundle_pem(trust_cas))


def create_store(elbv2, name="albca-store", key="bundle.pem", version=None):
    params = {
        "Name": name,
        "CaCertificatesBundleS3Bucket": BUCKET,
        "CaCertificatesBundleS3Key": key,
    }
    if version:
        params["CaCertificatesBundleS3ObjectVersion"] = version
    store: dict = elbv2.create_trust_store(**params)["TrustStores"][0]
    return store


def modify_store(elbv2, arn, version=None, key="bundle.pem"):
    params = {
        "TrustStoreArn": arn,
        "CaCertificatesBundleS3Bucket": BUCKET,
        "CaCertificatesBundleS3Key": key,
    }
    if version:
        params["CaCertificatesBundleS3ObjectVersion"] = version
    return elbv2.modify_trust_store(**params)


def active_store(elbv2, trust_fake, **kwargs) -> str:
    arn: str = create_store(elbv2, **kwargs)["TrustStoreArn"]
    trust_fake.activate(arn)
    return arn


def status(elbv2, arn) -> str:
    value: str = elbv2.describe_trust_stores(TrustStoreArns=[arn])["TrustStores"][0]["Status"]
    return value


# -- creating, reading, status ------------------------------------------------------------


def test_new_store_is_creating_until_polled_then_active(elbv2, bundle_version):
    store = create_store(elbv2, version=bundle_version)
    assert store["Status"] == "CREATING"
    assert store["NumberOfCaCertificates"] == 2
    assert store["TotalRevokedEntries"] == 0
    assert store["TrustStoreArn"].startswith(
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:truststore/albca-store/"
    )
    assert status(elbv2, store["TrustStoreArn"]) == "CREATING"
    assert status(elbv2, store["TrustStoreArn"]) == "ACTIVE"


def test_creating_polls_is_configurable(aws, s3, bucket, bundle_version):
    import boto3

    client = boto3.client("elbv2", region_name="us-east-1")
    install_trust_store_fake(client, s3, creating_polls=3)
    arn = create_store(client)["TrustStoreArn"]
    assert [status(client, arn) for _ in range(4)] == ["CREATING"] * 3 + ["ACTIVE"]


def test_botocore_still_validates_requests(elbv2, bundle_version):
    with pytest.raises(ParamValidationError, match="Missing required parameter"):
        elbv2.create_trust_store(Name="albca-store", CaCertificatesBundleS3Bucket=BUCKET)
    with pytest.raises(ParamValidationError, match="Invalid type"):
        elbv2.describe_trust_stores(PageSize="ten")
    with pytest.raises(ParamValidationError, match="Invalid length"):
        create_store(elbv2, name="")


@pytest.mark.parametrize(
    "name", ["x" * 33, "-leading", "trailing-", "double--dash", "under_score", "a.b"]
)
def test_names_outside_the_rules_are_refused(elbv2, bundle_version, name):
    # botocore checks neither maximum lengths nor patterns: AWS (and the fake) does.
    with pytest.raises(ClientError) as caught:
        create_store(elbv2, name=name)
    assert error_code(caught) == "ValidationError"


def test_longest_name_is_accepted(elbv2, bundle_version):
    assert create_store(elbv2, name="a" * 31 + "1")["Name"] == "a" * 31 + "1"


def test_names_are_unique_per_region(aws, elbv2, s3, bundle_version):
    import boto3

    create_store(elbv2)
    with pytest.raises(elbv2.exceptions.DuplicateTrustStoreNameException):
        create_store(elbv2)
    # Another region of the same account may reuse it (the bundle is read from S3 as ever).
    elsewhere = boto3.client("elbv2", region_name="eu-west-1")
    install_trust_store_fake(elsewhere, fake=elbv2._albca_trust_store_fake)
    foreign = create_store(elsewhere)["TrustStoreArn"]
    assert foreign.split(":")[3] == "eu-west-1"
    # ... and a client sees only the trust stores of its own region.
    with pytest.raises(elbv2.exceptions.TrustStoreNotFoundException):
        elbv2.describe_trust_store_revocations(TrustStoreArn=foreign)


def test_at_most_20_trust_stores(elbv2, bundle_version):
    for n in range(20):
        create_store(elbv2, name=f"store-{n}")
    with pytest.raises(elbv2.exceptions.TooManyTrustStoresException):
        create_store(elbv2, name="store-20")


def test_missing_bundle_object_or_version_is_not_found(elbv2, s3, bucket, bundle_version):
    with pytest.raises(elbv2.exceptions.CaCertificatesBundleNotFoundException):
        create_store(elbv2, key="no-such-key.pem")
    with pytest.raises(elbv2.exceptions.CaCertificatesBundleNotFoundException):
        create_store(elbv2, version="no-such-version")


def test_invalid_bundle_is_refused_without_detail(elbv2, s3, bucket, trust_cas):
    root, _ = trust_cas
    leaf = make_ca("Not A CA", issuer=root, ca=False)
    put_object(s3, "bad.pem", bundle_pem([root, leaf]))
    with pytest.raises(elbv2.exceptions.InvalidCaCertificatesBundleException) as caught:
        create_store(elbv2, key="bad.pem")
    message = caught.value.response["Error"]["Message"]
    assert message == "The specified ca certificate bundle is in an invalid format, or corrupt."


# -- the bundle file's format and rules, stated by the fake itself -------------------------


def test_the_bundle_albca_writes_is_accepted(elbv2, s3, bucket):
    # Every bundle albca wrote had "(expires 2036-12-04)" in a comment (issue 13, point 1).
    from albca.trust_bundle.bundle import TrustBundle

    root = make_ca("albca-root", organization="Example-Corp")
    issuing = make_ca("albca-issuing", issuer=root)
    pem = TrustBundle.of([root.certificate, issuing.certificate]).pem
    version = put_object(s3, "albca.pem", pem)
    assert create_store(elbv2, key="albca.pem", version=version)["NumberOfCaCertificates"] == 2


@pytest.mark.parametrize(
    "make_pem",
    [
        pytest.param(lambda a, b: b"# expires 2036-12-04\n" + a + b, id="hyphen-in-a-comment"),
        pytest.param(lambda a, b: a + b"\n" + b, id="blank-line-between"),
        pytest.param(lambda a, b: a + b + b"\n", id="blank-line-at-the-end"),
        pytest.param(lambda a, b: b"Root CA\n" + a + b, id="text-that-is-not-a-comment"),
    ],
)
def test_bundle_file_format_is_enforced(elbv2, s3, bucket, trust_cas, make_pem):
    root, issuing = trust_cas
    pem = make_pem(bundle_pem([root]), bundle_pem([issuing]))
    version = put_object(s3, "bad.pem", pem)
    with pytest.raises(elbv2.exceptions.InvalidCaCertificatesBundleException):
        create_store(elbv2, key="bad.pem", version=version)


@pytest.fixture(scope="module")
def bad_bundles():
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.aws.test_bundle_publish import _bad_bundles

    root = make_ca("Test Root", organization="Example Corp")
    return _bad_bundles(root, make_ca("RSA Root", key=rsa.generate_private_key(65537, 2048)))


# Each bundle breaks one rule of albca's check (tests/aws/test_bundle_publish.py); the fake
# states the rules itself, so this is where the two readings of AWS's documentation meet.
# The CA names rule applies to modify_trust_store only (tests/aws/test_listener_mtls_fake.py).
@pytest.mark.parametrize(
    "case",
    [
        "not-empty",
        "no-blank-lines",
        "comment-lines",
        "parseable",
        "max-certificates",
        "certificate-size",
        "x509-v3",
        "key",
        "signature",
        "basic-constraints",
        "key-usage",
        "chain-depth",
    ],
)
def test_the_fake_refuses_every_bundle_albcas_check_refuses(elbv2, s3, bucket, bad_bundles, case):
    pem = bad_bundles[case][0]
    version = put_object(s3, "bad.pem", pem)
    with pytest.raises(elbv2.exceptions.InvalidCaCertificatesBundleException):
        create_store(elbv2, key="bad.pem", version=version)


def test_exact_object_version_is_loaded(elbv2, s3, bucket, trust_cas, trust_fake):
    root, issuing = trust_cas
    first = put_object(s3, "bundle.pem", bundle_pem([root]))
    put_object(s3, "bundle.pem", bundle_pem([root, issuing]))  # a later overwrite
    store = create_store(elbv2, version=first)
    assert store["NumberOfCaCertificates"] == 1
    assert trust_fake.bundle_location(store["TrustStoreArn"]).version_id == first


def test_without_a_version_the_current_one_is_loaded_and_pinned(
    elbv2, s3, bucket, trust_cas, trust_fake
):
    root, issuing = trust_cas
    current = put_object(s3, "bundle.pem", bundle_pem([root, issuing]))
    arn = create_store(elbv2)["TrustStoreArn"]
    put_object(s3, "bundle.pem", bundle_pem([root]))
    assert trust_fake.bundle_location(arn).version_id == current
    assert (
        elbv2.describe_trust_stores(TrustStoreArns=[arn])["TrustStores"][0][
            "NumberOfCaCertificates"
        ]
        == 2
    )


def test_bundle_location_is_a_presigned_url_of_the_loaded_version(elbv2, bundle_version, trust_cas):
    arn = create_store(elbv2, version=bundle_version)["TrustStoreArn"]
    url = elbv2.get_trust_store_ca_certificates_bundle(TrustStoreArn=arn)["Location"]
    assert f"versionId={bundle_version}" in url
    assert "Expires=" in url
    # moto's mock intercepts ``requests``: the URL really serves the bundle.
    assert requests.get(url, timeout=10).content == bundle_pem(trust_cas)


def test_unknown_trust_store_is_not_found_everywhere(elbv2, bundle_version):
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:truststore/nope/0123456789abcdef"
    calls = [
        lambda: elbv2.describe_trust_stores(TrustStoreArns=[arn]),
        lambda: elbv2.describe_trust_stores(Names=["nope"]),
        lambda: modify_store(elbv2, arn),
        lambda: elbv2.delete_trust_store(TrustStoreArn=arn),
        lambda: elbv2.get_trust_store_ca_certificates_bundle(TrustStoreArn=arn),
        lambda: elbv2.describe_trust_store_associations(TrustStoreArn=arn),
        lambda: elbv2.describe_trust_store_revocations(TrustStoreArn=arn),
        lambda: elbv2.remove_trust_store_revocations(TrustStoreArn=arn, RevocationIds=[1]),
        lambda: elbv2.get_trust_store_revocation_content(TrustStoreArn=arn, RevocationId=1),
    ]
    for call in calls:
        with pytest.raises(elbv2.exceptions.TrustStoreNotFoundException):
            call()


def test_describe_filters_by_name_and_paginates(elbv2, bundle_version):
    for n in range(5):
        create_store(elbv2, name=f"store-{n}")
    named = elbv2.describe_trust_stores(Names=["store-3"])["TrustStores"]
    assert [store["Name"] for store in named] == ["store-3"]
    pages = elbv2.get_paginator("describe_trust_stores").paginate(PaginationConfig={"PageSize": 2})
    sizes = [len(page["TrustStores"]) for page in pages]
    assert sizes == [2, 2, 1]


def test_modify_replaces_the_bundle(elbv2, s3, bucket, trust_cas, trust_fake):
    root, issuing = trust_cas
    arn = active_store(elbv2, trust_fake, version=put_object(s3, "bundle.pem", bundle_pem([root])))
    newer = put_object(s3, "bundle.pem", bundle_pem([root, issuing]))
    store = modify_store(elbv2, arn, newer)["TrustStores"][0]
    assert store["NumberOfCaCertificates"] == 2
    assert store["Status"] == "ACTIVE"
    assert trust_fake.bundle_location(arn).version_id == newer


def test_modify_with_an_invalid_bundle_keeps_the_old_one(elbv2, s3, bucket, trust_cas, trust_fake):
    root, _ = trust_cas
    good = put_object(s3, "bundle.pem", bundle_pem(trust_cas))
    arn = active_store(elbv2, trust_fake, version=good)
    bad = put_object(s3, "bundle.pem", bundle_pem([root, make_ca("Leaf", issuer=root, ca=False)]))
    with pytest.raises(elbv2.exceptions.InvalidCaCertificatesBundleException):
        modify_store(elbv2, arn, bad)
    assert trust_fake.bundle_location(arn).version_id == good


def test_delete_removes_the_store(elbv2, bundle_version):
    arn = create_store(elbv2)["TrustStoreArn"]
    elbv2.delete_trust_store(TrustStoreArn=arn)
    with pytest.raises(elbv2.exceptions.TrustStoreNotFoundException):
        elbv2.describe_trust_stores(TrustStoreArns=[arn])


# -- revocations --------------------------------------------------------------------------


def crl_content(version, key="crl.pem"):
    return {"S3Bucket": BUCKET, "S3Key": key, "S3ObjectVersion": version, "RevocationType": "CRL"}


def test_add_describe_and_remove_a_crl(elbv2, s3, bundle_version, trust_cas):
    _, issuing = trust_cas
    arn = create_store(elbv2)["TrustStoreArn"]
    version = put_object(s3, "crl.pem", crl_pem(make_crl(issuing, serials=[10, 11, 12])))
    (added,) = elbv2.add_trust_store_revocations(
        TrustStoreArn=arn, RevocationContents=[crl_content(version)]
    )["TrustStoreRevocations"]
    assert added["NumberOfRevokedEntries"] == 3
    assert added["RevocationType"] == "CRL"
    assert (
        elbv2.describe_trust_stores(TrustStoreArns=[arn])["TrustStores"][0]["TotalRevokedEntries"]
        == 3
    )
    described = elbv2.describe_trust_store_revocations(TrustStoreArn=arn)["TrustStoreRevocations"]
    assert [r["RevocationId"] for r in described] == [added["RevocationId"]]
    url = elbv2.get_trust_store_revocation_content(
        TrustStoreArn=arn, RevocationId=added["RevocationId"]
    )["Location"]
    assert f"versionId={version}" in url
    elbv2.remove_trust_store_revocations(TrustStoreArn=arn, RevocationIds=[added["RevocationId"]])
    assert elbv2.describe_trust_store_revocations(TrustStoreArn=arn)["TrustStoreRevocations"] == []


def test_new_crl_added_before_old_one_removed_keeps_a_crl_at_every_moment(
    elbv2, s3, bundle_version, trust_cas
):
    """The sync order issue 5 asks for works against the fake: add new, then remove old."""
    _, issuing = trust_cas
    arn = create_store(elbv2)["TrustStoreArn"]
    old_version = put_object(s3, "crl.pem", crl_pem(make_crl(issuing, serials=[1], number=1)))
    old = elbv2.add_trust_store_revocations(
        TrustStoreArn=arn, RevocationContents=[crl_content(old_version)]
    )["TrustStoreRevocations"][0]["RevocationId"]
    new_version = put_object(s3, "crl.pem", crl_pem(make_crl(issuing, serials=[1, 2], number=2)))
    new = elbv2.add_trust_store_revocations(
        TrustStoreArn=arn, RevocationContents=[crl_content(new_version)]
    )["TrustStoreRevocations"][0]["RevocationId"]
    assert (
        len(elbv2.describe_trust_store_revocations(TrustStoreArn=arn)["TrustStoreRevocations"]) == 2
    )
    elbv2.remove_trust_store_revocations(TrustStoreArn=arn, RevocationIds=[old])
    (left,) = elbv2.describe_trust_store_revocations(TrustStoreArn=arn)["TrustStoreRevocations"]
    assert left["RevocationId"] == new
    assert left["NumberOfRevokedEntries"] == 2


@pytest.mark.parametrize(
    "make_body",
    [
        pytest.param(lambda cas: b"not a crl", id="garbage"),
        pytest.param(
            lambda cas: make_crl(cas[1]).public_bytes(serialization.Encoding.DER),
            id="der-not-pem",
        ),
        pytest.param(
            lambda cas: crl_pem(make_crl(make_ca("Stranger CA"))), id="issuer-not-in-bundle"
        ),
    ],
)
def test_invalid_crl_is_refused(elbv2, s3, bundle_version, trust_cas, make_body):
    arn = create_store(elbv2)["TrustStoreArn"]
    version = put_object(s3, "crl.pem", make_body(trust_cas))
    with pytest.raises(elbv2.exceptions.InvalidRevocationContentException):
        elbv2.add_trust_store_revocations(
            TrustStoreArn=arn, RevocationContents=[crl_content(version)]
        )
    assert elbv2.describe_trust_store_revocations(TrustStoreArn=arn)["TrustStoreRevocations"] == []


def test_revocation_type_must_be_crl(elbv2, s3, bundle_version, trust_cas):
    arn = create_store(elbv2)["TrustStoreArn"]
    version = put_object(s3, "crl.pem", crl_pem(make_crl(trust_cas[1])))
    content = crl_content(version)
    del content["RevocationType"]
    with pytest.raises(elbv2.exceptions.InvalidRevocationContentException):
        elbv2.add_trust_store_revocations(TrustStoreArn=arn, RevocationContents=[content])


def test_missing_crl_object_or_version_is_not_found(elbv2, s3, bundle_version, trust_cas):
    arn = create_store(elbv2)["TrustStoreArn"]
    put_object(s3, "crl.pem", crl_pem(make_crl(trust_cas[1])))
    for content in (crl_content("no-such-version"), crl_content(None, key="missing.pem")):
        content = {k: v for k, v in content.items() if v is not None}
        with pytest.raises(elbv2.exceptions.RevocationContentNotFoundException):
            elbv2.add_trust_store_revocations(TrustStoreArn=arn, RevocationContents=[content])


def test_at_most_30_crls_per_store_all_or_nothing(elbv2, s3, bundle_version, trust_cas):
    arn = create_store(elbv2)["TrustStoreArn"]
    version = put_object(s3, "crl.pem", crl_pem(make_crl(trust_cas[1], serials=[1])))
    elbv2.add_trust_store_revocations(
        TrustStoreArn=arn, RevocationContents=[crl_content(version)] * 29
    )
    with pytest.raises(elbv2.exceptions.TooManyTrustStoreRevocationEntriesException):
        elbv2.add_trust_store_revocations(
            TrustStoreArn=arn, RevocationContents=[crl_content(version)] * 2
        )
    assert (
        len(elbv2.describe_trust_store_revocations(TrustStoreArn=arn)["TrustStoreRevocations"])
        == 29
    )


@pytest.fixture
def product_ca():
    """A CA built by the product (with a subject key identifier, as build_crl needs)."""
    signer = PrivateKeySigner(ec.generate_private_key(ec.SECP256R1()), "memory")
    certificate = build_root_certificate(
        signer=signer,
        subject=name("Product Root"),
        not_before=T0,
        not_after=T0 + timedelta(days=30),
    )
    return certificate, signer


def product_crl(product_ca, entries: int, number: int) -> bytes:
    certificate, signer = product_ca
    return build_crl(
        issuer=certificate,
        signer=signer,
        number=number,
        this_update=T0,
        next_update=T0 + timedelta(days=7),
        entries=(RevokedEntry(serial, 1_767_268_800, 1) for serial in range(1, entries + 1)),
    ).pem


@pytest.mark.slow
def test_at_most_500000_revoked_entries_per_store(elbv2, s3, bucket, product_ca):
    bundle = put_object(s3, "bundle.pem", bundle_pem([BuiltCA(product_ca[0], None)]))
    arn = create_store(elbv2, version=bundle)["TrustStoreArn"]
    first = put_object(s3, "crl.pem", product_crl(product_ca, 400_000, 1))
    elbv2.add_trust_store_revocations(TrustStoreArn=arn, RevocationContents=[crl_content(first)])
    second = put_object(s3, "crl.pem", product_crl(product_ca, 100_001, 2))
    with pytest.raises(elbv2.exceptions.TooManyTrustStoreRevocationEntriesException):
        elbv2.add_trust_store_revocations(
            TrustStoreArn=arn, RevocationContents=[crl_content(second)]
        )
    third = put_object(s3, "crl.pem", product_crl(product_ca, 100_000, 3))
    elbv2.add_trust_store_revocations(TrustStoreArn=arn, RevocationContents=[crl_content(third)])
    store = elbv2.describe_trust_stores(TrustStoreArns=[arn])["TrustStores"][0]
    assert store["TotalRevokedEntries"] == 500_000


def test_unknown_revocation_id_is_not_found(elbv2, s3, bundle_version, trust_cas):
    arn = create_store(elbv2)["TrustStoreArn"]
    version = put_object(s3, "crl.pem", crl_pem(make_crl(trust_cas[1])))
    (added,) = elbv2.add_trust_store_revocations(
        TrustStoreArn=arn, RevocationContents=[crl_content(version)]
    )["TrustStoreRevocations"]
    unknown = added["RevocationId"] + 1000
    with pytest.raises(elbv2.exceptions.RevocationIdNotFoundException):
        elbv2.remove_trust_store_revocations(
            TrustStoreArn=arn, RevocationIds=[added["RevocationId"], unknown]
        )
    with pytest.raises(elbv2.exceptions.RevocationIdNotFoundException):
        elbv2.describe_trust_store_revocations(TrustStoreArn=arn, RevocationIds=[unknown])
    with pytest.raises(elbv2.exceptions.RevocationIdNotFoundException):
        elbv2.get_trust_store_revocation_content(TrustStoreArn=arn, RevocationId=unknown)
    # all or nothing: the known id was not removed either
    assert (
        len(elbv2.describe_trust_store_revocations(TrustStoreArn=arn)["TrustStoreRevocations"]) == 1
    )


# -- quotas and pages: configurable, as AWS lets an account raise most quotas ---------------


def test_quotas_are_configurable(elbv2, s3, bundle_version, trust_cas, trust_fake):
    from albca.emulated_aws import TrustStoreQuotas

    trust_fake.quotas = TrustStoreQuotas(
        trust_stores_per_account=2, revocation_files_per_trust_store=2
    )
    arn = create_store(elbv2, name="one")["TrustStoreArn"]
    create_store(elbv2, name="two")
    with pytest.raises(elbv2.exceptions.TooManyTrustStoresException):
        create_store(elbv2, name="three")
    version = put_object(s3, "crl.pem", crl_pem(make_crl(trust_cas[1])))
    elbv2.add_trust_store_revocations(TrustStoreArn=arn, RevocationContents=[crl_content(version)])
    elbv2.add_trust_store_revocations(TrustStoreArn=arn, RevocationContents=[crl_content(version)])
    with pytest.raises(elbv2.exceptions.TooManyTrustStoreRevocationEntriesException):
        elbv2.add_trust_store_revocations(
            TrustStoreArn=arn, RevocationContents=[crl_content(version)]
        )


def test_a_raised_quota_is_honoured(elbv2, s3, bundle_version, trust_fake):
    from albca.emulated_aws import TrustStoreQuotas

    trust_fake.quotas = TrustStoreQuotas(trust_stores_per_account=21)
    for n in range(21):
        create_store(elbv2, name=f"store-{n}")
    with pytest.raises(elbv2.exceptions.TooManyTrustStoresException):
        create_store(elbv2, name="store-21")


def test_pages_are_never_longer_than_max_page_size(elbv2, s3, bundle_version, trust_cas):
    import boto3

    client = boto3.client("elbv2", region_name="us-east-1")
    install_trust_store_fake(client, s3, max_page_size=2)
    arns = [create_store(client, name=f"store-{n}")["TrustStoreArn"] for n in range(5)]
    first = client.describe_trust_stores(PageSize=400)
    assert len(first["TrustStores"]) == 2
    assert first["NextMarker"]
    version = put_object(s3, "crl.pem", crl_pem(make_crl(trust_cas[1])))
    client.add_trust_store_revocations(
        TrustStoreArn=arns[0], RevocationContents=[crl_content(version)] * 3
    )
    revocations = client.describe_trust_store_revocations(TrustStoreArn=arns[0], PageSize=400)
    assert len(revocations["TrustStoreRevocations"]) == 2
    rest = client.describe_trust_store_revocations(
        TrustStoreArn=arns[0], Marker=revocations["NextMarker"]
    )
    assert len(rest["TrustStoreRevocations"]) == 1
    assert "NextMarker" not in rest


# -- what AWS does not document: switchable ------------------------------------------------


def test_revocations_while_creating_are_accepted_or_refused(
    elbv2, s3, bundle_version, trust_cas, trust_fake
):
    from albca.emulated_aws import Undocumented

    version = put_object(s3, "crl.pem", crl_pem(make_crl(trust_cas[1])))
    accepted = create_store(elbv2, name="accepted")["TrustStoreArn"]
    elbv2.add_trust_store_revocations(
        TrustStoreArn=accepted, RevocationContents=[crl_content(version)]
    )
    trust_fake.undocumented = Undocumented(revocations_while_creating="refused")
    refused = create_store(elbv2, name="refused")["TrustStoreArn"]
    with pytest.raises(elbv2.exceptions.TrustStoreNotReadyException):
        elbv2.add_trust_store_revocations(
            TrustStoreArn=refused, RevocationContents=[crl_content(version)]
        )
    trust_fake.activate(refused)
    elbv2.add_trust_store_revocations(
        TrustStoreArn=refused, RevocationContents=[crl_content(version)]
    )


@pytest.mark.parametrize("orphan_crls", ["kept", "removed", "refused"])
def test_crls_whose_issuer_leaves_the_bundle(
    elbv2, s3, bundle_version, trust_cas, trust_fake, orphan_crls
):
    from albca.emulated_aws import Undocumented

    root, issuing = trust_cas
    trust_fake.undocumented = Undocumented(orphan_crls=orphan_crls)
    arn = active_store(elbv2, trust_fake, version=bundle_version)
    crls = [
        put_object(s3, "root.crl", crl_pem(make_crl(root))),
        put_object(s3, "issuing.crl", crl_pem(make_crl(issuing))),
    ]
    elbv2.add_trust_store_revocations(
        TrustStoreArn=arn,
        RevocationContents=[
            crl_content(crls[0], key="root.crl"),
            crl_content(crls[1], key="issuing.crl"),
        ],
    )
    root_only = put_object(s3, "bundle.pem", bundle_pem([root]))

    def held() -> int:
        return len(
            elbv2.describe_trust_store_revocations(TrustStoreArn=arn)["TrustStoreRevocations"]
        )

    if orphan_crls == "refused":
        with pytest.raises(elbv2.exceptions.InvalidCaCertificatesBundleException):
            modify_store(elbv2, arn, root_only)
        assert held() == 2
        assert trust_fake.bundle_location(arn).version_id == bundle_version
        return
    modify_store(elbv2, arn, root_only)
    assert held() == {"kept": 2, "removed": 1}[orphan_crls]
    # Re-adding the issuing CA with its own key is not an orphan: nothing more goes.
    modify_store(elbv2, arn, put_object(s3, "bundle.pem", bundle_pem(trust_cas)))
    assert held() == {"kept": 2, "removed": 1}[orphan_crls]


def test_undocumented_choices_are_checked():
    from albca.emulated_aws import Undocumented

    with pytest.raises(ValueError, match="orphan_crls"):
        Undocumented(orphan_crls="dropped")
