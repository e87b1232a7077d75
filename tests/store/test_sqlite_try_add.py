"""``SqliteStore.try_add_certificates``: what an event loop may call. It writes at once or
returns False with nothing written, whoever holds the store: another process holding the
writers' lock file, or SQLite's write lock taken by a program that does not use the file.
The holders are real processes (``tests.lock_holders``)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from albca.ca.errors import CertificateNotFound, DuplicateSerial
from albca.ca.stores.sqlite import SqliteStore
from tests.factories import issue_event, make_record
from tests.lock_holders import LockHolder


@pytest.fixture
def store(tmp_path):
    store = SqliteStore(tmp_path / "albca.db", synchronous="normal", busy_timeout_ms=7_000)
    yield store
    store.close()


def entry(serial: int):
    record = make_record(serial)
    return record, issue_event(record)


def busy_timeout(store: SqliteStore) -> int:
    return store._connection().execute("PRAGMA busy_timeout").fetchone()[0]


def test_writes_at_once_when_no_one_holds_the_store(store):
    assert store.try_add_certificates([entry(0x101), entry(0x102)]) is True
    assert store.get_certificate(0x101).serial == 0x101
    assert [event.action for event in store.audit_events(serial=0x102)] == ["issue"]


def test_another_process_holding_the_lock_file_returns_false_and_writes_nothing(store):
    with LockHolder("lock-file", store.path.with_name("albca.db.lock")) as holder:
        assert store.try_add_certificates([entry(0x201)]) is False
        holder.release()
        with pytest.raises(CertificateNotFound):
            store.get_certificate(0x201)
        assert store.audit_events(serial=0x201) == []
        assert store.try_add_certificates([entry(0x201)]) is True
    assert store.get_certificate(0x201).serial == 0x201


def test_sqlite_write_locked_by_another_program_returns_false_and_keeps_the_timeout(store):
    store.add_certificate(*entry(0x300))  # the schema exists before the other program opens it
    with LockHolder("sqlite", store.path) as holder:
        assert store.try_add_certificates([entry(0x301)]) is False
        # The busy timeout was 0 for the attempt only: other writes still wait.
        assert busy_timeout(store) == 7_000
        holder.release()
    with pytest.raises(CertificateNotFound):
        store.get_certificate(0x301)
    assert store.try_add_certificates([entry(0x301)]) is True


def test_a_store_whose_whole_file_check_is_pending_hands_the_write_on(tmp_path):
    SqliteStore(tmp_path / "albca.db").close()
    store = SqliteStore(tmp_path / "albca.db", full_check="before-first-write")
    try:
        # The check reads the whole file (0.5 s per 100,000 certificates): not on a loop.
        assert store.try_add_certificates([entry(0x401)]) is False
        with pytest.raises(CertificateNotFound):
            store.get_certificate(0x401)
        store.add_certificate(*entry(0x402))  # runs the check, then writes
        assert store.try_add_certificates([entry(0x401)]) is True
    finally:
        store.close()


def test_a_duplicate_serial_raises_as_add_certificates_does(store):
    store.add_certificate(*entry(0x501))
    with pytest.raises(DuplicateSerial):
        store.try_add_certificates([entry(0x502), entry(0x501)])
    with pytest.raises(CertificateNotFound):
        store.get_certificate(0x502)  # the whole batch rolled back


def test_a_failed_write_leaves_the_store_free_for_the_next_one(store):
    store.add_certificate(*entry(0x601))
    with pytest.raises(DuplicateSerial):
        store.try_add_certificates([entry(0x601)])  # SQLite refused the INSERT
    record, event = entry(0x602)
    with pytest.raises(TypeError):  # an error of no sqlite3 kind, before any INSERT
        store.try_add_certificates([(record, replace(event, detail={"x": object()}))])
    # Neither kept the writers' lock nor left its transaction open: the next write goes
    # through at once.
    assert store.try_add_certificates([entry(0x602)]) is True
    assert store.get_certificate(0x602).serial == 0x602


# -- try_write_certificates: the rows written now, the COMMIT later (GroupCommit) ---------
def test_an_open_write_is_seen_by_no_one_until_committed(store):
    written = store.try_write_certificates([entry(0x701), entry(0x702)])
    assert written is not None
    with pytest.raises(CertificateNotFound):
        store.get_certificate(0x701)  # another connection: nothing committed yet
    written.commit()
    assert store.get_certificate(0x702).serial == 0x702
    assert [event.action for event in store.audit_events(serial=0x701)] == ["issue"]


def test_an_open_write_rolled_back_leaves_nothing_and_frees_the_store(store):
    written = store.try_write_certificates([entry(0x711)])
    assert written is not None
    assert store.try_add_certificates([entry(0x712)]) is False  # it holds the store
    written.roll_back()
    with pytest.raises(CertificateNotFound):
        store.get_certificate(0x711)
    assert store.try_add_certificates([entry(0x712)]) is True


def test_a_taken_serial_rolls_the_open_write_back(store):
    store.add_certificate(*entry(0x721))
    with pytest.raises(DuplicateSerial):
        store.try_write_certificates([entry(0x722), entry(0x721)])
    with pytest.raises(CertificateNotFound):
        store.get_certificate(0x722)
    assert store.try_add_certificates([entry(0x722)]) is True  # nothing kept the lock


def test_an_open_write_waits_for_no_other_writer(store):
    store.add_certificate(*entry(0x730))  # the schema exists before the other program opens it
    for kind, held in (
        ("lock-file", store.path.with_name("albca.db.lock")),
        ("sqlite", store.path),
    ):
        with LockHolder(kind, held) as holder:
            assert store.try_write_certificates([entry(0x731)]) is None
            holder.release()
        with pytest.raises(CertificateNotFound):
            store.get_certificate(0x731)
    written = store.try_write_certificates([entry(0x731)])
    assert written is not None  # nothing of the refused attempts kept the store
    written.commit()
    assert store.get_certificate(0x731).serial == 0x731
