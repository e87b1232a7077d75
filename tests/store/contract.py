"""The store contract: what every ``CertificateStore`` backend must do.

A backend's test module subclasses ``StoreContract`` and provides one fixture,
``open_store``: a callable that opens the backend over fresh backing storage the first
time and over the *same* storage on every later call (so that persistence across restarts
can be checked). Example::

    class TestSqliteStore(StoreContract):
        @pytest.fixture
        def open_store(self, tmp_path):
            return lambda: SqliteStore(tmp_path / "albca.db")
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from albca.ca.errors import AlreadyRevoked, CertificateNotFound, DuplicateSerial, InvalidSerial
from albca.ca.records import (
    AuditEvent,
    AuthorityRecord,
    AuthorityRole,
    AuthorityStatus,
    CertificateQuery,
    CertificateStatus,
    EffectiveStatus,
    RevocationReason,
)
from albca.ca.stores.protocol import CertificateStore, CrlState, IssuerCounts, KeptCrl
from tests.factories import T0, issue_event, make_record

OpenStore = Callable[[], CertificateStore]
ISSUER_A = "aa" * 20
ISSUER_B = "bb" * 20
MAX_SERIAL = (1 << 159) - 1


def revoke_event(serial: int) -> AuditEvent:
    return AuditEvent(at=T0, action="revoke", actor="test", serial=serial, detail={"r": 1})


class StoreContract:
    @pytest.fixture
    def store(self, open_store: OpenStore):
        store = open_store()
        yield store
        store.close()

    # -- certificates ----------------------------------------------------------------
    def test_added_certificate_reads_back_identical(self, store):
        record = make_record(
            0x1234,
            common_name="alice",
            dns_names=("a.example", "b.example"),
            ip_addresses=("10.0.0.1", "2001:db8::1"),
        )
        store.add_certificate(record, issue_event(record))
        assert store.get_certificate(0x1234) == record

    @pytest.mark.parametrize("serial", [1, 0xFF, 0x100, MAX_SERIAL])
    def test_serials_of_every_size_round_trip(self, store, serial):
        record = make_record(serial)
        store.add_certificate(record, issue_event(record))
        assert store.get_certificate(serial).serial == serial

    def test_unknown_serial_is_not_found(self, store):
        with pytest.raises(CertificateNotFound) as caught:
            store.get_certificate(0xDEAD)
        assert caught.value.serial == 0xDEAD
        assert "dead" in str(caught.value)

    # A backend either finds serials by their first hex digits or refuses with
    # InvalidSerial (DynamoDB: no index sorted by serial); never a wrong answer.
    answers_serial_prefixes = True

    def test_serials_are_found_by_their_first_hex_digits(self, store):
        serials = [0x12345678, 0x1234567890AB, 0x1234567899, 0x123456789, 0xABC, 0x1234567A]
        for serial in serials:
            record = make_record(serial)
            store.add_certificate(record, issue_event(record))
        if not self.answers_serial_prefixes:
            with pytest.raises(InvalidSerial, match="whole serial"):
                store.serials_with_prefix("12345678", limit=10)
            return
        # Every length of hex form: 8, 9, 10 and 12 digits; not 1234567a, not abc. Ascending.
        assert store.serials_with_prefix("12345678", limit=10) == [
            0x12345678,
            0x123456789,
            0x1234567899,
            0x1234567890AB,
        ]
        assert store.serials_with_prefix("123456789", limit=10) == [
            0x123456789,
            0x1234567899,
            0x1234567890AB,
        ]
        assert len(store.serials_with_prefix("12345678", limit=2)) == 2
        assert store.serials_with_prefix("12345670", limit=10) == []
        top = MAX_SERIAL >> 40  # a 40-digit serial's first 30 digits
        record = make_record(MAX_SERIAL)
        store.add_certificate(record, issue_event(record))
        assert store.serials_with_prefix(f"{top:x}", limit=10) == [MAX_SERIAL]

    def test_duplicate_serial_is_refused_and_keeps_the_first(self, store):
        first = make_record(7, common_name="first")
        store.add_certificate(first, issue_event(first))
        second = make_record(7, common_name="second")
        with pytest.raises(DuplicateSerial):
            store.add_certificate(second, issue_event(second))
        assert store.get_certificate(7).common_name == "first"
        assert [e.serial for e in store.audit_events()] == [7]

    def test_adding_a_certificate_records_its_audit_event(self, store):
        record = make_record(42, requested_by="token:ci")
        store.add_certificate(record, issue_event(record))
        (event,) = store.audit_events()
        assert (event.action, event.actor, event.serial) == ("issue", "token:ci", 42)
        assert event.detail == {"profile": "client"}
        assert event.id is not None

    # -- batches ---------------------------------------------------------------------
    def test_a_batch_commits_every_record_with_its_audit_event(self, store):
        records = [make_record(serial, common_name=f"n{serial}") for serial in range(1, 21)]
        store.add_certificates([(record, issue_event(record)) for record in records])
        assert [store.get_certificate(r.serial) for r in records] == records
        assert sorted(e.serial for e in store.audit_events()) == list(range(1, 21))

    def test_a_batch_meeting_a_stored_serial_writes_nothing(self, store):
        kept = make_record(7, common_name="kept")
        store.add_certificate(kept, issue_event(kept))
        batch = [make_record(serial) for serial in (5, 6, 7, 8)]
        with pytest.raises(DuplicateSerial) as caught:
            store.add_certificates([(record, issue_event(record)) for record in batch])
        assert caught.value.serial == 7
        for serial in (5, 6, 8):
            with pytest.raises(CertificateNotFound):
                store.get_certificate(serial)
        assert store.get_certificate(7).common_name == "kept"
        assert [e.serial for e in store.audit_events()] == [7]

    def test_a_full_batch_commits_whole_or_not_at_all(self, store):
        # As many records as one transaction takes: the SQLite store writes them with
        # several multi-row INSERTs, and a stored serial near the end rolls back them all.
        serials = range(1000, 1000 + store.batch_limit)
        kept = make_record(serials[-2], common_name="kept")
        store.add_certificate(kept, issue_event(kept))
        batch = [make_record(serial) for serial in serials]
        with pytest.raises(DuplicateSerial) as caught:
            store.add_certificates([(record, issue_event(record)) for record in batch])
        assert caught.value.serial == kept.serial
        for serial in (serials[0], serials[len(serials) // 2], serials[-1]):
            with pytest.raises(CertificateNotFound):
                store.get_certificate(serial)
        assert [e.serial for e in store.audit_events(limit=10)] == [kept.serial]
        batch = [record for record in batch if record.serial != kept.serial]
        store.add_certificates([(record, issue_event(record)) for record in batch])
        assert store.get_certificate(serials[0]) == batch[0]
        assert store.get_certificate(serials[-1]) == batch[-1]
        assert len(store.audit_events(limit=store.batch_limit + 1)) == store.batch_limit

    def test_a_batch_repeating_a_serial_writes_nothing(self, store):
        batch = [make_record(serial) for serial in (11, 12, 11)]
        with pytest.raises(DuplicateSerial):
            store.add_certificates([(record, issue_event(record)) for record in batch])
        with pytest.raises(CertificateNotFound):
            store.get_certificate(11)
        assert store.audit_events() == []

    def test_a_batch_over_the_limit_is_refused_before_any_write(self, store):
        batch = [make_record(serial) for serial in range(1, store.batch_limit + 2)]
        with pytest.raises(ValueError, match=f"at most {store.batch_limit}"):
            store.add_certificates([(record, issue_event(record)) for record in batch])
        assert store.audit_events() == []

    def test_an_empty_batch_writes_nothing(self, store):
        store.add_certificates([])
        assert store.audit_events() == []

    # -- revocation ------------------------------------------------------------------
    def test_revoke_records_time_and_reason(self, store):
        record = make_record(5)
        store.add_certificate(record, issue_event(record))
        at = T0 + timedelta(hours=1)
        revoked = store.revoke_certificate(5, at, RevocationReason.KEY_COMPROMISE, revoke_event(5))
        assert revoked.status is CertificateStatus.REVOKED
        assert store.get_certificate(5) == revoked
        assert revoked.revoked_at == at
        assert revoked.revocation_reason is RevocationReason.KEY_COMPROMISE

    def test_second_revocation_is_refused_and_recorded_once(self, store):
        record = make_record(5)
        store.add_certificate(record, issue_event(record))
        first_at = T0 + timedelta(hours=1)
        store.revoke_certificate(5, first_at, RevocationReason.SUPERSEDED, revoke_event(5))
        with pytest.raises(AlreadyRevoked) as caught:
            store.revoke_certificate(
                5, T0 + timedelta(hours=2), RevocationReason.KEY_COMPROMISE, revoke_event(5)
            )
        assert caught.value.serial == 5
        kept = store.get_certificate(5)
        assert kept.revoked_at == first_at
        assert kept.revocation_reason is RevocationReason.SUPERSEDED
        actions = [e.action for e in store.audit_events(serial=5)]
        assert actions == ["revoke", "issue"]

    def test_revoking_an_unknown_serial_changes_nothing(self, store):
        with pytest.raises(CertificateNotFound):
            store.revoke_certificate(9, T0, RevocationReason.UNSPECIFIED, revoke_event(9))
        assert store.audit_events() == []

    def test_concurrent_revocations_of_one_serial_record_exactly_one(self, open_store):
        store = open_store()
        record = make_record(77)
        store.add_certificate(record, issue_event(record))
        outcomes: list[str] = []
        lock = threading.Lock()

        def revoke(reason: RevocationReason) -> None:
            try:
                store.revoke_certificate(77, T0, reason, revoke_event(77))
                result = "revoked"
            except AlreadyRevoked:
                result = "already"
            with lock:
                outcomes.append(result)

        threads = [
            threading.Thread(target=revoke, args=(reason,))
            for reason in [RevocationReason.KEY_COMPROMISE] * 4 + [RevocationReason.SUPERSEDED] * 4
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["already"] * 7 + ["revoked"]
        assert [e.action for e in store.audit_events(serial=77)] == ["revoke", "issue"]
        store.close()

    # -- queries ---------------------------------------------------------------------
    @pytest.fixture
    def mixed(self, store):
        """Active, expired and revoked certificates of two profiles and two issuers."""
        now = T0 + timedelta(days=10)
        records = {
            "active_client": make_record(1, not_after=T0 + timedelta(days=20)),
            "soon_server": make_record(2, profile="server", not_after=T0 + timedelta(days=12)),
            "expired_client": make_record(3, not_after=T0 + timedelta(days=5)),
            "revoked_client": make_record(4, not_after=T0 + timedelta(days=40)),
            "other_issuer": make_record(
                5, issuer_key_id=ISSUER_B, not_after=T0 + timedelta(days=30)
            ),
        }
        for record in records.values():
            store.add_certificate(record, issue_event(record))
        store.revoke_certificate(4, T0, RevocationReason.KEY_COMPROMISE, revoke_event(4))
        return store, now

    @staticmethod
    def serials(page):
        return [record.serial for record in page.records]

    def test_query_by_status(self, mixed):
        store, now = mixed
        assert self.serials(
            store.query_certificates(CertificateQuery(status=EffectiveStatus.ACTIVE), now)
        ) == [2, 1, 5]
        assert self.serials(
            store.query_certificates(CertificateQuery(status=EffectiveStatus.EXPIRED), now)
        ) == [3]
        assert self.serials(
            store.query_certificates(CertificateQuery(status=EffectiveStatus.REVOKED), now)
        ) == [4]

    def test_query_by_profile_issuer_and_expiry(self, mixed):
        store, now = mixed
        by_profile = store.query_certificates(CertificateQuery(profile="server"), now)
        assert self.serials(by_profile) == [2]
        by_issuer = store.query_certificates(CertificateQuery(issuer_key_id=ISSUER_B), now)
        assert self.serials(by_issuer) == [5]
        expiring = store.query_certificates(
            CertificateQuery(
                status=EffectiveStatus.ACTIVE, expiring_before=now + timedelta(days=5)
            ),
            now,
        )
        assert self.serials(expiring) == [2]

    def test_query_orders_by_expiry_then_serial_and_pages_without_gaps(self, store):
        same_expiry = T0 + timedelta(days=30)
        serials = [0x10, 0x2, MAX_SERIAL, 0x100, 0x3]
        for serial in serials:
            record = make_record(serial, not_after=same_expiry)
            store.add_certificate(record, issue_event(record))
        early = make_record(0xFFFF, not_after=T0 + timedelta(days=1))
        store.add_certificate(early, issue_event(early))
        seen: list[int] = []
        cursor = None
        while True:
            page = store.query_certificates(CertificateQuery(limit=2, cursor=cursor), T0)
            seen += self.serials(page)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == [0xFFFF, *sorted(serials)]

    def test_a_status_listing_resumed_from_any_cursor_keeps_its_filter(self, mixed):
        store, now = mixed
        # Cursors of the unfiltered listing: after serial 3 (expired) and after serial 2.
        after_3 = store.query_certificates(CertificateQuery(limit=1), now).next_cursor
        after_2 = store.query_certificates(CertificateQuery(limit=2), now).next_cursor
        active = EffectiveStatus.ACTIVE
        resumed = store.query_certificates(CertificateQuery(status=active, cursor=after_3), now)
        assert self.serials(resumed) == [2, 1, 5]  # the cursor is before now: not expired ones
        resumed = store.query_certificates(CertificateQuery(status=active, cursor=after_2), now)
        assert self.serials(resumed) == [1, 5]

    def test_cursors_stay_stable_while_certificates_are_added(self, store):
        # A keyset cursor names a place in the (not_after, serial) order, not an offset:
        # records added while a client pages neither repeat nor push earlier ones out.
        def add(serial: int, days: int) -> None:
            record = make_record(serial, not_after=T0 + timedelta(days=days))
            store.add_certificate(record, issue_event(record))

        for serial in range(1, 9):
            add(serial, 10 + serial)  # expiring on days 11..18
        first = store.query_certificates(CertificateQuery(limit=3), T0)
        assert self.serials(first) == [1, 2, 3]
        add(100, 1)  # before the cursor: belongs to a page already read
        add(101, 13)  # same expiry as serial 3, a higher serial: after the cursor
        add(102, 30)  # at the end
        seen = self.serials(first)
        cursor = first.next_cursor
        while cursor is not None:
            page = store.query_certificates(CertificateQuery(limit=3, cursor=cursor), T0)
            seen += self.serials(page)
            cursor = page.next_cursor
        assert seen == [1, 2, 3, 101, 4, 5, 6, 7, 8, 102]

    def test_issuer_counts_follow_issue_revocation_and_expiry(self, store):
        day = timedelta(days=1)
        assert store.issuer_counts(ISSUER_A, T0) == IssuerCounts(issued=0, active=0)
        for serial, days in ((1, 10), (2, 20), (3, 30)):
            record = make_record(serial, not_after=T0 + days * day)
            store.add_certificate(record, issue_event(record))
        assert store.issuer_counts(ISSUER_A, T0) == IssuerCounts(issued=3, active=3)
        store.revoke_certificate(2, T0, RevocationReason.SUPERSEDED, revoke_event(2))
        assert store.issuer_counts(ISSUER_A, T0) == IssuerCounts(issued=3, active=2)
        # Expiry needs no write: at not_after a certificate is no longer active.
        assert store.issuer_counts(ISSUER_A, T0 + 10 * day) == IssuerCounts(issued=3, active=1)
        assert store.issuer_counts(ISSUER_A, T0 + 30 * day) == IssuerCounts(issued=3, active=0)
        assert store.issuer_counts(ISSUER_B, T0) == IssuerCounts(issued=0, active=0)

    def test_issuer_counts(self, mixed):
        store, now = mixed
        counts = store.issuer_counts(ISSUER_A, now)
        assert (counts.issued, counts.active) == (4, 2)
        assert store.issuer_counts("cc" * 20, now).issued == 0

    # -- CRLs ------------------------------------------------------------------------
    def test_revoked_entries_hold_unexpired_revocations_of_one_issuer(self, store):
        now = T0 + timedelta(days=10)
        specs = [
            (1, ISSUER_A, T0 + timedelta(days=30), RevocationReason.KEY_COMPROMISE),
            (2, ISSUER_A, T0 + timedelta(days=5), RevocationReason.SUPERSEDED),  # expired
            (3, ISSUER_B, T0 + timedelta(days=30), RevocationReason.UNSPECIFIED),  # other CA
            (4, ISSUER_A, T0 + timedelta(days=30), None),  # not revoked
        ]
        for serial, issuer, not_after, reason in specs:
            record = make_record(serial, issuer_key_id=issuer, not_after=not_after)
            store.add_certificate(record, issue_event(record))
            if reason is not None:
                store.revoke_certificate(
                    serial, T0 + timedelta(hours=serial), reason, revoke_event(serial)
                )
        entries = store.revoked_entries(ISSUER_A, now)
        assert [(e.serial, e.reason) for e in entries] == [(1, 1)]
        assert entries[0].revoked_at == int((T0 + timedelta(hours=1)).timestamp())

    def test_next_crl_takes_a_number_and_reads_the_entries_of_that_instant(self, store):
        now = T0 + timedelta(days=1)
        for serial in (1, 2, 3):
            record = make_record(serial)
            store.add_certificate(record, issue_event(record))
        store.revoke_certificate(1, T0, RevocationReason.SUPERSEDED, revoke_event(1))
        first = store.next_crl(ISSUER_A, now)
        assert (first.number, first.revocations) == (1, 1)
        assert [e.serial for e in first.entries] == [1]
        store.revoke_certificate(3, T0, RevocationReason.KEY_COMPROMISE, revoke_event(3))
        assert store.next_crl_number(ISSUER_A) == 2  # the same counter
        second = store.next_crl(ISSUER_A, now)
        assert (second.number, second.revocations) == (3, 2)
        assert sorted((e.serial, e.reason) for e in second.entries) == [(1, 4), (3, 1)]
        other = store.next_crl(ISSUER_B, now)
        assert (other.number, other.revocations, list(other.entries)) == (1, 0, [])

    def test_crl_state_counts_revocations_and_keep_crl_keeps_the_highest_number(self, store):
        assert store.crl_state(ISSUER_A) == CrlState(0, None)
        assert store.kept_crl(ISSUER_A) is None
        record = make_record(1)
        store.add_certificate(record, issue_event(record))
        store.revoke_certificate(1, T0, RevocationReason.SUPERSEDED, revoke_event(1))
        assert store.crl_state(ISSUER_A).revocations == 1
        assert store.crl_state(ISSUER_B).revocations == 0

        def kept(number: int, der: bytes) -> KeptCrl:
            return KeptCrl(number, 1, T0, T0 + timedelta(days=7), 1, der)

        assert store.keep_crl(ISSUER_A, kept(5, b"five")) == kept(5, b"five")
        assert store.keep_crl(ISSUER_A, kept(4, b"four")) == kept(5, b"five")  # lower: refused
        assert store.keep_crl(ISSUER_A, kept(6, b"six")) == kept(6, b"six")
        assert store.kept_crl(ISSUER_A) == kept(6, b"six")
        state = store.crl_state(ISSUER_A)
        assert state.revocations == 1
        assert state.kept == replace(kept(6, b"six"), der=None)  # the facts, not the bytes
        assert store.kept_crl(ISSUER_B) is None

    def test_crl_numbers_increase_per_issuer(self, store):
        assert [store.next_crl_number(ISSUER_A) for _ in range(3)] == [1, 2, 3]
        assert store.next_crl_number(ISSUER_B) == 1
        assert store.next_crl_number(ISSUER_A) == 4

    def test_crl_numbers_survive_a_restart(self, open_store):
        first = open_store()
        first.next_crl_number(ISSUER_A)
        first.next_crl_number(ISSUER_A)
        first.close()
        again = open_store()
        assert again.next_crl_number(ISSUER_A) == 3
        again.close()

    def test_concurrent_crl_numbers_are_unique(self, open_store):
        store = open_store()
        numbers: list[int] = []
        lock = threading.Lock()

        def take() -> None:
            for _ in range(10):
                number = store.next_crl_number(ISSUER_A)
                with lock:
                    numbers.append(number)

        threads = [threading.Thread(target=take) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(numbers) == list(range(1, 41))
        store.close()

    def test_concurrent_writers_lose_no_record(self, open_store):
        store = open_store()

        def write(offset: int) -> None:
            for index in range(25):
                record = make_record(offset * 1000 + index + 1)
                store.add_certificate(record, issue_event(record))

        threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        page = store.query_certificates(CertificateQuery(limit=1000), T0)
        assert len(page.records) == 100
        assert len(store.audit_events(limit=1000)) == 100
        store.close()

    def test_records_survive_a_restart(self, open_store):
        first = open_store()
        record = make_record(11)
        first.add_certificate(record, issue_event(record))
        first.close()
        again = open_store()
        assert again.get_certificate(11) == record
        again.close()

    # -- authorities -----------------------------------------------------------------
    def test_authorities_are_listed_and_change_status(self, store):
        root = AuthorityRecord(
            key_id=ISSUER_B,
            role=AuthorityRole.ROOT,
            status=AuthorityStatus.ACTIVE,
            certificate_pem="root-pem",
            key_location="file:keys/root.key.pem",
            parent_key_id=None,
            created_at=T0,
        )
        issuing = AuthorityRecord(
            key_id=ISSUER_A,
            role=AuthorityRole.ISSUING,
            status=AuthorityStatus.ACTIVE,
            certificate_pem="issuing-pem",
            key_location="arn:aws:kms:eu-west-1:111122223333:key/abc",
            parent_key_id=ISSUER_B,
            created_at=T0 + timedelta(seconds=1),
        )
        init = AuditEvent(at=T0, action="init", actor="test")
        store.add_authority(root, init)
        store.add_authority(issuing, init)
        assert store.list_authorities() == [root, issuing]
        retired = store.set_authority_status(
            ISSUER_A, AuthorityStatus.RETIRED, AuditEvent(at=T0, action="retire", actor="test")
        )
        assert retired.status is AuthorityStatus.RETIRED
        assert store.list_authorities()[1].status is AuthorityStatus.RETIRED
        assert [e.action for e in store.audit_events()] == ["retire", "init", "init"]

    # -- audit -----------------------------------------------------------------------
    def test_audit_pages_newest_first(self, store):
        for serial in range(1, 6):
            record = make_record(serial)
            store.add_certificate(record, issue_event(record))
        newest = store.audit_events(limit=2)
        assert [e.serial for e in newest] == [5, 4]
        older = store.audit_events(limit=10, before_id=newest[-1].id)
        assert [e.serial for e in older] == [3, 2, 1]
        assert store.audit_events(serial=3)[0].serial == 3

    # -- notices (scheduled maintenance) ---------------------------------------------
    def test_a_notice_is_claimed_by_one_owner_until_its_lease_runs_out(self, store):
        lease = timedelta(minutes=15)
        assert store.claim_notice("expiry:1:30d@sns", owner="run-a", now=T0, lease=lease)
        assert not store.claim_notice("expiry:1:30d@sns", owner="run-b", now=T0, lease=lease)
        later = T0 + lease + timedelta(seconds=1)  # run-a died holding it
        assert store.claim_notice("expiry:1:30d@sns", owner="run-b", now=later, lease=lease)
        # run-a, late, can neither finish nor give back what run-b now holds.
        store.mark_notice_sent("expiry:1:30d@sns", owner="run-a", now=later)
        store.release_notice("expiry:1:30d@sns", owner="run-a")
        assert not store.claim_notice("expiry:1:30d@sns", owner="run-c", now=later, lease=lease)

    def test_a_sent_notice_is_never_claimed_again(self, store):
        lease = timedelta(minutes=15)
        assert store.claim_notice("k", owner="run-a", now=T0, lease=lease)
        store.mark_notice_sent("k", owner="run-a", now=T0)
        years = T0 + timedelta(days=3650)
        assert not store.claim_notice("k", owner="run-b", now=years, lease=lease)
        store.release_notice("k", owner="run-a")  # a sent key stays sent
        assert not store.claim_notice("k", owner="run-b", now=years, lease=lease)

    def test_a_released_notice_is_claimed_again_at_once(self, store, open_store):
        lease = timedelta(minutes=15)
        assert store.claim_notice("k", owner="run-a", now=T0, lease=lease)
        store.release_notice("k", owner="run-a")
        reopened = open_store()  # what was recorded survives a restart
        try:
            assert reopened.claim_notice("k", owner="run-b", now=T0, lease=lease)
            assert not reopened.claim_notice("k", owner="run-c", now=T0, lease=lease)
        finally:
            reopened.close()

    def test_racing_claims_of_one_notice_have_one_winner(self, open_store):
        stores = [open_store() for _ in range(6)]
        won: list[str] = []
        barrier = threading.Barrier(len(stores))

        def claim(index: int) -> None:
            barrier.wait()
            owner = f"run-{index}"
            if stores[index].claim_notice(
                "expiry:2:7d@webhook", owner=owner, now=T0, lease=timedelta(minutes=15)
            ):
                won.append(owner)

        at_once(claim, stores)
        assert len(won) == 1

    def test_claiming_many_notices_takes_only_the_free_ones(self, store):
        lease = timedelta(minutes=15)
        assert store.claim_notice("sent", owner="run-a", now=T0, lease=lease)
        store.mark_notice_sent("sent", owner="run-a", now=T0)
        assert store.claim_notice("held", owner="run-a", now=T0, lease=lease)
        keys = ["sent", "held", "new-1", "new-2", "new-1"]  # a repeat counts once
        assert store.claim_notices(keys, owner="run-b", now=T0, lease=lease) == {"new-1", "new-2"}
        store.mark_notices_sent(["new-1", "held"], owner="run-b", now=T0)  # held: not b's
        store.release_notices(["new-2", "sent", "held"], owner="run-b")  # only b's unsent
        later = T0 + lease + timedelta(seconds=1)
        again = store.claim_notices(keys, owner="run-c", now=later, lease=lease)
        assert again == {"held", "new-2"}  # held ran out; new-2 was given back
        assert store.claim_notices([], owner="run-c", now=later, lease=lease) == set()

    def test_sent_notices_are_read_without_claiming(self, store):
        lease = timedelta(minutes=15)
        assert store.claim_notice("sent", owner="run-a", now=T0, lease=lease)
        store.mark_notice_sent("sent", owner="run-a", now=T0)
        assert store.claim_notice("held", owner="run-a", now=T0, lease=lease)
        keys = ["sent", "held", "unknown", "sent"]
        assert store.sent_notices(keys) == {"sent"}
        assert store.sent_notices([]) == set()
        # Reading claimed nothing: the unknown key is still free to claim.
        assert store.claim_notices(keys, owner="run-b", now=T0, lease=lease) == {"unknown"}

    def test_racing_batch_claims_give_each_notice_one_owner(self, open_store):
        stores = [open_store() for _ in range(4)]
        keys = [f"expiry:{serial}:30d@sns" for serial in range(40)]
        won: dict[str, list[str]] = {key: [] for key in keys}
        barrier = threading.Barrier(len(stores))

        def claim(index: int) -> None:
            barrier.wait()
            mine = keys[index * 5 :] + keys[: index * 5]  # overlapping, in another order
            got = stores[index].claim_notices(
                mine, owner=f"run-{index}", now=T0, lease=timedelta(minutes=15)
            )
            for key in got:
                won[key].append(f"run-{index}")

        at_once(claim, stores)
        assert all(len(owners) == 1 for owners in won.values()), won


def at_once(work, stores) -> None:
    """Run ``work(index)`` for each store in its own thread (the work waits on a barrier
    so that they really race), then close the stores."""
    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for opened in stores:
        opened.close()
