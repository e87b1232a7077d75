"""Idempotency-Key claims written with their certificate (schema version 3, issue 17): the
key is claimed if and only if its certificate is on record, in one transaction."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from albca.ca.errors import DuplicateSerial, IdempotencyKeyTaken
from albca.ca.records import KeyClaim
from albca.ca.stores.sqlite import SqliteStore
from tests.factories import T0, issue_event, make_record

RETENTION = timedelta(hours=24)


@pytest.fixture
def store(tmp_path):
    opened = SqliteStore(tmp_path / "albca.db")
    yield opened
    opened.close()


def claimed(serial: int, key: str = "k", *, caller: str = "tok1", at=T0, fingerprint="f1"):
    record = make_record(serial, issued_at=at)
    return replace(record, idempotency=KeyClaim(caller, key, fingerprint, at + RETENTION))


def held(store: SqliteStore, caller: str, key: str, now) -> tuple[str, int] | None:
    """The fingerprint and serial of the claim on ``caller``'s ``key``, if one holds it."""
    claimed = store.find_key_claim(caller, key, now)
    return None if claimed is None else (claimed.fingerprint, claimed.serial)


def rows(store: SqliteStore, table: str) -> int:
    connection = sqlite3.connect(store.path)
    try:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
    finally:
        connection.close()


def test_a_claim_is_written_with_its_certificate_and_found_until_it_expires(store):
    record = claimed(0x51)
    store.add_certificates([(record, issue_event(record))])
    assert held(store, "tok1", "k", T0) == ("f1", 0x51)
    assert store.get_certificate(0x51).serial == 0x51
    assert held(store, "tok2", "k", T0) is None  # keys are per caller
    assert held(store, "tok1", "other", T0) is None
    assert held(store, "tok1", "k", T0 + RETENTION) is None  # expired


def test_a_key_claimed_already_refuses_the_second_certificate_and_writes_none_of_it(store):
    first = claimed(0x51)
    store.add_certificates([(first, issue_event(first))])
    retry = claimed(0x52, fingerprint="f2")
    with pytest.raises(IdempotencyKeyTaken) as refused:
        store.add_certificates([(retry, issue_event(retry))])
    assert refused.value.serial == 0x52
    assert "'k'" in str(refused.value)
    assert held(store, "tok1", "k", T0) == ("f1", 0x51)
    assert rows(store, "certificates") == 1
    assert rows(store, "audit") == 1
    assert store.issuer_counts(first.issuer_key_id, T0).issued == 1


def test_one_key_twice_in_a_batch_writes_nothing_of_the_batch(store):
    plain = make_record(0x50)
    one, two = claimed(0x51), claimed(0x52)
    entries = [(r, issue_event(r)) for r in (plain, one, two)]
    with pytest.raises(IdempotencyKeyTaken):
        store.add_certificates(entries)
    assert rows(store, "certificates") == 0
    assert rows(store, "idempotency_keys") == 0
    store.add_certificates(entries[:2])  # the group commit then writes them one by one
    with pytest.raises(IdempotencyKeyTaken):
        store.add_certificates(entries[2:])
    assert held(store, "tok1", "k", T0) == ("f1", 0x51)


def test_a_taken_serial_leaves_no_claim_behind(store):
    first = make_record(0x51)
    store.add_certificates([(first, issue_event(first))])
    again = claimed(0x51)
    with pytest.raises(DuplicateSerial):
        store.add_certificates([(again, issue_event(again))])
    assert held(store, "tok1", "k", T0) is None


def test_an_expired_claim_gives_way_to_a_new_one_and_expired_ones_are_purged(store):
    old = [claimed(0x10 + n, key=f"old-{n}") for n in range(3)]
    store.add_certificates([(r, issue_event(r)) for r in old])
    later = T0 + RETENTION + timedelta(seconds=1)
    reused = claimed(0x21, key="old-0", at=later, fingerprint="f-new")
    store.add_certificates([(reused, issue_event(reused))])
    assert held(store, "tok1", "old-0", later) == ("f-new", 0x21)
    # The other expired claims went in the same transaction; the certificates stay.
    assert rows(store, "idempotency_keys") == 1
    assert rows(store, "certificates") == 4


def test_open_writes_claim_as_add_certificates_does(store):
    first = claimed(0x51)
    written = store.try_write_certificates([(first, issue_event(first))])
    assert written is not None
    written.commit()
    retry = claimed(0x52)
    with pytest.raises(IdempotencyKeyTaken):
        store.try_write_certificates([(retry, issue_event(retry))])
    plain = make_record(0x53)
    # Rolled back, and the writers' lock given back: the next write starts at once.
    assert store.try_add_certificates([(plain, issue_event(plain))])
    assert rows(store, "certificates") == 2


def test_a_version_2_store_gains_the_claims_table_when_opened(tmp_path: Path):
    path = tmp_path / "albca.db"
    SqliteStore(path).close()
    connection = sqlite3.connect(path, isolation_level=None)
    connection.executescript(
        "DROP TABLE idempotency_keys; PRAGMA user_version = 2;"
    )  # what albca wrote before schema version 3
    connection.close()
    store = SqliteStore(path)
    try:
        record = claimed(0x51)
        store.add_certificates([(record, issue_event(record))])
        assert held(store, "tok1", "k", T0) == ("f1", 0x51)
    finally:
        store.close()
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone() == (3,)
    connection.close()


def test_a_claim_made_before_signing_holds_the_key_against_a_certificate_claiming_it(store):
    sealed = KeyClaim("tok1", "k", "f-gen", T0 + RETENTION, sealed_private_key=b"sealed")
    first = store.claim_key(sealed, 0x61, T0)
    assert (first.fingerprint, first.serial, first.sealed_private_key) == ("f-gen", 0x61, b"sealed")
    assert (first.created_at, first.expires_at) == (T0, T0 + RETENTION)
    # A racing claim gets the first one back and writes nothing.
    again = store.claim_key(KeyClaim("tok1", "k", "f-other", T0 + RETENTION), 0x62, T0)
    assert again == first
    # A certificate carrying a claim on that key is refused whole.
    record = claimed(0x63)
    with pytest.raises(IdempotencyKeyTaken):
        store.add_certificates([(record, issue_event(record))])
    assert rows(store, "certificates") == 0
    # Once the claim has expired, the key is free again.
    later = T0 + RETENTION
    renewed = store.claim_key(KeyClaim("tok1", "k", "f-new", later + RETENTION), 0x64, later)
    assert (renewed.fingerprint, renewed.serial, renewed.sealed_private_key) == (
        "f-new",
        0x64,
        None,
    )
