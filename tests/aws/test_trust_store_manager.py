"""Trust stores this CA feeds (moto S3, the ELBv2 fake behind a real boto3 client): create
from the exact published version, wait until ACTIVE, show, update, delete, adopt."""

from __future__ import annotations

from datetime import timedelta

import pytest

from albca.ca.certificates import ca_subject
from albca.ca.hierarchy import create_issuing_ca
from albca.ca.keys import KeySpec, generate_private_key
from albca.ca.records import AuditEvent, AuthorityRecord, AuthorityRole, AuthorityStatus
from albca.ca.signer import PrivateKeySigner
from albca.emulated_aws import install_trust_store_fake
from albca.trust_bundle.elbv2 import TAG_BUNDLE, TAG_BUNDLE_VERSION, TAG_CA, TrustStoreApi
from albca.trust_bundle.errors import (
    BundleRejected,
    BundleRule,
    SyncIncomplete,
    TrustStoreError,
    TrustStoreInUse,
    TrustStoreNotFound,
)
from albca.trust_bundle.trust_stores import TrustStoreManager
from tests.aws.conftest import BUCKET, PREFIX, make_alb, put_object
from tests.aws.test_bundle_publish import _long_names
from tests.trust_factories import bundle_pem


@pytest.fixture
def fake_settings(every_fake_setting):
    """Each test here runs under every answer AWS might give where it documents none
    (tests/aws/conftest.py, ``FAKE_SETTINGS``)."""
    return every_fake_setting


def bundle_bytes(s3, location) -> bytes:
    body: bytes = s3.get_object(
        Bucket=location.bucket, Key=location.key, VersionId=location.version_id
    )["Body"].read()
    return body


def test_create_loads_the_exact_published_version_and_waits_until_active(
    manager, trust_api, trust_fake, s3
):
    result = manager.create("prod-clients", actor="test")
    (store,) = result.stores
    assert store.status == "ACTIVE"
    published = result.bundle.published
    location = trust_fake.bundle_location(store.arn)
    assert (location.bucket, location.key, location.version_id) == (
        BUCKET,
        f"{PREFIX}/ca-bundle.pem",
        published.version_id,
    )
    assert bundle_bytes(s3, location) == manager.bundle_pem()
    # Tagged so that any albca, anywhere, knows this CA feeds it and what it was given.
    assert store.tags[TAG_CA] == manager.identity()
    assert store.tags[TAG_BUNDLE] == f"s3://{BUCKET}/{PREFIX}/ca-bundle.pem"
    assert store.tags[TAG_BUNDLE_VERSION] == published.version_id
    # It holds a CRL for each CA before anyone can attach it to a listener.
    revocations = {r.revocation_id for r in trust_api.revocations(store.arn)}
    key_ids = {r.key_id for r in manager.authority.authorities()}
    assert set(store.crls) == key_ids
    assert {tag.revocation_id for tag in store.crls.values()} == revocations
    assert [s.name for s in manager.fed()] == ["prod-clients"]


def test_create_polls_describe_until_active(authority, publisher, elbv2, s3, aws):
    import boto3

    client = boto3.client("elbv2", region_name="us-east-1")
    fake = install_trust_store_fake(client, s3, creating_polls=3)
    naps: list[float] = []
    api = TrustStoreApi(client, sleep=naps.append)
    manager = TrustStoreManager(authority=authority, publisher=publisher, api=api, poll_seconds=2.0)
    result = manager.create("slow", actor="test")
    assert result.stores[0].status == "ACTIVE"
    assert naps == [2.0, 2.0, 2.0]
    assert fake.bundle_location(result.stores[0].arn).version_id


def test_create_gives_up_after_the_bound_and_says_what_to_rerun(authority, publisher, s3, aws):
    import boto3

    client = boto3.client("elbv2", region_name="us-east-1")
    install_trust_store_fake(client, s3, creating_polls=1_000)
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    api = TrustStoreApi(client, sleep=sleep, monotonic=lambda: clock[0])
    manager = TrustStoreManager(
        authority=authority, publisher=publisher, api=api, wait_seconds=30, poll_seconds=5
    )
    with pytest.raises(SyncIncomplete) as caught:
        manager.create("stuck", actor="test")
    assert "still CREATING after 30 s" in caught.value.message
    assert caught.value.rerun == "albca truststore update stuck"
    assert clock[0] == 30


def test_a_second_store_of_the_same_name_is_refused_clearly(manager):
    manager.create("prod", actor="test")
    with pytest.raises(TrustStoreError, match="already exists in this region"):
        manager.create("prod", actor="test")


def add_standby_issuing_ca(authority, signers, common_name: str = "Second Issuing CA"):
    """A new issuing CA in standby: it changes the bundle without switching anything."""
    root = next(r for r in authority.authorities() if r.role is AuthorityRole.ROOT)
    signers["mem:extra"] = PrivateKeySigner(generate_private_key(KeySpec.EC_P256), "mem:extra")
    return create_issuing_ca(
        store=authority.store,
        root=root,
        root_signer=authority.issuer(root.key_id).signer,
        issuing_signer=signers["mem:extra"],
        subject=ca_subject(common_name),
        lifetime=timedelta(days=365),
        now=authority.now(),
        actor="test",
    )


def test_update_points_every_fed_store_at_the_new_version(
    manager, trust_fake, authority, ca_signers
):
    first = manager.create("one", actor="test").bundle.published.version_id
    manager.create("two", actor="test")
    add_standby_issuing_ca(authority, ca_signers)
    result = manager.update(actor="test")
    assert not result.bundle.reused
    assert result.bundle.published.version_id != first
    assert len(result.stores) == 2
    for store in result.stores:
        location = trust_fake.bundle_location(store.arn)
        assert location.version_id == result.bundle.published.version_id
        assert store.ca_certificates == 3
        assert len(store.crls) == 3  # a CRL for each CA, the new one included


def test_update_of_an_unchanged_bundle_leaves_the_store_on_its_version(manager, trust_fake):
    created = manager.create("steady", actor="test")
    result = manager.update(actor="test")
    assert result.bundle.reused
    arn = created.stores[0].arn
    assert trust_fake.bundle_location(arn).version_id == created.bundle.published.version_id


def test_a_store_made_by_hand_is_fed_only_when_adopted(manager, elbv2, s3, trust_cas, trust_fake):
    version = put_object(s3, "by-hand.pem", bundle_pem(trust_cas))
    arn = elbv2.create_trust_store(
        Name="console-made",
        CaCertificatesBundleS3Bucket=BUCKET,
        CaCertificatesBundleS3Key="by-hand.pem",
        CaCertificatesBundleS3ObjectVersion=version,
    )["TrustStores"][0]["TrustStoreArn"]
    trust_fake.activate(arn)
    assert manager.fed() == []
    with pytest.raises(TrustStoreNotFound, match="pass --adopt"):
        manager.update(["console-made"], actor="test")
    result = manager.update(["console-made"], actor="test", adopt=True)
    assert result.stores[0].ca_id == manager.identity()
    assert trust_fake.bundle_location(arn).key == f"{PREFIX}/ca-bundle.pem"
    assert [s.name for s in manager.fed()] == ["console-made"]


def test_show_lists_certificates_revocations_and_listeners(manager, elbv2, alb, authority):
    store = manager.create("shown", actor="test").stores[0]
    elbv2.modify_listener(
        ListenerArn=alb.listener_arn,
        MutualAuthentication={"Mode": "verify", "TrustStoreArn": store.arn},
    )
    view = manager.show("shown")
    assert {issuer for _, issuer in view.revocations} == {r.key_id for r in authority.authorities()}
    assert [use.listener_arn for use in view.listeners] == [alb.listener_arn]
    assert view.bundle_subjects is not None
    assert any("Test Issuing CA" in subject for subject in view.bundle_subjects)
    shown = view.to_json()
    assert shown["bundle"]["ca_certificates"] == 2
    assert shown["listeners"][0]["load_balancer_arn"] == alb.load_balancer_arn


def test_delete_refuses_while_a_listener_verifies_with_it_and_names_it(
    manager, elbv2, alb, trust_api
):
    store = manager.create("in-use", actor="test").stores[0]
    elbv2.modify_listener(
        ListenerArn=alb.listener_arn,
        MutualAuthentication={"Mode": "verify", "TrustStoreArn": store.arn},
    )
    with pytest.raises(TrustStoreInUse) as caught:
        manager.delete("in-use", actor="test")
    assert caught.value.listeners == (alb.listener_arn,)
    assert alb.listener_arn in caught.value.message
    assert trust_api.get("in-use").arn == store.arn  # still there
    elbv2.modify_listener(ListenerArn=alb.listener_arn, MutualAuthentication={"Mode": "off"})
    manager.delete("in-use", actor="test")
    with pytest.raises(TrustStoreNotFound):
        trust_api.get("in-use")
    assert any(e.action == "truststore-delete" for e in manager.authority.audit())


def test_a_listener_on_another_load_balancer_is_named_too(manager, elbv2):
    store = manager.create("shared", actor="test").stores[0]
    other = make_alb(elbv2, "albca-other")
    elbv2.modify_listener(
        ListenerArn=other.listener_arn,
        MutualAuthentication={"Mode": "verify", "TrustStoreArn": store.arn},
    )
    with pytest.raises(TrustStoreInUse, match="albca-other"):
        manager.delete("shared", actor="test")


def test_update_checks_the_ca_names_rule_when_a_listener_advertises_them(
    manager, elbv2, alb, authority
):
    store = manager.create("advertised", actor="test").stores[0]
    elbv2.modify_listener(
        ListenerArn=alb.listener_arn,
        MutualAuthentication={
            "Mode": "verify",
            "TrustStoreArn": store.arn,
            "AdvertiseTrustStoreCaNames": "on",
        },
    )
    # CAs with long subjects push the names past 10,000 bytes.
    for n, built in enumerate(_long_names(23)):
        authority.store.add_authority(
            AuthorityRecord(
                key_id=f"{n:040x}",
                role=AuthorityRole.ROOT,
                status=AuthorityStatus.STANDBY,
                certificate_pem=built.pem.decode(),
                key_location="mem:none",
                parent_key_id=None,
                # Later than the CA's own root, which stays the CA's identity.
                created_at=authority.now() + timedelta(minutes=1),
            ),
            AuditEvent(at=authority.now(), action="ca-create", actor="test"),
        )
    with pytest.raises(BundleRejected) as caught:
        manager.update(actor="test")
    assert caught.value.rule is BundleRule.CA_NAMES_SIZE
