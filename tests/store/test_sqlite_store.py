"""The SQLite backend: the contract suite, plus what only a file on disk can show."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from ca.errors import StoreUnavailable
from ca.sqlite_store import SqliteStore
from tests.factories import issue_event, make_record
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


def test_a_file_that_is_not_a_database_is_unavailable(tmp_path):
    path = tmp_path / "albca.db"
    path.write_bytes(b"this is not a SQLite database, it is a text file" * 100)
    with pytest.raises(StoreUnavailable, match=r"albca\.db"):
        SqliteStore(path)
