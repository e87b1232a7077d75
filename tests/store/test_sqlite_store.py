"""The SQLite backend: the contract suite, plus what only a file on disk can show."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from albca.ca.errors import StoreUnavailable
from albca.ca.records import (
    AuditEvent,
    AuthorityRecord,
    AuthorityRole,
    AuthorityStatus,
    CertificateQuery,
    RevocationReason,
)
from albca.ca.stores.sqlite import SqliteStore
from tests.factories import T0, issue_event, make_record
from tests.store.contract import StoreContract


class TestSqliteStore(StoreContract):
    @pytest.fixture(params=["full", "normal"])
    def open_store(self, tmp_path, request):
        return lambda: SqliteStore(tmp_path / "albca.db", synchronous=request.param)


def test_store_file_is_private(tmp_path):
    SqliteStore(tmp_path / "albca.db").close()
    mode = stat.S_IMODE(os.stat(tmp_path / "albca.db").st_mode)
    assert mode == 0o600


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "albca.db"
    SqliteStore(path).close()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA user_version = 99")
    connection.commit()
    connection.close()
    with pytest.raises(StoreUnavailable, match="schema version 99"):
        SqliteStore(path)


def test_a_failed_write_commits_nothing(tmp_path):
    store = SqliteStore(tmp_path / "albca.db")
    record = make_record(1)
    event = issue_event(record)
    broken = type(event)(at=event.at, action="issue", actor="t", serial=1, detail={"x": object()})
    with pytest.raises(TypeError):
        store.add_certificate(record, broken)  # the audit insert fails after the record's
    with pytest.raises(Exception, match="no certificate"):
        store.get_certificate(1)
    store.close()


@pytest.mark.parametrize(
    "names",
    [
        (),
        ("a.example",),
        ("a.example", "*.b.example", "10.0.0.1", "2001:db8::1"),
        ('quote"back\\slash/', "\u00e9-\u00fc.example", "\U0001f600.example"),
        ("tab\tnew\nline\x7f\x00",),
    ],
)
def test_names_are_stored_as_json_dumps_writes_them(tmp_path, names):
    """The names columns hold exactly what ``json.dumps`` writes (the text every albca
    wrote before issue 17, and what readers of the file see), and read back unchanged."""
    store = SqliteStore(tmp_path / "albca.db", synchronous="normal")
    record = make_record(1, dns_names=names, ip_addresses=names[::-1])
    store.add_certificate(record, issue_event(record))
    assert store.get_certificate(1) == record
    store.close()
    connection = sqlite3.connect(tmp_path / "albca.db")
    row = connection.execute("SELECT dns_names, ip_addresses FROM certificates").fetchone()
    connection.close()
    assert row == (json.dumps(list(names)), json.dumps(list(names[::-1])))


def test_a_file_that_is_not_a_database_is_unavailable(tmp_path):
    path = tmp_path / "albca.db"
    path.write_bytes(b"this is not a SQLite database, it is a text file" * 100)
    with pytest.raises(StoreUnavailable, match=r"albca\.db"):
        SqliteStore(path)


def _write_records(path: str, offset: int, count: int) -> None:
    store = SqliteStore(Path(path), synchronous="normal")
    for index in range(count):
        record = make_record(offset + index + 1)
        store.add_certificate(record, issue_event(record))
    store.close()


def test_writers_in_several_processes_lose_nothing(tmp_path):
    # uvicorn workers and the CLI write to one file; they queue on a file lock, not in
    # SQLite's sleeping busy handler, and every write lands.
    path = tmp_path / "albca.db"
    SqliteStore(path).close()
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_write_records, args=(str(path), n * 1000, 60)) for n in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    store = SqliteStore(path)
    assert len(store.query_certificates(CertificateQuery(limit=1000), T0).records) == 180
    assert len(store.audit_events(limit=1000)) == 180
    store.close()


def test_the_wal_is_checkpointed_every_4000_pages(tmp_path):
    # Checkpoints are what keep the WAL (and reads through it) bounded; they come every
    # 4,000 pages, not SQLite's 1,000, so that pages rewritten meanwhile are copied once.
    store = SqliteStore(tmp_path / "albca.db", synchronous="normal")
    for serial in range(1, 2001):  # about 14,000 WAL pages of writes
        record = make_record(serial)
        store.add_certificate(record, issue_event(record))
    wal_pages = os.path.getsize(tmp_path / "albca.db-wal") / (4096 + 24)  # frame = page + header
    assert 2000 < wal_pages <= 4000 + 50
    store.close()


# -- damaged and empty files (issue 12, point 15) -----------------------------------------


def _store_with_rows(path: Path, count: int = 300, *, revoked: bool = False) -> None:
    store = SqliteStore(path, synchronous="normal")
    for index in range(1, count + 1):
        record = make_record(index * 7919)
        store.add_certificate(record, issue_event(record))
        if revoked:
            event = issue_event(record)
            store.revoke_certificate(record.serial, T0, RevocationReason.KEY_COMPROMISE, event)
    store.close()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file itself
    connection.close()


def _damage_a_page(path: Path, table: str | None = None) -> int:
    """Overwrite 64 bytes of the first page whose damage SQLite's quick_check reports
    (a page holding cells that no write of the test touches; of ``table`` when given);
    returns its number."""
    original = path.read_bytes()
    check = "PRAGMA quick_check" if table is None else f"PRAGMA quick_check({table})"
    for page in range(2, len(original) // 4096 + 1):
        offset = (page - 1) * 4096 + 3000
        path.write_bytes(original[:offset] + b"\xff" * 64 + original[offset + 64 :])
        connection = sqlite3.connect(path)
        try:
            verdict = connection.execute(check).fetchall()
        except sqlite3.DatabaseError:
            continue  # the schema itself unreadable: not the damage this is about
        finally:
            connection.close()
        if verdict != [("ok",)]:
            return page
    raise AssertionError("no page whose damage quick_check reports")


def test_a_damaged_store_is_refused_when_opened(tmp_path):
    path = tmp_path / "albca.db"
    _store_with_rows(path)
    page = _damage_a_page(path)
    # Before: it opened, and a certificate was recorded (and signed) in the damaged store.
    with pytest.raises(StoreUnavailable, match=rf"is damaged \(quick_check: On tree page {page}"):
        SqliteStore(path)
    with pytest.raises(StoreUnavailable) as caught:
        SqliteStore(path)
    assert "\n" not in str(caught.value)


def test_a_store_damaged_after_it_was_opened_is_refused_before_a_crl(tmp_path):
    import threading

    path = tmp_path / "albca.db"
    _store_with_rows(path, revoked=True)
    store = SqliteStore(path)
    try:
        # A CRL is made of the revocations table alone, and that is what is checked.
        _damage_a_page(path, "revocations")
        outcome: list[object] = []

        def build_crl_entries() -> None:  # a thread of its own: a connection of its own
            try:
                outcome.append(store.revoked_entries("aa" * 20, T0))
            except StoreUnavailable as exc:
                outcome.append(exc)

        worker = threading.Thread(target=build_crl_entries)
        worker.start()
        worker.join()
    finally:
        store.close()
    assert isinstance(outcome[0], StoreUnavailable), outcome
    assert "is damaged" in str(outcome[0])


def test_a_zero_length_store_is_an_error_not_a_new_empty_store(tmp_path):
    path = tmp_path / "albca.db"
    path.touch(mode=0o600)
    with pytest.raises(StoreUnavailable, match="is an empty file"):
        SqliteStore(path)
    assert path.stat().st_size == 0  # left as it was found


def test_a_store_opened_for_reading_checks_the_whole_file_before_its_first_write(tmp_path):
    # The CLI opens the store with full_check="before-first-write": `albca list` on a
    # million records does not read 1.5 GB first, and a damaged store still takes no write.
    path = tmp_path / "albca.db"
    _store_with_rows(path)
    page = _damage_a_page(path)
    store = SqliteStore(path, full_check="before-first-write")
    try:
        record = make_record(1)
        with pytest.raises(
            StoreUnavailable, match=rf"is damaged \(quick_check: On tree page {page}"
        ):
            store.add_certificate(record, issue_event(record))
        with pytest.raises(StoreUnavailable, match="is damaged"):  # and again: no write slips by
            store.revoke_certificate(7919, T0, RevocationReason.SUPERSEDED, issue_event(record))
    finally:
        store.close()


def test_a_read_that_meets_a_damaged_page_is_the_one_line_damage_error(tmp_path):
    path = tmp_path / "albca.db"
    _store_with_rows(path)
    original = path.read_bytes()
    listing = "SELECT * FROM certificates ORDER BY not_after, serial"
    for page in range(2, len(original) // 4096 + 1):  # a page the listing reads, made unreadable
        offset = (page - 1) * 4096
        path.write_bytes(original[:offset] + b"\xff" * 8 + original[offset + 8 :])
        connection = sqlite3.connect(path)
        try:
            connection.execute("PRAGMA user_version").fetchall()
            connection.execute(listing).fetchall()
        except sqlite3.DatabaseError as exc:
            if "malformed" in str(exc):
                break
        finally:
            connection.close()
    else:
        raise AssertionError("no page whose damage the listing meets")
    store = SqliteStore(path, full_check="before-first-write")
    try:
        with pytest.raises(StoreUnavailable) as caught:
            store.query_certificates(CertificateQuery(limit=1000), T0)
    finally:
        store.close()
    message = str(caught.value)
    assert message.startswith(f"the certificate store {path} is damaged (")
    assert message.endswith("restore it from a backup")
    assert "\n" not in message


def test_full_check_takes_only_its_two_moments(tmp_path):
    with pytest.raises(ValueError, match="full_check must be"):
        SqliteStore(tmp_path / "albca.db", full_check="never")  # type: ignore[arg-type]


def test_authorities_kept_across_certificate_commits_still_show_a_retirement(tmp_path):
    """``list_authorities`` keeps its records while other connections only add
    certificates, and reads them again once another process changes a status."""
    issuing = AuthorityRecord(
        key_id="ab" * 20,
        role=AuthorityRole.ISSUING,
        status=AuthorityStatus.ACTIVE,
        certificate_pem="issuing-pem",
        key_location="file:keys/issuing.key.pem",
        parent_key_id=None,
        created_at=T0,
    )
    reader = SqliteStore(tmp_path / "albca.db", synchronous="normal")
    other = SqliteStore(tmp_path / "albca.db", synchronous="normal")  # another process's
    try:
        other.add_authority(issuing, AuditEvent(at=issuing.created_at, action="init", actor="t"))
        (first,) = reader.list_authorities()
        record = make_record(0x51)
        other.add_certificate(record, issue_event(record))
        (kept,) = reader.list_authorities()
        assert kept is first  # the same key ids and statuses: nothing built again
        other.set_authority_status(
            issuing.key_id,
            AuthorityStatus.RETIRED,
            AuditEvent(at=issuing.created_at, action="ca-retire", actor="t"),
        )
        (retired,) = reader.list_authorities()
        assert retired.status is AuthorityStatus.RETIRED
    finally:
        reader.close()
        other.close()
