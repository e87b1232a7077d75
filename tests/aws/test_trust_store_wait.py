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


class RecordedProgress:
    """A ``Progress`` that keeps what it was told."""

    def __init__(self) -> None:
        self.told: list[str] = []

    def start(self, description: str, total: int | None = None) -> None:
        self.told.append(f"start: {description}")

    def update(self, description: str) -> None:
        self.told.append(description)

    def advance(self, units: int = 1) -> None:
        self.told.append(f"+{units}")


def test_a_wait_says_what_it_waits_for(slow_store):
    # What a terminal's status line shows during the (up to 300 s) wait for ACTIVE.
    progress = RecordedProgress()
    wait = Wait(seconds=60, interval=2, sleep=lambda _: None, progress=progress)
    ExistingTrustStore("slow", wait).ready(slow_store)
    assert progress.told == ["trust store slow is CREATING, not yet ACTIVE; waiting up to 60 s"] * 5


def test_the_trust_store_api_says_what_it_waits_for(slow_store):
    from albca.trust_bundle.elbv2 import TrustStoreApi

    progress = RecordedProgress()
    clock = [0.0]
    api = TrustStoreApi(
        slow_store.clients.client("elbv2"),
        sleep=lambda seconds: clock.__setitem__(0, clock[0] + seconds),
        monotonic=lambda: clock[0],
        progress=progress,
    )
    (store,) = api.all()
    assert api.wait_active(store.arn, timeout=300, interval=5).status == "ACTIVE"
    assert progress.told
    assert set(progress.told) == {
        "trust store slow is CREATING, not yet ACTIVE; waiting up to 300 s"
    }
