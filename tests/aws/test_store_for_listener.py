"""``trust_bundle.store_for_listener`` and ``trust_bundle.crl_freshness``: one trust store
made ready for a listener, changed only when it is not in step (moto S3, the ELBv2 fake
behind a real boto3 client)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from albca.ca.clock import FixedClock
from albca.trust_bundle.crl_freshness import CrlState, store_standing
from albca.trust_bundle.elbv2 import TAG_CA
from albca.trust_bundle.errors import TrustStoreError
from albca.trust_bundle.store_for_listener import StoreAction, ensure_trust_store, plan_trust_store
from albca.trust_bundle.trust_stores import TrustStoreManager
from tests.authorities import build_authority
from tests.aws.conftest import BUCKET, PREFIX, put_object


def operations(plan) -> list[str]:
    return [call.operation for call in plan.calls]


def standing(manager, name):
    store = manager.require_api().get(name)
    return store_standing(
        store,
        authority=manager.authority,
        api=manager.require_api(),
        publisher=manager.require_s3(),
        now=manager.authority.now(),
    )


@pytest.fixture
def clock():
    return FixedClock(datetime(2030, 1, 1, tzinfo=UTC))


@pytest.fixture
def timed_manager(tmp_path, clock, publisher, trust_api):
    authority = build_authority(tmp_path / "timed", clock=clock)
    return TrustStoreManager(
        authority=authority, publisher=publisher, api=trust_api, poll_seconds=0
    )


def test_a_new_store_is_planned_then_created_and_then_left_alone(manager):
    plan = plan_trust_store(manager, "edge")
    assert plan.action is StoreAction.CREATE
    assert plan.publishes_bundle
    assert plan.syncs_crls
    assert plan.waits
    assert operations(plan)[:2] == ["put_object", "create_trust_store"]

    result = ensure_trust_store(manager, "edge", actor="test")
    assert result.store.status == "ACTIVE"
    assert result.store.tags[TAG_CA] == manager.identity()
    assert "trust store edge created from" in result.describe()

    again = plan_trust_store(manager, "edge")
    assert again.action is StoreAction.NONE
    assert again.crls is not None
    assert again.crls.in_step
    assert again.calls == ()
    assert "already holds" in ensure_trust_store(manager, "edge", actor="test").describe()


def test_two_stores_synced_one_by_one_do_not_take_turns(manager):
    ensure_trust_store(manager, "first", actor="test")
    ensure_trust_store(manager, "second", actor="test")  # publishes newer CRL numbers
    first = standing(manager, "first")
    assert first.in_step, first.summary()
    assert plan_trust_store(manager, "first").calls == ()


def test_a_crl_past_half_its_validity_is_refreshed(timed_manager, clock):
    ensure_trust_store(timed_manager, "edge", actor="test")
    clock.advance(timedelta(days=3))  # the CRLs are valid for 7 days
    assert plan_trust_store(timed_manager, "edge").calls == ()
    clock.advance(timedelta(days=1))
    ageing = standing(timed_manager, "edge")
    assert {i.state for i in ageing.issuers} == {CrlState.AGEING}
    assert "past half its validity" in ageing.summary()
    result = ensure_trust_store(timed_manager, "edge", actor="test")
    assert result.sync is not None
    assert standing(timed_manager, "edge").in_step


def test_a_crl_added_by_hand_is_removed_and_a_removed_one_is_replaced(manager, elbv2, s3, bucket):
    store = ensure_trust_store(manager, "edge", actor="test").store
    issuer, tag = next(iter(store.crls.items()))
    elbv2.remove_trust_store_revocations(TrustStoreArn=store.arn, RevocationIds=[tag.revocation_id])
    crl = manager.authority.generate_crl(requested_by="test").pem
    version = put_object(s3, "by-hand/crl.pem", crl)
    extra = elbv2.add_trust_store_revocations(
        TrustStoreArn=store.arn,
        RevocationContents=[{"S3Bucket": BUCKET, "S3Key": "by-hand/crl.pem",
                             "S3ObjectVersion": version, "RevocationType": "CRL"}],
    )["TrustStoreRevocations"][0]["RevocationId"]  # fmt: skip

    found = standing(manager, "edge")
    assert found.orphans == (extra,)
    assert [i.state for i in found.issuers if i.issuer_key_id == issuer] == [CrlState.MISSING]
    plan = plan_trust_store(manager, "edge")
    removals = [c.params["RevocationIds"] for c in plan.calls
                if c.operation == "remove_trust_store_revocations"]  # fmt: skip
    assert [extra] in removals

    ensure_trust_store(manager, "edge", actor="test")
    assert standing(manager, "edge").in_step
    held = {r.revocation_id for r in manager.require_api().revocations(store.arn)}
    assert extra not in held
    assert len(held) == 2


def test_a_store_of_another_ca_is_refused(manager, trust_api, elbv2, s3, bucket):
    version = put_object(s3, f"{PREFIX}/other.pem", manager.bundle_pem())
    elbv2.create_trust_store(
        Name="theirs",
        CaCertificatesBundleS3Bucket=BUCKET,
        CaCertificatesBundleS3Key=f"{PREFIX}/other.pem",
        CaCertificatesBundleS3ObjectVersion=version,
        Tags=[{"Key": TAG_CA, "Value": "someone-else"}],
    )
    with pytest.raises(TrustStoreError, match="fed by another CA"):
        plan_trust_store(manager, "theirs")


def test_without_the_published_crl_the_standing_is_unknown(manager):
    store = ensure_trust_store(manager, "edge", actor="test").store
    found = store_standing(
        store,
        authority=manager.authority,
        api=manager.require_api(),
        publisher=None,
        now=manager.authority.now(),
    )
    assert {i.state for i in found.issuers} == {CrlState.UNKNOWN}
    assert not found.in_step
