"""Waiting for a trust store to become ACTIVE: polled with a bound, never forever."""

from __future__ import annotations

import pytest

from albca.emulated_aws import TrustStoreFake, install_trust_store_fake
from albca.infra.calls import Aws
from albca.infra.clients import AwsClients
from albca.infra.errors import TrustStoreNotReady
from albca.infra.trust_store_ready import ExistingTrustStore
from albca.infra.waiting import Wait
from tests.aws.conftest import BUCKET, REGION, put_object
from tests.trust_factories import bundle_pem


@pytest.fixture
def slow_store(aws, s3, bucket, trust_cas):
    """A trust store that stays CREATING for 5 looks, and an Aws reaching it."""
    fake = TrustStoreFake(s3, creating_polls=5)
    clients = AwsClients(
        region=REGION,
        configure=lambda service, client: (
            install_trust_store_fake(client, fake=fake) if service == "elbv2" else None
        ),
    )
    version = put_object(s3, "bundle.pem", bundle_pem(trust_cas))
    clients.client("elbv2").create_trust_store(
        Name="slow",
        CaCertificatesBundleS3Bucket=BUCKET,
        CaCertificatesBundleS3Key="bundle.pem",
        CaCertificatesBundleS3ObjectVersion=version,
    )
    return Aws(clients)


def test_waits_until_active(slow_store):
    slept: list[float] = []
    store = ExistingTrustStore("slow", Wait(seconds=60, interval=2, sleep=slept.append))
    assert store.ready(slow_store).status == "ACTIVE"
    assert slept == [2, 2, 2, 2, 2]


def test_gives_up_at_the_bound_and_says_so(slow_store):
    slept: list[float] = []
    store = ExistingTrustStore("slow", Wait(seconds=6, interval=2, sleep=slept.append))
    with pytest.raises(TrustStoreNotReady) as caught:
        store.ready(slow_store)
    assert slept == [2, 2, 2]
    assert "is CREATING, not ACTIVE, after 6 s" in caught.value.message
    assert caught.value.status == "CREATING"


def test_a_dry_run_does_not_wait(slow_store):
    slept: list[float] = []
    slow_store.dry_run = True
    store = ExistingTrustStore("slow", Wait(seconds=60, interval=2, sleep=slept.append))
    assert store.ready(slow_store).status == "CREATING"
    assert slept == []
    assert "a real run waits up to 60 s" in slow_store.notes[0]
