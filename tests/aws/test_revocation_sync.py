"""Revocations in step: revoke -> new CRL published -> swapped into every trust store this
CA feeds, never leaving a store without a CRL; failures part-way leave the previous state
and a pending marker; limits are checked before anything is uploaded."""

from __future__ import annotations

import threading
import time

import pytest
from cryptography import x509

from albca.ca.names import RequestedNames
from albca.ca.records import RevocationReason
from albca.trust_bundle.alb_rules import TrustStoreLimits
from albca.trust_bundle.elbv2 import TAG_CRL_PREFIX
from albca.trust_bundle.errors import RevocationRejected, RevocationRule, SyncIncomplete
from albca.trust_bundle.publish import FilePublisher
from albca.trust_bundle.revocation_sync import (
    SYNC_LEASE,
    SYNC_LEASE_KEY,
    RevocationSync,
    sync_after_revocation,
)
from albca.trust_bundle.sync_trail import SYNC_PENDING, sync_state
from tests.aws.conftest import BUCKET, object_versions
from tests.aws.failures import fail


@pytest.fixture
def fake_settings(every_fake_setting):
    """Each test here runs under every answer AWS might give where it documents none
    (tests/aws/conftest.py, ``FAKE_SETTINGS``)."""
    return every_fake_setting


def issue(authority, name="alice"):
    return authority.issue_with_new_key(
        profile="client", names=RequestedNames.of(common_name=name), requested_by="test"
    )


def revoke(authority, issued):
    authority.revoke(issued.record.serial, RevocationReason.KEY_COMPROMISE, requested_by="test")


def crls_in_store(s3, trust_fake, arn) -> dict[int, x509.CertificateRevocationList]:
    """The CRLs a trust store holds, read from S3 at the exact versions it loaded."""
    crls = {}
    for revocation_id, location in trust_fake.revocation_locations(arn).items():
        body = s3.get_object(
            Bucket=location.bucket, Key=location.key, VersionId=location.version_id
        )["Body"].read()
        crls[revocation_id] = x509.load_pem_x509_crl(body)
    return crls


def revoked_serials(s3, trust_fake, arn) -> set[int]:
    return {
        entry.serial_number for crl in crls_in_store(s3, trust_fake, arn).values() for entry in crl
    }


def issuing_revocation(trust_api, name, issuer_key_id):
    """The revocation entry that holds ``issuer_key_id``'s CRL in store ``name``."""
    store = trust_api.get(name)
    tag = store.crls[issuer_key_id]
    (revocation,) = [
        r for r in trust_api.revocations(store.arn) if r.revocation_id == tag.revocation_id
    ]
    return revocation


def store_state(trust_api, name):
    store = trust_api.get(name)
    return sorted((r.revocation_id, r.entries) for r in trust_api.revocations(store.arn)), dict(
        store.tags
    )


def guard_never_without_a_crl(elbv2, s3, trust_fake, issuer_name: x509.Name) -> list[str]:
    """After every removal of a revocation entry, the store must still hold a CRL of the
    issuing CA. Returns the trust store calls made, in order."""
    calls: list[str] = []

    def record(model, **_):
        calls.append(model.name)

    def check(params, **_):
        arn = params["TrustStoreArn"]
        issuers = {crl.issuer for crl in crls_in_store(s3, trust_fake, arn).values()}
        assert issuer_name in issuers, "a trust store was left without a CRL of its CA"

    events = elbv2.meta.events
    for operation in ("AddTrustStoreRevocations", "RemoveTrustStoreRevocations", "AddTags"):
        events.register_first(f"before-call.elastic-load-balancing-v2.{operation}", record)
    events.register(
        "after-call.elastic-load-balancing-v2.RemoveTrustStoreRevocations",
        lambda context, **_: check(context["albca_emulation_params"]),
    )
    return calls


@pytest.fixture
def two_stores(manager):
    manager.create("store-a", actor="test")
    manager.create("store-b", actor="test")
    return ["store-a", "store-b"]


def test_a_revocation_reaches_every_fed_store_before_the_old_crl_leaves(
    manager, authority, two_stores, trust_api, trust_fake, s3, elbv2
):
    alice, bob = issue(authority, "alice"), issue(authority, "bob")
    before = {name: store_state(trust_api, name)[0] for name in two_stores}
    issuer_name = authority.issuer().certificate.subject
    calls = guard_never_without_a_crl(elbv2, s3, trust_fake, issuer_name)
    revoke(authority, alice)

    report = manager.revocation_sync().run(actor="test")

    assert calls == ["AddTrustStoreRevocations", "AddTags", "RemoveTrustStoreRevocations"] * 2
    issuing = authority.active_issuer_record().key_id
    for name in two_stores:
        store = trust_api.get(name)
        revocation = issuing_revocation(trust_api, name, issuing)
        assert revocation.entries == 1
        assert revocation.revocation_id not in [rid for rid, _ in before[name]]
        # One CRL per CA of the bundle, no more: the root's and the issuing CA's.
        assert len(trust_api.revocations(store.arn)) == 2
        serials = revoked_serials(s3, trust_fake, store.arn)
        assert alice.record.serial in serials
        assert bob.record.serial not in serials
    (crl,) = report.crls
    assert crl.entries == 1
    assert sync_state(authority.store).in_step


def test_the_crl_goes_to_s3_as_pem_at_a_new_version(manager, authority, two_stores, s3):
    revoke(authority, issue(authority))
    report = manager.revocation_sync().run(actor="test")
    (crl,) = report.crls
    key = f"pki/crl/{crl.issuer_key_id}.pem"
    body = s3.get_object(Bucket=BUCKET, Key=key, VersionId=crl.published.version_id)["Body"].read()
    assert body.startswith(b"-----BEGIN X509 CRL-----")
    publishes = [e for e in authority.audit() if e.action == "publish"]
    assert publishes[0].detail["version_id"] == crl.published.version_id


def test_entries_count_grows_with_each_revocation(manager, authority, two_stores, trust_api):
    for n in range(3):
        revoke(authority, issue(authority, f"user{n}"))
        manager.revocation_sync().run(actor="test")
        store = trust_api.get("store-a")
        assert store.revoked_entries == n + 1  # the root's CRL lists nothing
        assert len(trust_api.revocations(store.arn)) == 2


# -- limits, checked first -------------------------------------------------------------------


def test_limits_are_checked_before_anything_is_uploaded(
    manager, authority, two_stores, trust_api, s3
):
    for name in ("a", "b"):
        revoke(authority, issue(authority, name))
    versions = object_versions(s3)
    states = {name: store_state(trust_api, name) for name in two_stores}
    sync = RevocationSync(
        authority=authority,
        publisher=manager.publisher,
        trust_stores=trust_api,
        limits=TrustStoreLimits(max_revoked_entries=2),
    )
    # The store holds a CRL of 0 entries; for a moment it would hold that and the new one of
    # 2: fine. Revoke one more: 0 + 3 > 2 is refused before any upload.
    revoke(authority, issue(authority, "c"))
    with pytest.raises(SyncIncomplete) as caught:
        sync.run(actor="test")
    assert isinstance(caught.value.__cause__, RevocationRejected)
    assert caught.value.__cause__.rule is RevocationRule.MAX_ENTRIES
    assert "--allow-gap" in caught.value.message
    assert object_versions(s3) == versions
    assert {name: store_state(trust_api, name) for name in two_stores} == states


def test_allow_gap_swaps_when_old_and_new_cannot_be_held_together(
    manager, authority, two_stores, trust_api
):
    revoke(authority, issue(authority, "a"))
    manager.revocation_sync().run(actor="test")  # each store holds a CRL of 1 entry
    for name in ("b", "c"):
        revoke(authority, issue(authority, name))
    limits = TrustStoreLimits(max_revoked_entries=3)  # 1 + 3 > 3, but 3 alone fits
    strict = RevocationSync(
        authority=authority, publisher=manager.publisher, trust_stores=trust_api, limits=limits
    )
    with pytest.raises(SyncIncomplete):
        strict.run(actor="test")
    gap = RevocationSync(
        authority=authority,
        publisher=manager.publisher,
        trust_stores=trust_api,
        limits=limits,
        allow_gap=True,
    )
    gap.run(actor="test")
    issuing = authority.active_issuer_record().key_id
    for name in two_stores:
        assert issuing_revocation(trust_api, name, issuing).entries == 3


def test_too_many_crls_are_refused_before_upload(manager, authority, two_stores, trust_api, s3):
    versions = object_versions(s3)
    sync = RevocationSync(
        authority=authority,
        publisher=manager.publisher,
        trust_stores=trust_api,
        limits=TrustStoreLimits(max_crls=2),  # root's, issuing CA's old and new: 3
    )
    with pytest.raises(SyncIncomplete) as caught:
        sync.run(actor="test")
    assert caught.value.__cause__.rule is RevocationRule.MAX_CRLS
    assert object_versions(s3) == versions


# -- failures part-way ---------------------------------------------------------------------


def test_a_failed_crl_upload_changes_no_store_and_leaves_a_pending_marker(
    manager, authority, two_stores, trust_api, s3
):
    revoke(authority, issue(authority))
    states = {name: store_state(trust_api, name) for name in two_stores}
    versions = object_versions(s3)
    fail(s3, "PutObject", "InternalError")
    with pytest.raises(SyncIncomplete) as caught:
        manager.revocation_sync().run(actor="test", serial=123)
    assert "no trust store was changed" in caught.value.message
    assert caught.value.rerun == "albca truststore sync"
    assert {name: store_state(trust_api, name) for name in two_stores} == states
    assert object_versions(s3) == versions
    state = sync_state(authority.store)
    assert not state.in_step
    (marker,) = state.pending
    assert marker.action == SYNC_PENDING
    assert marker.serial == 123
    assert marker.detail["rerun"] == "albca truststore sync"
    # The rerun finishes the work and clears the marker.
    manager.revocation_sync().run(actor="test")
    assert sync_state(authority.store).in_step


def test_an_api_error_adding_the_crl_leaves_the_previous_crl(
    manager, authority, two_stores, trust_api, trust_fake, s3, elbv2
):
    alice = issue(authority)
    revoke(authority, alice)
    states = {name: store_state(trust_api, name) for name in two_stores}
    fail(elbv2, "AddTrustStoreRevocations", "InvalidRevocationContent", calls={1, 2})
    with pytest.raises(SyncIncomplete) as caught:
        manager.revocation_sync().run(actor="test")
    assert caught.value.failures.keys() == {"store-a", "store-b"}
    assert "InvalidRevocationContent" in caught.value.message
    assert {name: store_state(trust_api, name) for name in two_stores} == states
    manager.revocation_sync().run(actor="test")
    assert alice.record.serial in revoked_serials(s3, trust_fake, trust_api.get("store-a").arn)


def test_one_failing_store_does_not_hold_back_the_others(
    manager, authority, two_stores, trust_api, trust_fake, s3, elbv2
):
    alice = issue(authority)
    revoke(authority, alice)
    fail(elbv2, "AddTrustStoreRevocations", "ServiceUnavailable", calls={1})
    with pytest.raises(SyncIncomplete) as caught:
        manager.revocation_sync().run(actor="test")
    assert list(caught.value.failures) == ["store-a"]
    assert alice.record.serial in revoked_serials(s3, trust_fake, trust_api.get("store-b").arn)
    assert alice.record.serial not in revoked_serials(s3, trust_fake, trust_api.get("store-a").arn)


@pytest.mark.parametrize("failing", ["AddTags", "RemoveTrustStoreRevocations"])
def test_a_failure_after_the_new_crl_is_in_keeps_both_until_the_rerun(
    failing, manager, authority, two_stores, trust_api, trust_fake, s3, elbv2
):
    alice = issue(authority)
    revoke(authority, alice)
    arn = trust_api.get("store-a").arn
    fail(elbv2, failing, "Throttling", calls={1})
    with pytest.raises(SyncIncomplete):
        manager.revocation_sync().run(actor="test")
    # Two CRLs of the issuing CA: the old one and the new one, which has the revocation.
    issuer_name = authority.issuer().certificate.subject
    held = [c for c in crls_in_store(s3, trust_fake, arn).values() if c.issuer == issuer_name]
    assert len(held) == 2
    assert alice.record.serial in revoked_serials(s3, trust_fake, arn)
    manager.revocation_sync().run(actor="test")
    held = {
        rid: c for rid, c in crls_in_store(s3, trust_fake, arn).items() if c.issuer == issuer_name
    }
    ((revocation_id, crl),) = held.items()
    assert crl.get_revoked_certificate_by_serial_number(alice.record.serial) is not None
    tag = trust_api.get("store-a").crls[authority.active_issuer_record().key_id]
    assert tag.revocation_id == revocation_id


def test_the_time_budget_stops_the_run_between_calls(manager, authority, two_stores, trust_api):
    revoke(authority, issue(authority))
    states = {name: store_state(trust_api, name) for name in two_stores}
    ticks = iter(range(100))
    sync = RevocationSync(
        authority=authority,
        publisher=manager.publisher,
        trust_stores=trust_api,
        budget=0.5,
        monotonic=lambda: float(next(ticks)),  # every look at the clock is a second later
    )
    with pytest.raises(SyncIncomplete, match=r"time allowed \(0.5 s\) ran out"):
        sync.run(actor="test")
    assert {name: store_state(trust_api, name) for name in two_stores} == states
    assert not sync_state(authority.store).in_step


def test_sync_after_revocation_reports_pending_without_raising(manager, authority, two_stores, s3):
    alice = issue(authority)
    revoke(authority, alice)
    fail(s3, "PutObject", "AccessDenied")
    outcome = sync_after_revocation(
        manager.revocation_sync(), actor="api", serial=alice.record.serial
    )
    assert not outcome.synced
    assert outcome.to_json()["status"] == "pending"
    assert "access denied" in outcome.error
    assert sync_state(authority.store).pending[0].serial == alice.record.serial
    assert sync_after_revocation(
        manager.revocation_sync(), actor="api", serial=alice.record.serial
    ).synced


def test_a_revocation_without_a_sync_shows_as_not_in_step(manager, authority, two_stores):
    assert sync_state(authority.store).in_step
    alice = issue(authority)
    revoke(authority, alice)
    state = sync_state(authority.store)
    assert not state.in_step
    assert [e.serial for e in state.revocations_since] == [alice.record.serial]


def test_a_newer_crl_already_in_a_store_is_not_replaced(manager, authority, two_stores, trust_api):
    store = trust_api.get("store-a")
    issuer = authority.active_issuer_record().key_id
    tag = store.crls[issuer]
    before = trust_api.revocations(store.arn)
    # As another run, started later, would have left it: a CRL numbered above ours.
    trust_api.tag(store.arn, {f"{TAG_CRL_PREFIX}{issuer}": f"{tag.revocation_id}:999"})
    report = manager.revocation_sync().run(actor="test")
    by_name = {s.name: s for s in report.stores}
    assert by_name["store-a"].kept == (issuer,)
    assert by_name["store-a"].added == {}
    assert trust_api.revocations(store.arn) == before
    assert by_name["store-b"].added


def test_a_store_of_another_ca_is_left_alone(manager, authority, trust_api, tmp_path, publisher):
    from albca.trust_bundle.trust_stores import TrustStoreManager
    from tests.authorities import build_authority

    other = build_authority(tmp_path / "other", name="Other")
    other_manager = TrustStoreManager(
        authority=other, publisher=publisher, api=trust_api, poll_seconds=0
    )
    other_manager.create("other-ca", actor="test")
    manager.create("ours", actor="test")
    before = store_state(trust_api, "other-ca")
    report = manager.revocation_sync().run(actor="test")
    assert [s.name for s in report.stores] == ["ours"]
    assert store_state(trust_api, "other-ca") == before


def test_a_file_target_publishes_the_crls_only(authority, tmp_path):
    alice = issue(authority)
    revoke(authority, alice)
    sync = RevocationSync(
        authority=authority, publisher=FilePublisher(tmp_path / "pki"), trust_stores=None
    )
    (crl,) = sync.run(actor="test").crls
    written = x509.load_pem_x509_crl(
        (tmp_path / "pki" / "crl" / f"{crl.issuer_key_id}.pem").read_bytes()
    )
    assert written.get_revoked_certificate_by_serial_number(alice.record.serial) is not None


def test_a_crl_that_misses_the_revocation_is_not_reported_synced(authority, tmp_path, monkeypatch):
    # Issue 12, point 3: a store read that missed the revocation (as a lagging index
    # did) must leave the sync pending, not "in step", and publish nothing.
    from dataclasses import replace

    alice = issue(authority)
    revoke(authority, alice)
    store = authority.store
    read = store.next_crl

    def lagging_read(issuer_key_id, now):
        snapshot = read(issuer_key_id, now)
        entries = [e for e in snapshot.entries if e.serial != alice.record.serial]
        return replace(snapshot, entries=entries)

    monkeypatch.setattr(store, "next_crl", lagging_read)
    sync = RevocationSync(
        authority=authority, publisher=FilePublisher(tmp_path / "pki"), trust_stores=None
    )
    outcome = sync_after_revocation(sync, actor="api", serial=alice.record.serial)
    assert not outcome.synced
    assert f"does not list certificate {alice.record.serial:x}" in outcome.error
    assert not (tmp_path / "pki").exists()
    assert not sync_state(store).in_step
    monkeypatch.undo()
    assert sync_after_revocation(sync, actor="api", serial=alice.record.serial).synced


# -- two runs at once --------------------------------------------------------------------
def crl_numbers_tagged(trust_api, names, issuer) -> set[int]:
    return {trust_api.get(name).crls[issuer].number for name in names}


def test_overlapping_runs_take_turns_and_both_revocations_reach_the_stores(
    manager, authority, two_stores, trust_api, trust_fake, s3, elbv2
):
    # Before: the first run, acting on tags read before the second swapped in its newer
    # CRL, put its older CRL back and removed the newer one as no tag's: bob's
    # revocation left every store, and both runs reported success.
    alice, bob = issue(authority, "alice"), issue(authority, "bob")
    revoke(authority, alice)
    first_at_the_store, go_on = threading.Event(), threading.Event()

    def hold_the_first_add(**_):
        if not first_at_the_store.is_set():
            first_at_the_store.set()
            assert go_on.wait(30), "the test never let the first run go on"

    elbv2.meta.events.register_first(
        "before-call.elastic-load-balancing-v2.AddTrustStoreRevocations", hold_the_first_add
    )
    looks: list[bool] = []
    claim = authority.store.claim_notice

    def counted_claim(key, **kwargs):
        taken = claim(key, **kwargs)
        if key == SYNC_LEASE_KEY:
            looks.append(taken)
        return taken

    authority.store.claim_notice = counted_claim  # type: ignore[method-assign]
    reports: dict[str, object] = {}

    def run(name):
        try:
            reports[name] = manager.revocation_sync().run(actor=name)
        except Exception as exc:
            reports[name] = exc

    first = threading.Thread(target=run, args=("first",))
    first.start()
    assert first_at_the_store.wait(30)
    revoke(authority, bob)
    second = threading.Thread(target=run, args=("second",))
    second.start()
    while looks.count(False) < 2:  # the second run waits for its turn, looking again
        assert second.is_alive()
        assert "second" not in reports
        time.sleep(0.01)
    go_on.set()
    first.join(30)
    second.join(30)
    assert not isinstance(reports["first"], Exception), reports["first"]
    assert not isinstance(reports["second"], Exception), reports["second"]
    issuer = authority.active_issuer_record().key_id
    newest = max(crl.number for crl in reports["second"].crls)  # type: ignore[attr-defined]
    assert crl_numbers_tagged(trust_api, two_stores, issuer) == {newest}
    for name in two_stores:
        serials = revoked_serials(s3, trust_fake, trust_api.get(name).arn)
        assert {alice.record.serial, bob.record.serial} <= serials
    assert sync_state(authority.store).in_step


class _RunWithoutTurns(RevocationSync):
    """A run that does not wait for its turn: an albca from before the lease, or a run
    whose lease ran out while it was still working."""

    def _take_turn(self, turn: str) -> None:
        return None


def test_a_run_keeps_a_newer_crl_swapped_in_since_it_planned(
    manager, authority, two_stores, trust_api, trust_fake, s3
):
    alice, bob = issue(authority, "alice"), issue(authority, "bob")
    revoke(authority, alice)
    older = manager.revocation_sync()
    plain_apply = older._apply
    newer_reports = []

    def newer_run_first(plan, published):
        if not newer_reports:
            revoke(authority, bob)
            newer = _RunWithoutTurns(
                authority=authority, publisher=manager.publisher, trust_stores=trust_api
            )
            newer_reports.append(newer.run(actor="newer"))
        return plain_apply(plan, published)

    older._apply = newer_run_first  # type: ignore[method-assign]
    report = older.run(actor="older")

    issuer = authority.active_issuer_record().key_id
    newest = max(crl.number for crl in newer_reports[0].crls)
    assert max(crl.number for crl in report.crls) < newest
    assert crl_numbers_tagged(trust_api, two_stores, issuer) == {newest}
    assert {store.name: store.kept for store in report.stores} == {
        name: (issuer,) for name in two_stores
    }
    for name in two_stores:
        serials = revoked_serials(s3, trust_fake, trust_api.get(name).arn)
        assert {alice.record.serial, bob.record.serial} <= serials


def test_a_run_that_cannot_get_its_turn_in_its_budget_changes_nothing(
    manager, authority, two_stores, trust_api
):
    revoke(authority, issue(authority))
    states = {name: store_state(trust_api, name) for name in two_stores}
    assert authority.store.claim_notice(
        SYNC_LEASE_KEY, owner="another run", now=authority.now(), lease=SYNC_LEASE
    )
    ticks = iter(range(100))
    waits: list[float] = []
    sync = RevocationSync(
        authority=authority,
        publisher=manager.publisher,
        trust_stores=trust_api,
        budget=5,
        monotonic=lambda: float(next(ticks)),
        sleep=waits.append,
    )
    with pytest.raises(SyncIncomplete, match=r"another revocation sync held the trust stores"):
        sync.run(actor="test")
    assert waits
    assert waits == sorted(waits)
    assert {name: store_state(trust_api, name) for name in two_stores} == states
    assert not sync_state(authority.store).in_step
    # Once the other run gives its turn back, a run goes ahead.
    authority.store.release_notice(SYNC_LEASE_KEY, owner="another run")
    manager.revocation_sync().run(actor="test")
    assert sync_state(authority.store).in_step
