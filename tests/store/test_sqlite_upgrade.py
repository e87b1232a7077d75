"""A store written by an older albca (schema version 1) opens, is upgraded to the current
version in one transaction, and its CRLs list exactly what they listed before (issue 17)."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from albca.ca.errors import StoreUnavailable
from albca.ca.records import CertificateQuery, RevocationReason
from albca.ca.stores.sqlite import SqliteStore
from tests.factories import T0

V1_SCHEMA = (Path(__file__).parent / "data" / "schema_v1.sql").read_text()
ISSUER_A = "aa" * 20
ISSUER_B = "bb" * 20
NOW = T0 + timedelta(days=10)
DAY = 86_400
# What a version-1 store answered for a CRL: its own query, over its own partial index.
V1_CRL_QUERY = (
    "SELECT serial, revoked_at, revocation_reason FROM certificates "
    "WHERE status = 'revoked' AND issuer_key_id = ? AND not_after > ?"
)


def _epoch(days: float) -> int:
    return int(T0.timestamp() + days * DAY)


def _v1_store(path: Path) -> None:
    """A version-1 store: 40 certificates of two issuers, revoked with every reason, some
    of them expired by NOW, CRL numbers taken and revocations counted."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.executescript(V1_SCHEMA)
    reasons = itertools.cycle([*RevocationReason, None])  # None: never revoked
    connection.execute("BEGIN")
    for serial in range(1, 41):
        issuer = ISSUER_A if serial % 4 else ISSUER_B
        not_after = _epoch(5 if serial % 5 == 0 else 30)  # every fifth expired by NOW
        reason = next(reasons)
        status = "valid" if reason is None else "revoked"
        revoked_at = None if reason is None else _epoch(serial / 24)
        connection.execute(
            "INSERT INTO certificates VALUES (?, ?, ?, ?, '[]', '[]', 'client', ?, ?, ?, ?, ?, "
            "?, 'test', ?)",
            (
                f"{serial * 0x10001:040x}",
                issuer,
                f"CN=c{serial}",
                f"c{serial}",
                _epoch(-1),
                not_after,
                status,
                revoked_at,
                None if reason is None else int(reason),
                f"-----BEGIN CERTIFICATE-----\n{serial:x}\n-----END CERTIFICATE-----\n",
                _epoch(-1),
            ),
        )
    connection.execute("INSERT INTO crl_numbers VALUES (?, 5)", (ISSUER_A,))
    connection.execute(
        "INSERT INTO crl_state (issuer_key_id, revocations) VALUES (?, 27)", (ISSUER_A,)
    )
    connection.execute("COMMIT")
    connection.close()


def _v1_crl(path: Path, issuer: str) -> list[tuple[int, int, int]]:
    connection = sqlite3.connect(path)
    rows = connection.execute(V1_CRL_QUERY, (issuer, int(NOW.timestamp()))).fetchall()
    connection.close()
    return sorted((int(serial, 16), at, reason) for serial, at, reason in rows)


def test_a_version_1_store_is_upgraded_and_its_crls_list_the_same_entries(tmp_path):
    path = tmp_path / "albca.db"
    _v1_store(path)
    before = {issuer: _v1_crl(path, issuer) for issuer in (ISSUER_A, ISSUER_B)}
    assert len(before[ISSUER_A]) > 10  # every reason, expired ones left out
    assert {reason for _, _, reason in before[ISSUER_A] + before[ISSUER_B]} == {
        int(reason) for reason in RevocationReason
    }
    listed_before = _listing(path)

    store = SqliteStore(path)
    try:
        for issuer in (ISSUER_A, ISSUER_B):
            assert sorted(store.revoked_entries(issuer, NOW)) == before[issuer]
        snapshot = store.next_crl(ISSUER_A, NOW)
        assert (snapshot.number, snapshot.revocations) == (6, 27)  # numbers carry on
        assert sorted(snapshot.entries) == before[ISSUER_A]
        assert len(snapshot.entries) == len(before[ISSUER_A])
        assert sorted(store.next_crl(ISSUER_B, NOW).entries) == before[ISSUER_B]
        # The issued counter starts from what the version-1 store held.
        assert store.issuer_counts(ISSUER_A, NOW).issued == 30
        assert store.issuer_counts(ISSUER_B, NOW).issued == 10
        # Records read back as before, and a revocation after the upgrade is listed.
        assert _listing(path) == listed_before
        valid = store.query_certificates(CertificateQuery(limit=100), NOW).records
        target = next(r for r in valid if r.status.value == "valid" and r.issuer_key_id == ISSUER_A)
        store.revoke_certificate(target.serial, NOW, RevocationReason.KEY_COMPROMISE, _event())
        after = store.next_crl(ISSUER_A, NOW)
        assert sorted(after.entries) == sorted(
            [*before[ISSUER_A], (target.serial, int(NOW.timestamp()), 1)]
        )
    finally:
        store.close()

    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone() == (3,)
    indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_schema")}
    assert "certificates_revoked" not in indexes
    assert {"revocations", "certificates_by_expiry", "certificates_by_issuer"} <= indexes
    assert {"idempotency_keys", "idempotency_keys_by_expiry"} <= indexes
    connection.close()


def test_an_upgraded_store_opens_again_without_writing(tmp_path):
    path = tmp_path / "albca.db"
    _v1_store(path)
    SqliteStore(path).close()
    connection = sqlite3.connect(path)
    version_before = connection.execute("PRAGMA data_version").fetchone()
    connection.execute("BEGIN IMMEDIATE")  # a writer holds the store: opening must not wait
    store = SqliteStore(path, busy_timeout_ms=100)
    store.close()
    connection.execute("ROLLBACK")
    assert connection.execute("PRAGMA data_version").fetchone() == version_before
    connection.close()


def test_an_upgrade_that_fails_leaves_the_version_1_store_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "albca.db"
    _v1_store(path)
    before = _v1_crl(path, ISSUER_A)
    monkeypatch.setattr(
        "albca.ca.stores.sqlite.encode_entry",
        lambda *_: (_ for _ in ()).throw(sqlite3.OperationalError("disk I/O error")),
    )
    with pytest.raises(StoreUnavailable, match="disk I/O error"):
        SqliteStore(path)
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone() == (1,)
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_schema")}
    assert "revocations" not in tables
    connection.close()
    assert _v1_crl(path, ISSUER_A) == before


def _listing(path: Path) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(path)
    rows = connection.execute("SELECT * FROM certificates ORDER BY serial").fetchall()
    connection.close()
    return rows


def _event():
    from albca.ca.records import AuditEvent

    return AuditEvent(at=NOW, action="revoke", actor="test", serial=None)
