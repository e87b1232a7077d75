"""The API's stores in one SQLite file beside the certificate store (``albca-api.db``).

A separate file, not more tables in ``albca.db``: SQLite allows one writer per file, and
an idempotency claim would otherwise queue behind certificate commits. Like the
certificate store: WAL, one connection per thread, every write one ``BEGIN IMMEDIATE``
transaction, sqlite3 errors become ``StoreUnavailable`` here.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from albca.api.errors import DuplicateTokenName, RenewalTokenReplayed, TokenNotFound
from albca.api.stores.protocols import IdempotencyEntry
from albca.api.tokens import ApiToken, Scope
from albca.ca.clock import from_epoch, to_epoch
from albca.ca.errors import StoreUnavailable
from albca.ca.stores.change_stamp import ChangeStamp

__all__ = ["SqliteApiDatabase", "SqliteTokenStore", "SqliteIdempotencyStore", "SqliteReplayGuard"]

_SCHEMA_VERSION = 1
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS tokens (
        token_id       TEXT PRIMARY KEY,
        name           TEXT NOT NULL UNIQUE,
        secret_hash    TEXT NOT NULL,
        scopes         TEXT NOT NULL,      -- JSON array
        profiles       TEXT NOT NULL,      -- JSON array
        dns            TEXT NOT NULL,      -- JSON array
        ip_networks    TEXT NOT NULL,      -- JSON array
        common_names   TEXT NOT NULL,      -- JSON array
        allow_wildcards INTEGER NOT NULL,
        created_at     INTEGER NOT NULL,
        expires_at     INTEGER NOT NULL,
        revoked_at     INTEGER
    )""",
    """CREATE TABLE IF NOT EXISTS idempotency (
        caller       TEXT NOT NULL,
        key          TEXT NOT NULL,
        fingerprint  TEXT NOT NULL,
        serial       TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        sealed_private_key BLOB,
        PRIMARY KEY (caller, key)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS idempotency_by_expiry ON idempotency (expires_at)",
    """CREATE TABLE IF NOT EXISTS used_tokens (
        key        TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS used_tokens_by_expiry ON used_tokens (expires_at)",
)
_KEPT_TOKENS = 1024
# Expired rows are deleted a few at a time by the writes that pass by, so that no write
# ever pays for a large clean-up.
_PURGE_BATCH = 50


class SqliteApiDatabase:
    """One SQLite file, a connection per thread. The three stores share it."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: Literal["full", "normal"] = "full",
        busy_timeout_ms: int = 10_000,
    ) -> None:
        self.path = Path(path)
        self._synchronous = synchronous
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # see ca.stores.sqlite: no busy-handler sleeps
        self.changes = ChangeStamp()
        if not self.path.exists():
            # Holds token hashes and sealed keys: owner only, from the first instant.
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        with self.transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, _SCHEMA_VERSION):
                raise StoreUnavailable(
                    f"the API store {self.path} has schema version {version}; this albca "
                    f"reads version {_SCHEMA_VERSION}"
                )
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            try:
                connection = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False
                )
                connection.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute(f"PRAGMA synchronous = {self._synchronous.upper()}")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"cannot open the API store {self.path}: {exc}") from exc
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        connection = self._connection()
        with self._write_lock:
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"API store {self.path} is unavailable: {exc}") from exc
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
                if isinstance(exc, sqlite3.IntegrityError):
                    raise
                if isinstance(exc, sqlite3.Error):
                    raise StoreUnavailable(f"API store {self.path} failed to write: {exc}") from exc
                raise
            finally:
                self.changes.wrote()

    def stamp(self) -> tuple[int, int]:
        """``ChangeStamp`` of this thread's connection: the same while nothing was written."""
        try:
            return self.changes.read(self._connection())
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"API store {self.path} failed to read: {exc}") from exc

    @property
    def local(self) -> threading.local:
        """Per-thread room for values read through this thread's connection."""
        return self._local

    def read(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._connection().execute(sql, parameters).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"API store {self.path} failed to read: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    connection.close()
            self._connections.clear()
        self._local = threading.local()


class SqliteTokenStore:
    def __init__(self, database: SqliteApiDatabase) -> None:
        self._db = database

    def add(self, token: ApiToken) -> None:
        try:
            with self._db.transaction() as db:
                db.execute(
                    "INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        token.token_id,
                        token.name,
                        token.secret_hash,
                        json.dumps(sorted(scope.value for scope in token.scopes)),
                        json.dumps(list(token.profiles)),
                        json.dumps(list(token.dns)),
                        json.dumps(list(token.ip_networks)),
                        json.dumps(list(token.common_names)),
                        int(token.allow_wildcards),
                        to_epoch(token.created_at),
                        to_epoch(token.expires_at),
                        to_epoch(token.revoked_at) if token.revoked_at else None,
                    ),
                )
        except sqlite3.IntegrityError:
            raise DuplicateTokenName(token.name) from None

    def find(self, token_id: str) -> ApiToken | None:
        # Every API request looks its token up: tokens read are kept (per thread) while the
        # file is unchanged, so a revocation (`albca token revoke`, another process) is
        # seen by the very next request (``ChangeStamp``).
        stamp = self._db.stamp()
        kept: tuple[tuple[int, int], dict[str, ApiToken | None]] | None
        kept = getattr(self._db.local, "tokens", None)
        if kept is None or kept[0] != stamp:
            kept = (stamp, {})
            self._db.local.tokens = kept
        if token_id not in kept[1]:
            if len(kept[1]) >= _KEPT_TOKENS:
                kept[1].clear()  # unknown ids sent in a flood must not grow it
            rows = self._db.read("SELECT * FROM tokens WHERE token_id = ?", (token_id,))
            kept[1][token_id] = _token_from_row(rows[0]) if rows else None
        return kept[1][token_id]

    def by_name(self, name: str) -> ApiToken:
        rows = self._db.read("SELECT * FROM tokens WHERE name = ?", (name,))
        if not rows:
            raise TokenNotFound(name)
        return _token_from_row(rows[0])

    def list(self) -> list[ApiToken]:
        rows = self._db.read("SELECT * FROM tokens ORDER BY created_at, name")
        return [_token_from_row(row) for row in rows]

    def revoke(self, name: str, at: datetime) -> ApiToken:
        with self._db.transaction() as db:
            updated = db.execute(
                "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE name = ?",
                (to_epoch(at), name),
            ).rowcount
        if updated != 1:
            raise TokenNotFound(name)
        return self.by_name(name)

    def close(self) -> None:
        self._db.close()


class SqliteIdempotencyStore:
    def __init__(self, database: SqliteApiDatabase) -> None:
        self._db = database

    def find(self, caller: str, key: str, now: datetime) -> IdempotencyEntry | None:
        rows = self._db.read(
            "SELECT * FROM idempotency WHERE caller = ? AND key = ? AND expires_at > ?",
            (caller, key, to_epoch(now)),
        )
        return _entry_from_row(rows[0]) if rows else None

    def claim(self, entry: IdempotencyEntry) -> IdempotencyEntry:
        now = to_epoch(entry.created_at)
        with self._db.transaction() as db:
            db.execute(
                "DELETE FROM idempotency WHERE (caller = ? AND key = ? AND expires_at <= ?) "
                "OR (caller, key) IN (SELECT caller, key FROM idempotency "
                "WHERE expires_at <= ? LIMIT ?)",
                (entry.caller, entry.key, now, now, _PURGE_BATCH),
            )
            db.execute(
                "INSERT INTO idempotency VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (caller, key) DO NOTHING",
                (
                    entry.caller,
                    entry.key,
                    entry.fingerprint,
                    f"{entry.serial:x}",
                    now,
                    to_epoch(entry.expires_at),
                    entry.sealed_private_key,
                ),
            )
            row = db.execute(
                "SELECT * FROM idempotency WHERE caller = ? AND key = ?",
                (entry.caller, entry.key),
            ).fetchone()
        return _entry_from_row(row)

    def close(self) -> None:
        self._db.close()


class SqliteReplayGuard:
    def __init__(self, database: SqliteApiDatabase) -> None:
        self._db = database

    def use_once(self, key: str, expires_at: datetime, now: datetime) -> None:
        try:
            with self._db.transaction() as db:
                db.execute(
                    "DELETE FROM used_tokens WHERE key IN (SELECT key FROM used_tokens "
                    "WHERE expires_at <= ? LIMIT ?)",
                    (to_epoch(now), _PURGE_BATCH),
                )
                db.execute("INSERT INTO used_tokens VALUES (?, ?)", (key, to_epoch(expires_at)))
        except sqlite3.IntegrityError:
            raise RenewalTokenReplayed() from None

    def close(self) -> None:
        self._db.close()


def _token_from_row(row: Sequence[Any]) -> ApiToken:
    return ApiToken(
        token_id=row[0],
        name=row[1],
        secret_hash=row[2],
        scopes=frozenset(Scope(value) for value in json.loads(row[3])),
        profiles=tuple(json.loads(row[4])),
        dns=tuple(json.loads(row[5])),
        ip_networks=tuple(json.loads(row[6])),
        common_names=tuple(json.loads(row[7])),
        allow_wildcards=bool(row[8]),
        created_at=from_epoch(row[9]),
        expires_at=from_epoch(row[10]),
        revoked_at=from_epoch(row[11]) if row[11] is not None else None,
    )


def _entry_from_row(row: Sequence[Any]) -> IdempotencyEntry:
    return IdempotencyEntry(
        caller=row[0],
        key=row[1],
        fingerprint=row[2],
        serial=int(row[3], 16),
        created_at=from_epoch(row[4]),
        expires_at=from_epoch(row[5]),
        sealed_private_key=row[6],
    )
