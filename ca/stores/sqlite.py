"""The embedded certificate store: one SQLite file in the CA home.

WAL mode lets readers (``albca list``, the API's GETs) run while a writer commits. Every
write is one ``BEGIN IMMEDIATE`` transaction holding the record and its audit event, so a
certificate is never handed out without both on disk. Each thread gets its own connection
(sqlite3 connections are not shareable across threads); several processes (uvicorn
workers) share the file through SQLite's own locking, waiting up to ``busy_timeout``.

Statements are assembled from constant fragments (column lists, fixed WHERE clauses); every
value a caller supplies is a bound ``?`` parameter. Those lines carry ``noqa: S608``.

Damage (issue 12, point 15; issue 17, point 4). A damaged or zero-length store is refused.
``PRAGMA quick_check`` reads every page, about 0.5 s per 100,000 certificates, so it runs
where damage could end in something signed or written, and no more often:

- the whole file, once per store object: when it is opened (``full_check="at-open"``, the
  default: ``albca serve`` and the Lambda handler, once per process) or just before its
  first write (``"before-first-write"``: the CLI, so that ``albca list`` or ``albca ca
  status`` on a million records reads a page without reading the whole file first, while
  ``albca issue`` or ``albca revoke`` still checks everything before it writes);
- only the ``revocations`` table (``PRAGMA quick_check(revocations)``, SQLite 3.33 and
  later) before a CRL's entries are read: that table is all a CRL is made of, and it is
  small (about 200 bytes an entry) where the whole file is not;
- on every other read, SQLite's own SQLITE_CORRUPT and SQLITE_NOTADB (what it reports on
  meeting a damaged page) become the same one-line error.

Schema versions (``PRAGMA user_version``). 1: the first. 2 (issue 17): a ``revocations``
table holding each revocation's CRL entry, encoded once when the certificate is revoked
(a CRL of 500,000 entries is one read of their bytes, joined inside SQLite), in place of
the partial index of revoked certificates; an index on ``(not_after, serial)`` so that a
page of the unfiltered listing is one index seek at any depth; an index on
``(issuer_key_id, status, not_after)`` and a count of certificates per issuer, kept up by
``add_certificates``, that answer ``issuer_counts`` without reading the table. 3 (issue
17): an ``idempotency_keys`` table, where an API caller's Idempotency-Key is claimed in
the transaction that writes its certificate (``find_key_claim``). An older store is
upgraded in one transaction when it is opened; an older albca refuses a newer store.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any, Literal

from albca.ca.clock import from_epoch, to_epoch
from albca.ca.der.crl_entries import EncodedEntries, encode_entry
from albca.ca.errors import (
    AlreadyRevoked,
    CertificateNotFound,
    DuplicateSerial,
    IdempotencyKeyTaken,
    StoreUnavailable,
)
from albca.ca.records import (
    AuditEvent,
    AuthorityRecord,
    AuthorityRole,
    AuthorityStatus,
    CertificatePage,
    CertificateQuery,
    CertificateRecord,
    CertificateStatus,
    ClaimedKey,
    EffectiveStatus,
    KeyClaim,
    RevocationReason,
    RevokedEntry,
    decode_cursor,
    encode_cursor,
    serial_prefix_ranges,
)
from albca.ca.stores.change_stamp import ChangeStamp
from albca.ca.stores.protocol import CrlSnapshot, CrlState, IssuerCounts, KeptCrl

__all__ = ["FullCheck", "OpenWrite", "SqliteStore", "Synchronous"]

Synchronous = Literal["full", "normal"]
FullCheck = Literal["at-open", "before-first-write"]

_SCHEMA_VERSION = 3
_WAL_CHECKPOINT_PAGES = 4000
_SCHEMA = """
CREATE TABLE authorities (
    key_id          TEXT PRIMARY KEY,
    role            TEXT NOT NULL,
    status          TEXT NOT NULL,
    certificate_pem TEXT NOT NULL,
    key_location    TEXT NOT NULL,
    parent_key_id   TEXT,
    created_at      INTEGER NOT NULL
);
CREATE TABLE certificates (
    serial            TEXT PRIMARY KEY,   -- 40 hex digits, zero-padded: text order is number order
    issuer_key_id     TEXT NOT NULL,
    subject           TEXT NOT NULL,
    common_name       TEXT,
    dns_names         TEXT NOT NULL,      -- JSON array
    ip_addresses      TEXT NOT NULL,      -- JSON array
    profile           TEXT NOT NULL,
    not_before        INTEGER NOT NULL,   -- seconds since the epoch, UTC
    not_after         INTEGER NOT NULL,
    status            TEXT NOT NULL,
    revoked_at        INTEGER,
    revocation_reason INTEGER,
    certificate_pem   TEXT NOT NULL,
    requested_by      TEXT NOT NULL,
    issued_at         INTEGER NOT NULL
);
CREATE INDEX certificates_by_status ON certificates (status, not_after, serial);
CREATE INDEX certificates_by_profile ON certificates (profile, not_after, serial);
CREATE TABLE crl_numbers (
    issuer_key_id TEXT PRIMARY KEY,
    last_number   INTEGER NOT NULL
);
-- Audit rows are never deleted, so a plain INTEGER PRIMARY KEY already gives increasing
-- ids; AUTOINCREMENT would add a write to sqlite_sequence on every insert.
CREATE TABLE audit (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    action TEXT NOT NULL,
    actor  TEXT NOT NULL,
    serial TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX audit_by_serial ON audit (serial, id);
"""
# Schema version 2 (issue 17): what version 1 lacked, created by a new store and by the
# upgrade of a version-1 one (``_upgrade_from_1``).
_SCHEMA_2 = """
-- Every revocation as the CRL lists it: ``entry`` is its revokedCertificates entry (DER,
-- ``ca.der.crl_entries``), written in the revocation's transaction. Clustered on the key
-- (WITHOUT ROWID), so a CRL is one range read of its issuer's unexpired entries.
CREATE TABLE revocations (
    issuer_key_id TEXT NOT NULL,
    not_after     INTEGER NOT NULL,   -- the certificate's: the entry leaves the CRL then
    serial        TEXT NOT NULL,      -- 40 hex digits, as in certificates
    revoked_at    INTEGER NOT NULL,
    reason        INTEGER NOT NULL,
    entry         BLOB NOT NULL,
    PRIMARY KEY (issuer_key_id, not_after, serial)
) WITHOUT ROWID;
-- The unfiltered listing's order: a page is a seek and a short walk at any depth.
CREATE INDEX certificates_by_expiry ON certificates (not_after, serial);
-- ``issuer_counts``: active is the count of a range of this index (the unexpired valid
-- certificates of one issuer), not of the table.
CREATE INDEX certificates_by_issuer ON certificates (issuer_key_id, status, not_after);
-- ``issuer_counts``: issued, counted up in the transaction that adds the certificates,
-- where counting it would step through every index entry of the issuer (80 ms at 500,000).
-- This store never deletes a certificate, so the count only grows.
CREATE TABLE issued_counts (
    issuer_key_id TEXT PRIMARY KEY,
    issued        INTEGER NOT NULL
);
"""
# Schema version 3 (issue 17), created by a new store and by the upgrade of an older one.
_SCHEMA_3 = """
-- Every API caller's Idempotency-Key and the certificate that answers it (``KeyClaim``):
-- written with that certificate's record (a CSR, a renewal: the key is claimed if and
-- only if the certificate is on record), or on its own before signing (``claim_key``: a
-- generated key, sealed for the caller). One table for every route, so that of two
-- requests racing one key, one claims it. (albca before version 3 kept claims in
-- albca-api.db; the API still reads those: ``api.stores.key_claims``.)
CREATE TABLE idempotency_keys (
    caller      TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    serial      TEXT NOT NULL,        -- 40 hex digits, as in certificates
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    sealed_private_key BLOB,
    PRIMARY KEY (caller, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
"""
# Added to schema version 1 without a version change: created where missing at open, and a
# store without them reads as "no revocation counted, no CRL kept", which is what it is.
_SCHEMA_ADDITIONS = """
CREATE TABLE IF NOT EXISTS crl_state (
    issuer_key_id    TEXT PRIMARY KEY,
    revocations      INTEGER NOT NULL DEFAULT 0,  -- revocations recorded, counted up
    kept_number      INTEGER,                     -- the kept CRL (``keep_crl``)
    kept_revocations INTEGER,
    kept_this_update INTEGER,
    kept_next_update INTEGER,
    kept_entries     INTEGER,
    kept_der         BLOB                         -- last: reading the facts skips it
);
"""

# Added after schema version 1 without changing it: a table a version-1 store lacks is
# created when the store is opened, and an older albca never reads it.
_NOTICES = """
CREATE TABLE IF NOT EXISTS notices (
    key           TEXT PRIMARY KEY,   -- what was announced (or which job ran), to whom
    owner         TEXT NOT NULL,      -- the maintenance run holding or having sent it
    claimed_until INTEGER NOT NULL,   -- seconds since the epoch, UTC
    sent_at       INTEGER             -- NULL while only claimed
)
"""

_CERT_COLUMNS = (
    "serial, issuer_key_id, subject, common_name, dns_names, ip_addresses, profile, "
    "not_before, not_after, status, revoked_at, revocation_reason, certificate_pem, "
    "requested_by, issued_at"
)


class SqliteStore:
    """``CertificateStore`` over a SQLite file."""

    # A batch holds the writer lock while it inserts (~40 us a certificate): 500 keep
    # other writers (API requests) waiting 20 ms at most.
    batch_limit = 500
    batch_bytes = 64 * 2**20  # a transaction of SQLite has no size limit that matters here

    def __init__(
        self,
        path: Path,
        *,
        synchronous: Synchronous = "full",
        busy_timeout_ms: int = 10_000,
        full_check: FullCheck = "at-open",
    ) -> None:
        if synchronous not in ("full", "normal"):
            raise ValueError(f"synchronous must be 'full' or 'normal', not {synchronous!r}")
        if full_check not in ("at-open", "before-first-write"):
            raise ValueError(
                f"full_check must be 'at-open' or 'before-first-write', not {full_check!r}"
            )
        self.path = Path(path)
        self.synchronous = synchronous
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._open_writes: sqlite3.Connection | None = None  # ``try_write_certificates``
        self._writers = _WriterLock(self.path.with_name(self.path.name + ".lock"))
        self._changes = ChangeStamp()
        self._checked = False  # the whole file passed quick_check (once per store object)
        self._ensure_schema(check_now=full_check == "at-open")

    # -- connections -----------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
            with self._connections_lock:
                self._connections.append(connection)
        return connection

    def _connect(self) -> sqlite3.Connection:
        try:
            # isolation_level=None: transactions are begun explicitly, never implicitly.
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            connection.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            connection.execute("PRAGMA journal_mode = WAL")
            # full: every commit is fsynced before it returns, so a certificate handed out
            # survives a power cut. normal: survives a crash of the process, not of the OS.
            connection.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
            # The commit that crosses this many WAL pages copies them back into the
            # database (and, under synchronous=full, fsyncs it). SQLite's default of 1,000
            # pages comes every ~140 issuances; at 4,000 (a WAL of at most ~16 MiB) index
            # pages rewritten meanwhile are copied once. Measured on one store write (a
            # record and its audit event, 10,000 rows already in): 104 -> 90 us normal,
            # 240 -> 210 us full; end to end it is within the issuance bench's noise.
            connection.execute(f"PRAGMA wal_autocheckpoint = {_WAL_CHECKPOINT_PAGES}")
            connection.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open the certificate store {self.path}: {exc}") from exc
        return connection

    def _ensure_schema(self, *, check_now: bool) -> None:
        existed = self.path.exists()
        if existed and self._is_empty_file():
            # SQLite reads a zero-length file as a new, empty database: the store of a CA
            # that lost its file (a failed copy, a full disk) would start afresh, with no
            # certificates, revocations or CRL numbers, and keep signing.
            raise StoreUnavailable(
                f"the certificate store {self.path} is an empty file (0 bytes), not a store; "
                "restore it from a backup (or remove it only if this CA never issued)"
            )
        if existed and check_now:
            self.check_integrity()
        if not existed:
            # The store holds every certificate and the audit trail: owner only.
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            os.close(fd)
            self._checked = True  # nothing in it to be damaged
        # Reading the version reads the header and the schema: a file that is not a store
        # at all is refused here, even when the full check waits for the first write.
        (version,) = self._read("PRAGMA user_version")[0]
        if version == _SCHEMA_VERSION:
            return  # nothing to write: opening a current store takes no writer lock
        if version > _SCHEMA_VERSION:
            raise StoreUnavailable(
                f"the certificate store {self.path} has schema version {version}; this "
                f"albca reads version {_SCHEMA_VERSION}"
            )
        with self._transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]  # another process?
            if version == 0:
                db.executescript_in_transaction(_SCHEMA)
                db.executescript_in_transaction(_SCHEMA_2)
            elif version == 1:
                _upgrade_from_1(db)
            if version < 3:
                db.executescript_in_transaction(_SCHEMA_3)
            if version < _SCHEMA_VERSION:
                db.executescript_in_transaction(_SCHEMA_ADDITIONS)
                db.execute(_NOTICES)
                db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    def _is_empty_file(self) -> bool:
        wal = self.path.with_name(self.path.name + "-wal")
        # In WAL mode a new store's pages can sit in the -wal file before a checkpoint.
        return self.path.stat().st_size == 0 and (not wal.exists() or wal.stat().st_size == 0)

    def check_integrity(self, table: str | None = None) -> None:
        """Refuse a damaged store (``StoreUnavailable``) before anything is signed from it.

        ``PRAGMA quick_check`` reads every page (of ``table`` and its indexes only, when
        given) and checks b-tree structure, records and NOT NULL/CHECK constraints, but not
        that indexes match their tables (SQLite's "PRAGMA quick_check" documentation);
        that is ``integrity_check``, many times slower. When it runs: the module docstring.
        bench/store_integrity_check.py measures its cost.
        """
        pragma = "PRAGMA quick_check" if table is None else f"PRAGMA quick_check({table})"
        try:
            rows = self._connection().execute(pragma).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc
        # One problem a line, under a "*** in database main ***" heading: keep one line.
        problems = [
            line
            for row in rows
            for line in str(row[0]).splitlines()
            if line.strip() and not line.startswith("***")
        ]
        if problems != ["ok"]:
            raise StoreUnavailable(
                f"the certificate store {self.path} is damaged (quick_check: "
                f"{problems[0]}{f' and {len(problems) - 1} more' if len(problems) > 1 else ''}"
                "); restore it from a backup"
            )
        if table is None:
            self._checked = True

    def _damaged(self, exc: sqlite3.Error) -> StoreUnavailable:
        return StoreUnavailable(
            f"the certificate store {self.path} is damaged ({exc}); restore it from a backup"
        )

    def _unavailable(self, exc: sqlite3.Error, doing: str) -> StoreUnavailable:
        """A sqlite3 error as one line: damage (SQLite's own SQLITE_CORRUPT or
        SQLITE_NOTADB, met on a damaged page) says so, as ``check_integrity`` does."""
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in _DAMAGE_CODES:
            return self._damaged(exc)
        return StoreUnavailable(f"certificate store {self.path} {doing}: {exc}")

    def _transaction(self, *, authorities_unchanged: bool = False) -> _Transaction:
        """One write transaction; sqlite3 errors become ``StoreUnavailable`` here, once.

        ``authorities_unchanged``: the transaction writes no authority row, so the
        authorities this thread read (``list_authorities``) stay current: issuing does not
        make the next issuance read them again. Other connections' commits still do
        (``PRAGMA data_version``).

        Inside ``try_add_certificates`` (this thread's ``without_waiting``) it waits for
        nothing: the writers' lock held, SQLite's write lock held, or the whole-file check
        still to run, it raises ``_WriterBusy`` before anything is written."""
        return _Transaction(self, authorities_unchanged=authorities_unchanged)

    def _read(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._connection().execute(sql, parameters).fetchall()
        except sqlite3.Error as exc:
            raise self._unavailable(exc, "failed to read") from exc

    def close(self) -> None:
        self._writers.close()
        with self._connections_lock:
            for connection in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    connection.close()
            self._connections.clear()
            self._open_writes = None
        self._local = threading.local()

    # -- authorities -----------------------------------------------------------------
    def add_authority(self, record: AuthorityRecord, event: AuditEvent) -> None:
        with self._transaction() as db:
            try:
                db.execute(
                    "INSERT INTO authorities VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.key_id,
                        record.role.value,
                        record.status.value,
                        record.certificate_pem,
                        record.key_location,
                        record.parent_key_id,
                        to_epoch(record.created_at),
                    ),
                )
            except sqlite3.IntegrityError:
                raise StoreUnavailable(
                    f"the store already holds an authority with key id {record.key_id}"
                ) from None
            db.insert_audit(event)

    def set_authority_status(
        self, key_id: str, status: AuthorityStatus, event: AuditEvent
    ) -> AuthorityRecord:
        with self._transaction() as db:
            updated = db.execute(
                "UPDATE authorities SET status = ? WHERE key_id = ?", (status.value, key_id)
            ).rowcount
            if updated != 1:
                raise StoreUnavailable(f"the store holds no authority with key id {key_id}")
            db.insert_audit(event)
            row = db.execute("SELECT * FROM authorities WHERE key_id = ?", (key_id,)).fetchone()
        return _authority_from_row(row)

    def list_authorities(self) -> list[AuthorityRecord]:
        # Read before every signing (the active CA): kept per thread while the file is
        # unchanged (``ChangeStamp``), so a CA retired by another process is seen at once.
        connection = self._connection()
        try:
            stamp = self._changes.read(connection)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"certificate store {self.path} failed to read: {exc}") from exc
        kept: _KeptAuthorities | None = getattr(self._local, "authorities", None)
        if kept is None or kept.stamp != stamp:
            # Every certificate committed by another connection (another thread's, while
            # issuers run concurrently) changes the stamp; the authorities rarely change.
            # Rows are only ever added to the table, and only their status updated
            # (``add_authority``, ``set_authority_status``): while the key ids and their
            # statuses read the same, so do the rows. Reading those is a third of reading
            # the rows (their certificates), with nothing to build.
            (summary,) = self._read(_AUTHORITIES_SUMMARY)[0]
            if kept is not None and kept.summary == summary:
                kept = _KeptAuthorities(stamp, summary, kept.records)
            else:
                rows = self._read("SELECT * FROM authorities ORDER BY created_at, key_id")
                records = [_authority_from_row(row) for row in rows]
                kept = _KeptAuthorities(stamp, summary, records)
            self._local.authorities = kept
        return list(kept.records)

    # -- certificates ----------------------------------------------------------------
    def add_certificate(self, record: CertificateRecord, event: AuditEvent) -> None:
        self.add_certificates([(record, event)])

    def try_add_certificates(self, entries: Sequence[tuple[CertificateRecord, AuditEvent]]) -> bool:
        """``add_certificates`` if it can start writing now, else False with nothing written.

        For an event loop (``GroupCommit.try_commit``): the writers' lock may be held by
        another process for seconds (``albca crl``, ``albca issue batch``), so it is taken
        with ``LOCK_NB`` and SQLite's write lock with a busy timeout of 0; either one held
        elsewhere returns False at once. Once both are held it writes and commits (under
        ``synchronous=full`` that includes the fsync) and raises what ``add_certificates``
        raises. It goes through ``add_certificates``, so a subclass's is the one run.
        """
        self._local.without_waiting = True
        try:
            self.add_certificates(entries)
        except _WriterBusy:
            return False
        finally:
            self._local.without_waiting = False
        return True

    def add_certificates(self, entries: Sequence[tuple[CertificateRecord, AuditEvent]]) -> None:
        """Every record and its audit event in one transaction, or none of them.

        The records go in with multi-row INSERTs of up to ``_ROWS_PER_INSERT``, and the
        events with others: a few statements per batch instead of two per record. Each
        statement is a trip through the sqlite3 module and a release of the GIL (which a
        thread committing for others, ``ca.group_commit``, must take back from the threads
        signing). Measured in CPU per record (sync=normal, 40 batches of 100, 600 of 1 and
        of 4): 21 -> 18 us at 100 a batch, within 4 us either way at 1 and 4.
        """
        self._check_batch(entries)
        with self._transaction(authorities_unchanged=True) as db:
            _write_certificates(db, entries)

    def try_write_certificates(
        self, entries: Sequence[tuple[CertificateRecord, AuditEvent]]
    ) -> OpenWrite | None:
        """``try_add_certificates`` up to its COMMIT: the records written in a transaction
        left open, which the caller ends with ``OpenWrite.commit`` (or ``roll_back``) on
        any one thread; None, with nothing written, when another writer holds the store.

        For ``GroupCommit.commit_async``: the event loop writes the rows and the committer
        thread only runs the COMMIT (the fsync). Run on that thread, each statement's
        release of the GIL (the sqlite3 module drops it around every step) made it wait
        for the loop to give the GIL back before the next one; the COMMIT alone waits once
        (issue 17). The writers' lock stays held until the transaction ends, so every other
        writer waits for it as for any transaction.

        A DuplicateSerial or store error raised here has rolled the transaction back."""
        self._check_batch(entries)
        transaction = _Transaction(self, authorities_unchanged=True, open_write=True)
        try:
            db = transaction.__enter__()
        except _WriterBusy:
            return None
        try:
            _write_certificates(db, entries)
        except BaseException as exc:
            transaction.__exit__(type(exc), exc, None)  # rolls back, raises the store's error
            raise
        return OpenWrite(transaction)

    def _open_write_connection(self) -> sqlite3.Connection:
        """The connection of ``try_write_certificates``, made once: its busy timeout is 0
        for good, not set and reset around each BEGIN. Its writes take turns on the
        writers' lock, so one uses it at a time (whichever thread ends it), and nothing
        reads through it: a read there would see rows not yet committed."""
        with self._connections_lock:
            if self._open_writes is None:
                connection = self._connect()
                connection.execute("PRAGMA busy_timeout = 0")
                self._open_writes = connection
                self._connections.append(connection)
            return self._open_writes

    def _check_batch(self, entries: Sequence[tuple[CertificateRecord, AuditEvent]]) -> None:
        if len(entries) > self.batch_limit:
            raise ValueError(f"at most {self.batch_limit} certificates per transaction")

    def find_key_claim(self, caller: str, key: str, now: datetime) -> ClaimedKey | None:
        rows = self._read(_FIND_CLAIM, (caller, key, to_epoch(now)))
        return _claimed_key(rows[0]) if rows else None

    def claim_key(self, claim: KeyClaim, serial: int, now: datetime) -> ClaimedKey:
        """Claim ``claim``'s key for the certificate ``serial`` (not yet signed) in a
        transaction of its own, unless an unexpired claim holds it; the claim that holds it
        now, whichever it is."""
        with self._transaction() as db:
            db.execute(_PURGE_CLAIMS, (to_epoch(now), _PURGE_CLAIMS_BATCH))
            _write_claim(db, claim, serial, now)
            row = db.execute(_FIND_CLAIM, (claim.caller, claim.key, to_epoch(now))).fetchone()
        return _claimed_key(row)

    def get_certificate(self, serial: int) -> CertificateRecord:
        rows = self._read(
            f"SELECT {_CERT_COLUMNS} FROM certificates WHERE serial = ?",  # noqa: S608
            (_serial_key(serial),),
        )
        if not rows:
            raise CertificateNotFound(serial)
        return _certificate_from_row(rows[0])

    def serials_with_prefix(self, prefix: str, limit: int) -> list[int]:
        # Serials are zero-padded hex text, the primary key: each range of
        # serial_prefix_ranges is one seek on it.
        found: list[int] = []
        for low, high in serial_prefix_ranges(prefix):
            if len(found) >= limit:
                break
            rows = self._read(
                "SELECT serial FROM certificates WHERE serial BETWEEN ? AND ? "
                "ORDER BY serial LIMIT ?",
                (_serial_key(low), _serial_key(high), limit - len(found)),
            )
            found += [int(row[0], 16) for row in rows]
        return sorted(found)

    def revoke_certificate(
        self, serial: int, revoked_at: datetime, reason: RevocationReason, event: AuditEvent
    ) -> CertificateRecord:
        key = _serial_key(serial)
        with self._transaction() as db:
            row = db.execute(
                f"SELECT {_CERT_COLUMNS} FROM certificates WHERE serial = ?",  # noqa: S608
                (key,),
            ).fetchone()
            if row is None:
                raise CertificateNotFound(serial)
            record = _certificate_from_row(row)
            if record.status is CertificateStatus.REVOKED:
                assert record.revoked_at is not None
                raise AlreadyRevoked(serial, record.revoked_at.isoformat())
            db.execute(
                "UPDATE certificates SET status = 'revoked', revoked_at = ?, "
                "revocation_reason = ? WHERE serial = ? AND status = 'valid'",
                (to_epoch(revoked_at), int(reason), key),
            )
            revoked = record.revoked(revoked_at, reason)
            db.execute(_INSERT_REVOCATION, _revocation_row(revoked))
            db.execute(
                "INSERT INTO crl_state (issuer_key_id, revocations) VALUES (?, 1) "
                "ON CONFLICT (issuer_key_id) DO UPDATE SET revocations = revocations + 1",
                (record.issuer_key_id,),
            )
            db.insert_audit(event)
        return revoked

    def query_certificates(self, query: CertificateQuery, now: datetime) -> CertificatePage:
        clauses: list[str] = []
        parameters: list[Any] = []
        now_epoch = to_epoch(now)
        # Where the page starts in (not_after, serial) order, as one row-value bound that
        # SQLite seeks in the index's (not_after, serial) columns: two separate bounds (the
        # cursor, and "not expired") would make it seek one and filter every row up to the
        # other, which for a deep page of active certificates is most of them.
        after: tuple[int, str] | None = None
        if query.status is EffectiveStatus.REVOKED:
            clauses.append("status = 'revoked'")
        elif query.status is EffectiveStatus.ACTIVE:
            clauses.append("status = 'valid'")
            after = (now_epoch, _LAST_SERIAL_KEY)  # not_after > now
        elif query.status is EffectiveStatus.EXPIRED:
            clauses += ["status = 'valid'", "not_after <= ?"]
            parameters.append(now_epoch)
        if query.profile is not None:
            clauses.append("profile = ?")
            parameters.append(query.profile)
        if query.expiring_before is not None:
            clauses.append("not_after < ?")
            parameters.append(to_epoch(query.expiring_before))
        if query.issuer_key_id is not None:
            clauses.append("issuer_key_id = ?")
            parameters.append(query.issuer_key_id)
        if query.cursor is not None:
            after_not_after, after_serial = decode_cursor(query.cursor)
            cursor = (after_not_after, _serial_key(after_serial))
            after = cursor if after is None else max(after, cursor)
        if after is not None:
            clauses.append("(not_after, serial) > (?, ?)")
            parameters += after
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._read(
            f"SELECT {_CERT_COLUMNS} FROM certificates {where} ORDER BY not_after, serial LIMIT ?",  # noqa: S608
            [*parameters, query.limit + 1],
        )
        records = tuple(_certificate_from_row(row) for row in rows[: query.limit])
        next_cursor = encode_cursor(records[-1]) if len(rows) > query.limit else None
        return CertificatePage(records=records, next_cursor=next_cursor)

    def issuer_counts(self, issuer_key_id: str, now: datetime) -> IssuerCounts:
        # One statement, one snapshot: the counter, and a range of certificates_by_issuer
        # counted in the index (never the table).
        ((issued, active),) = self._read(
            "SELECT coalesce((SELECT issued FROM issued_counts WHERE issuer_key_id = ?), 0), "
            "(SELECT count(*) FROM certificates "
            "WHERE issuer_key_id = ? AND status = 'valid' AND not_after > ?)",
            (issuer_key_id, issuer_key_id, to_epoch(now)),
        )
        return IssuerCounts(issued=int(issued), active=int(active))

    # -- CRLs ------------------------------------------------------------------------
    def revoked_entries(self, issuer_key_id: str, now: datetime) -> list[RevokedEntry]:
        self.check_integrity("revocations")  # these entries become a signed CRL
        rows = self._read(_REVOKED_ENTRIES, (issuer_key_id, to_epoch(now)))
        return [RevokedEntry(int(serial, 16), at, reason) for serial, at, reason in rows]

    def next_crl_number(self, issuer_key_id: str) -> int:
        with self._transaction() as db:
            return _take_crl_number(db, issuer_key_id)

    def next_crl(self, issuer_key_id: str, now: datetime) -> CrlSnapshot:
        # The entries are read in a snapshot taken while the number is taken: a read
        # transaction of a second connection, begun while this one holds the write lock
        # (writers take turns, ``_WriterLock``). It sees every commit before this number
        # and none after, as no writer can commit in between; a CRL numbered higher takes
        # its snapshot after this number committed. The read itself runs after the write
        # lock is released (WAL readers do not block writers): reading 500,000 entries
        # takes seconds, and issuance need not wait for it.
        self.check_integrity("revocations")  # these entries become a signed CRL
        reader = self._reader()
        try:
            with self._transaction() as db:
                number = _take_crl_number(db, issuer_key_id)
                reader.execute("BEGIN")
                row = reader.execute(  # the first read fixes the snapshot
                    "SELECT revocations FROM crl_state WHERE issuer_key_id = ?", (issuer_key_id,)
                ).fetchone()
            try:
                ((count, joined),) = reader.execute(
                    _ENCODED_ENTRIES, (issuer_key_id, to_epoch(now))
                ).fetchall()
            finally:
                reader.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                reader.execute("ROLLBACK")
            raise self._unavailable(exc, "failed to read") from exc
        entries = EncodedEntries(bytes(joined or b""), int(count))
        return CrlSnapshot(number, int(row[0]) if row else 0, entries)

    def _reader(self) -> sqlite3.Connection:
        """This thread's second connection, for snapshots read beside a write."""
        reader: sqlite3.Connection | None = getattr(self._local, "reader", None)
        if reader is None:
            reader = self._connect()
            self._local.reader = reader
            with self._connections_lock:
                self._connections.append(reader)
        return reader

    def crl_state(self, issuer_key_id: str) -> CrlState:
        rows = self._read(
            f"SELECT revocations, {_KEPT_FACTS} FROM crl_state WHERE issuer_key_id = ?",  # noqa: S608
            (issuer_key_id,),
        )
        if not rows:
            return CrlState(0, None)
        return CrlState(int(rows[0][0]), _kept_from_row(rows[0][1:], None))

    def kept_crl(self, issuer_key_id: str) -> KeptCrl | None:
        rows = self._read(
            f"SELECT {_KEPT_FACTS}, kept_der FROM crl_state WHERE issuer_key_id = ?",  # noqa: S608
            (issuer_key_id,),
        )
        return _kept_from_row(rows[0][:-1], bytes(rows[0][-1])) if rows else None

    def keep_crl(self, issuer_key_id: str, crl: KeptCrl) -> KeptCrl:
        if crl.der is None:
            raise ValueError("keep_crl needs the CRL's DER")
        with self._transaction() as db:
            db.execute(
                "INSERT INTO crl_state (issuer_key_id, kept_number, kept_revocations, "
                "kept_this_update, kept_next_update, kept_entries, kept_der) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (issuer_key_id) DO UPDATE SET "
                "kept_number = excluded.kept_number, "
                "kept_revocations = excluded.kept_revocations, "
                "kept_this_update = excluded.kept_this_update, "
                "kept_next_update = excluded.kept_next_update, "
                "kept_entries = excluded.kept_entries, kept_der = excluded.kept_der "
                "WHERE kept_number IS NULL OR kept_number < excluded.kept_number",
                (
                    issuer_key_id,
                    crl.number,
                    crl.revocations,
                    to_epoch(crl.this_update),
                    to_epoch(crl.next_update),
                    crl.entries,
                    crl.der,
                ),
            )
            row = db.execute(
                f"SELECT {_KEPT_FACTS}, kept_der FROM crl_state WHERE issuer_key_id = ?",  # noqa: S608
                (issuer_key_id,),
            ).fetchone()
        kept = _kept_from_row(row[:-1], bytes(row[-1]))
        assert kept is not None
        return kept

    # -- audit -----------------------------------------------------------------------
    def append_audit(self, event: AuditEvent) -> None:
        with self._transaction() as db:
            db.insert_audit(event)

    def audit_events(
        self, *, limit: int = 100, serial: int | None = None, before_id: int | None = None
    ) -> list[AuditEvent]:
        clauses: list[str] = []
        parameters: list[Any] = []
        if serial is not None:
            clauses.append("serial = ?")
            parameters.append(_serial_key(serial))
        if before_id is not None:
            clauses.append("id < ?")
            parameters.append(before_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._read(
            f"SELECT id, at, action, actor, serial, detail FROM audit {where} "  # noqa: S608
            "ORDER BY id DESC LIMIT ?",
            [*parameters, limit],
        )
        return [
            AuditEvent(
                id=row[0],
                at=from_epoch(row[1]),
                action=row[2],
                actor=row[3],
                serial=int(row[4], 16) if row[4] is not None else None,
                detail=json.loads(row[5]),
            )
            for row in rows
        ]

    # -- notices ---------------------------------------------------------------------
    def claim_notice(self, key: str, *, owner: str, now: datetime, lease: timedelta) -> bool:
        return key in self.claim_notices([key], owner=owner, now=now, lease=lease)

    def mark_notice_sent(self, key: str, *, owner: str, now: datetime) -> None:
        self.mark_notices_sent([key], owner=owner, now=now)

    def release_notice(self, key: str, *, owner: str) -> None:
        self.release_notices([key], owner=owner)

    def claim_notices(
        self, keys: Sequence[str], *, owner: str, now: datetime, lease: timedelta
    ) -> set[str]:
        wanted = list(dict.fromkeys(keys))
        # A read first, outside the writer lock: most keys a run asks about were sent
        # long ago, and an hourly run should not queue behind issuance to learn that.
        held = self._notices_where(
            wanted, "sent_at IS NOT NULL OR claimed_until > ?", (to_epoch(now),)
        )
        free = [key for key in wanted if key not in held]
        claimed: set[str] = set()
        if not free:
            return claimed
        # One transaction for them all: one fsync, not one per notice.
        with self._transaction() as db:
            for key in free:
                # The upsert's WHERE is the condition: an existing row is taken over only
                # if it was never sent and its claim ran out. No row back: someone else
                # has it.
                row = db.execute(
                    "INSERT INTO notices (key, owner, claimed_until) VALUES (?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, "
                    "claimed_until = excluded.claimed_until "
                    "WHERE notices.sent_at IS NULL AND notices.claimed_until <= ? RETURNING key",
                    (key, owner, to_epoch(now + lease), to_epoch(now)),
                ).fetchone()
                if row is not None:
                    claimed.add(key)
        return claimed

    def mark_notices_sent(self, keys: Sequence[str], *, owner: str, now: datetime) -> None:
        with self._transaction() as db:
            db.executemany(
                "UPDATE notices SET sent_at = ? WHERE key = ? AND owner = ?",
                [(to_epoch(now), key, owner) for key in keys],
            )

    def release_notices(self, keys: Sequence[str], *, owner: str) -> None:
        with self._transaction() as db:
            db.executemany(
                "DELETE FROM notices WHERE key = ? AND owner = ? AND sent_at IS NULL",
                [(key, owner) for key in keys],
            )

    def sent_notices(self, keys: Sequence[str]) -> set[str]:
        return self._notices_where(list(dict.fromkeys(keys)), "sent_at IS NOT NULL")

    def _notices_where(
        self, keys: Sequence[str], condition: str, parameters: tuple[Any, ...] = ()
    ) -> set[str]:
        """Those of ``keys`` whose notice row meets ``condition`` (SQL of this module's)."""
        found: set[str] = set()
        for chunk in _chunks(keys):
            marks = ", ".join("?" * len(chunk))
            found |= {
                row[0]
                for row in self._read(
                    f"SELECT key FROM notices WHERE key IN ({marks}) "  # noqa: S608 (marks only)
                    f"AND ({condition})",
                    (*chunk, *parameters),
                )
            }
        return found


def _chunks(keys: Sequence[str], size: int = 500) -> list[Sequence[str]]:
    """Pieces of ``keys`` small enough for one statement's parameters (SQLite allows
    32,766 since 3.32; older builds 999)."""
    return [keys[start : start + size] for start in range(0, len(keys), size)]


_DAMAGE_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
_REVOKED_ENTRIES = (
    "SELECT serial, revoked_at, reason FROM revocations WHERE issuer_key_id = ? AND not_after > ?"
)
# The entries' DER joined inside SQLite: one value back instead of 500,000 rows, each a
# tuple and a bytes object (0.35 s of the read at 500,000). group_concat appends each value
# with its length, so the bytes pass through unchanged; CAST makes the text a blob again.
# The order of the entries is not the index's for certain, and need not be: RFC 5280
# (section 5.1.2.6) gives revokedCertificates no order.
_ENCODED_ENTRIES = (
    "SELECT count(*), CAST(group_concat(entry, x'') AS BLOB) FROM revocations "
    "WHERE issuer_key_id = ? AND not_after > ?"
)
_COUNT_ISSUED = (
    "INSERT INTO issued_counts (issuer_key_id, issued) VALUES (?, ?) "
    "ON CONFLICT (issuer_key_id) DO UPDATE SET issued = issued + excluded.issued"
)
# Each authority's key id and status, in one string (NULL for none): what distinguishes one
# state of the authorities table from another (``list_authorities``).
_AUTHORITIES_SUMMARY = "SELECT group_concat(key_id || ' ' || status, ' ') FROM authorities"


# Rows of one multi-row INSERT: 15 variables each, within the 999 variables a statement
# may hold in SQLite builds before 3.32 ("Limits In SQLite", SQLITE_MAX_VARIABLE_NUMBER),
# which some long-lived distributions still ship.
_ROWS_PER_INSERT = 999 // 15


@functools.lru_cache(maxsize=_ROWS_PER_INSERT)
def _insert_certificates(count: int) -> str:
    """One INSERT of ``count`` certificate rows (``SqliteStore.add_certificates``)."""
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * count)
    return f"INSERT INTO certificates ({_CERT_COLUMNS}) VALUES {values}"  # noqa: S608


@functools.lru_cache(maxsize=_ROWS_PER_INSERT)
def _insert_audit(count: int) -> str:
    """``_INSERT_AUDIT`` for ``count`` events in one statement."""
    return _INSERT_AUDIT + ", (?, ?, ?, ?, ?)" * (count - 1)


def _write_certificates(
    db: _Cursor, entries: Sequence[tuple[CertificateRecord, AuditEvent]]
) -> None:
    """``add_certificates``'s rows, inside a write transaction."""
    claims = [record for record, _ in entries if record.idempotency is not None]
    if claims:
        _claim_keys(db, claims)
    for start in range(0, len(entries), _ROWS_PER_INSERT):
        part = entries[start : start + _ROWS_PER_INSERT]
        certificates: list[Any] = []
        events: list[Any] = []
        for record, event in part:
            certificates += _certificate_row(record)
            events += _audit_row(event)
        try:
            db.execute(_insert_certificates(len(part)), certificates)
        except sqlite3.IntegrityError:
            # Earlier parts are in the table by now: look in this part only.
            taken = _taken_serial(db, [record.serial for record, _ in part])
            if taken is None:
                raise  # another constraint: "failed to write", saying which
            raise DuplicateSerial(taken) from None  # rolls the batch back
        db.execute(_insert_audit(len(part)), events)
    issued: dict[str, int] = {}
    for record, _ in entries:
        issued[record.issuer_key_id] = issued.get(record.issuer_key_id, 0) + 1
        if record.revoked_at is not None and record.revocation_reason is not None:
            # A record added already revoked (an import) is on its CRLs too.
            db.execute(_INSERT_REVOCATION, _revocation_row(record))
    for issuer_key_id, count in issued.items():
        db.execute(_COUNT_ISSUED, (issuer_key_id, count))


# A claim replaces one of the same key only once that one has expired.
_CLAIM_KEY = (
    "INSERT INTO idempotency_keys (caller, key, fingerprint, serial, created_at, expires_at, "
    "sealed_private_key) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (caller, key) DO UPDATE SET "
    "fingerprint = excluded.fingerprint, serial = excluded.serial, "
    "created_at = excluded.created_at, expires_at = excluded.expires_at, "
    "sealed_private_key = excluded.sealed_private_key "
    "WHERE idempotency_keys.expires_at <= excluded.created_at"
)
_FIND_CLAIM = (
    "SELECT fingerprint, serial, created_at, expires_at, sealed_private_key "
    "FROM idempotency_keys WHERE caller = ? AND key = ? AND expires_at > ?"
)
_PURGE_CLAIMS = (
    "DELETE FROM idempotency_keys WHERE (caller, key) IN "
    "(SELECT caller, key FROM idempotency_keys WHERE expires_at <= ? LIMIT ?)"
)
# Expired claims deleted per transaction that writes claims: more than any transaction
# writes (``SqliteStore.batch_limit``), so the table stays as small as a day of keys.
_PURGE_CLAIMS_BATCH = 1000


def _write_claim(db: _Cursor, claim: KeyClaim, serial: int, now: datetime) -> bool:
    """Whether ``claim`` now holds its key (False: an unexpired claim holds it)."""
    written = db.execute(
        _CLAIM_KEY,
        (
            claim.caller,
            claim.key,
            claim.fingerprint,
            _serial_key(serial),
            to_epoch(now),
            to_epoch(claim.expires_at),
            claim.sealed_private_key,
        ),
    )
    return written.rowcount == 1


def _claimed_key(row: Sequence[Any]) -> ClaimedKey:
    fingerprint, serial, created_at, expires_at, sealed = row
    return ClaimedKey(
        fingerprint, int(serial, 16), from_epoch(created_at), from_epoch(expires_at), sealed
    )


def _claim_keys(db: _Cursor, records: Sequence[CertificateRecord]) -> None:
    """The records' Idempotency-Key claims, before their rows: ``IdempotencyKeyTaken``
    (the transaction is then rolled back) when one's key is claimed already, by a retry
    committed before it or earlier in this batch, or by a request to another route."""
    db.execute(_PURGE_CLAIMS, (to_epoch(records[0].issued_at), _PURGE_CLAIMS_BATCH))
    for record in records:
        claim = record.idempotency
        assert claim is not None
        if not _write_claim(db, claim, record.serial, record.issued_at):
            raise IdempotencyKeyTaken(record.serial, claim.key)


def _taken_serial(db: _Cursor, serials: Sequence[int]) -> int | None:
    """The serial of ``serials`` that the store already holds or that comes twice, if
    one does: what made their INSERT fail. Inside the failed INSERT's transaction, which
    the statement's failure left as it was (SQLite undoes the one statement)."""
    seen: set[int] = set()
    for serial in serials:
        if serial in seen:
            return serial
        seen.add(serial)
        if db.execute(
            "SELECT 1 FROM certificates WHERE serial = ?", (_serial_key(serial),)
        ).fetchone():
            return serial
    return None


_INSERT_REVOCATION = (
    "INSERT INTO revocations (issuer_key_id, not_after, serial, revoked_at, reason, entry) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


def _revocation_row(record: CertificateRecord) -> tuple[Any, ...]:
    assert record.revoked_at is not None
    assert record.revocation_reason is not None
    revoked_at = to_epoch(record.revoked_at)
    reason = int(record.revocation_reason)
    return (
        record.issuer_key_id,
        to_epoch(record.not_after),
        _serial_key(record.serial),
        revoked_at,
        reason,
        encode_entry(record.serial, revoked_at, reason),
    )


def _upgrade_from_1(db: _Cursor) -> None:
    """Schema version 1 to 2, in the opening transaction: the revocations table filled from
    the revoked certificates (every one, expired too: as a version-1 store kept them), the
    new indexes, and the partial index of revoked certificates dropped (the revocations
    table replaces it)."""
    db.executescript_in_transaction(_SCHEMA_2)
    revoked = db.execute(
        "SELECT issuer_key_id, not_after, serial, revoked_at, revocation_reason "
        "FROM certificates WHERE status = 'revoked'"
    ).fetchall()
    db.executemany(
        _INSERT_REVOCATION,
        [
            (issuer, not_after, serial, at, reason, encode_entry(int(serial, 16), at, reason))
            for issuer, not_after, serial, at, reason in revoked
        ],
    )
    db.execute(
        "INSERT INTO issued_counts SELECT issuer_key_id, count(*) FROM certificates "
        "GROUP BY issuer_key_id"
    )
    db.execute("DROP INDEX IF EXISTS certificates_revoked")


_KEPT_FACTS = "kept_number, kept_revocations, kept_this_update, kept_next_update, kept_entries"


def _take_crl_number(db: _Cursor, issuer_key_id: str) -> int:
    row = db.execute(
        "INSERT INTO crl_numbers (issuer_key_id, last_number) VALUES (?, 1) "
        "ON CONFLICT (issuer_key_id) DO UPDATE SET last_number = last_number + 1 "
        "RETURNING last_number",
        (issuer_key_id,),
    ).fetchone()
    return int(row[0])


def _kept_from_row(row: Sequence[Any], der: bytes | None) -> KeptCrl | None:
    number, revocations, this_update, next_update, entries = row
    if number is None:
        return None
    return KeptCrl(
        number=int(number),
        revocations=int(revocations),
        this_update=from_epoch(this_update),
        next_update=from_epoch(next_update),
        entries=int(entries),
        der=der,
    )


class _WriterBusy(Exception):
    """Another writer holds the store now (``try_add_certificates``); nothing was written."""


def _begin_without_waiting(connection: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """``_begin_or_busy`` on a connection that otherwise waits: its busy timeout is 0 for
    this one statement."""
    connection.execute("PRAGMA busy_timeout = 0")
    try:
        _begin_or_busy(connection)
    finally:
        connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")


def _begin_or_busy(connection: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE on a connection whose busy timeout is 0: a writer that does not
    take the lock file (the sqlite3 shell, another program) holding the database makes it
    fail at once with SQLITE_BUSY, which becomes ``_WriterBusy``. Once the write lock is
    held, a WAL commit waits on no other connection: the checkpoint a commit may run is
    PASSIVE ("Checkpoints initiated by this mechanism are PASSIVE",
    sqlite.org/c3ref/wal_autocheckpoint.html), and "the busy-handler callback is never
    invoked in the SQLITE_CHECKPOINT_PASSIVE mode" (c3ref/wal_checkpoint_v2.html)."""
    try:
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY:
            raise _WriterBusy from None
        raise


@dataclass(frozen=True)
class _KeptAuthorities:
    """``list_authorities``'s last answer on one thread, with the stamp and rows it is of."""

    stamp: tuple[int, int]
    summary: str | None  # ``_AUTHORITIES_SUMMARY`` read before the records
    records: list[AuthorityRecord]


class _WriterLock:
    """Writers take turns here, not in SQLite.

    A writer that finds the database locked sleeps in SQLite's busy handler in steps of 1,
    2, 5, 10 ms..., which under concurrent API requests cost far more than the writes
    themselves. Threads of this process queue on a mutex; processes (uvicorn workers, the
    CLI) queue on an flock(2) of a file beside the database, which wakes the next writer
    as soon as the lock is released.
    """

    def __init__(self, path: Path) -> None:
        self._threads = threading.Lock()
        self._path = path
        self._fd: int | None = None

    def acquire(self, *, wait: bool) -> None:
        """Take the lock; without ``wait``, ``_WriterBusy`` if a thread of this process or
        another process holds it now. ``release`` it after."""
        if not self._threads.acquire(blocking=wait):
            raise _WriterBusy
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._threads.release()
            raise _WriterBusy from None
        except OSError as exc:
            self._threads.release()
            raise StoreUnavailable(f"cannot lock {self._path} for writing: {exc}") from exc

    def release(self) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def close(self) -> None:
        with self._threads:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class _Transaction:
    """``SqliteStore._transaction``. A plain class rather than ``contextlib.contextmanager``
    (with the writers' lock taken inside it, not in a second one): it runs once per issued
    certificate, and the two generators and their wrappers cost about 6 us of the 125 us of
    CPU that committing a lone issuance took (issue 17; measured with the commit part of
    ``Authority.issue_async`` alone in a loop, best of interleaved runs)."""

    __slots__ = ("_authorities_unchanged", "_connection", "_open_write", "_store")

    def __init__(
        self, store: SqliteStore, *, authorities_unchanged: bool, open_write: bool = False
    ) -> None:
        self._store = store
        self._authorities_unchanged = authorities_unchanged
        # ``try_write_certificates``: never waiting, on the connection of open writes.
        self._open_write = open_write

    def __enter__(self) -> _Cursor:
        store = self._store
        without_waiting = self._open_write or getattr(store._local, "without_waiting", False)
        if not store._checked:
            if without_waiting:
                raise _WriterBusy  # the check reads the whole file: not on an event loop
            store.check_integrity()  # the first write of a store opened "before-first-write"
        store._writers.acquire(wait=not without_waiting)
        try:
            if self._open_write:
                connection = self._connection = store._open_write_connection()
                _begin_or_busy(connection)
            else:
                # ``try_add_certificates`` too: a commit on this thread's own connection
                # leaves what it read cached (the authorities, SQLite's pages), where one
                # on another connection changes its ``data_version`` and has them read
                # again. Measured in a loop of lone issuances: 548-555 us of CPU each,
                # against 563-565 through the connection of open writes.
                connection = self._connection = store._connection()
                if without_waiting:
                    _begin_without_waiting(connection, store._busy_timeout_ms)
                else:
                    connection.execute("BEGIN IMMEDIATE")
        except BaseException as exc:
            store._writers.release()
            if isinstance(exc, sqlite3.Error):
                raise store._unavailable(exc, "is unavailable") from exc
            raise
        return _Cursor(connection)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> None:
        try:
            if error is None:
                try:
                    self._connection.execute("COMMIT")
                except BaseException as exc:
                    self._roll_back(exc)
                    raise
            else:
                self._roll_back(error)  # then the body's error goes on (None swallows nothing)
        finally:
            if not self._authorities_unchanged:
                self._store._changes.wrote()
            self._store._writers.release()

    def _roll_back(self, error: BaseException) -> None:
        """Undo the transaction; a sqlite3 error becomes the store's one-line error."""
        with contextlib.suppress(sqlite3.Error):
            self._connection.execute("ROLLBACK")
        if isinstance(error, sqlite3.Error):
            raise self._store._unavailable(error, "failed to write") from error


class OpenWrite:
    """``SqliteStore.try_write_certificates``'s transaction, written and not committed."""

    def __init__(self, transaction: _Transaction) -> None:
        self._transaction = transaction

    def commit(self) -> None:
        """COMMIT (under ``synchronous=full``, the fsync) and release the writers' lock; on
        failure roll back and raise ``StoreUnavailable``: nothing of it was written."""
        self._transaction.__exit__(None, None, None)

    def roll_back(self) -> None:
        """Write nothing of it, and release the writers' lock."""
        self._transaction.__exit__(_Abandoned, _Abandoned(), None)


class _Abandoned(Exception):
    """``OpenWrite.roll_back``'s reason: not a store error, so ``_Transaction`` only rolls
    back."""


class _Cursor:
    """The statements a write transaction may run, with the audit insert in one place."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._connection.execute(sql, parameters)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> sqlite3.Cursor:
        return self._connection.executemany(sql, rows)

    def executescript_in_transaction(self, script: str) -> None:
        # executescript() would COMMIT first; run the statements one by one instead.
        for statement in _split_statements(script):
            self._connection.execute(statement)

    def insert_audit(self, event: AuditEvent) -> None:
        self._connection.execute(_INSERT_AUDIT, _audit_row(event))


_INSERT_AUDIT = "INSERT INTO audit (at, action, actor, serial, detail) VALUES (?, ?, ?, ?, ?)"


def _audit_row(event: AuditEvent) -> tuple[Any, ...]:
    return (
        to_epoch(event.at),
        event.action,
        event.actor,
        _serial_key(event.serial) if event.serial is not None else None,
        event.detail_json(),
    )


# Above every serial key: (not_after, serial) > (t, _LAST_SERIAL_KEY) means not_after > t.
_LAST_SERIAL_KEY = "f" * 41


def _serial_key(serial: int) -> str:
    # 159-bit serials are at most 40 hex digits; padding makes the index order numeric.
    return f"{serial:040x}"


def _split_statements(script: str) -> list[str]:
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    return [statement for statement in statements if statement]


def _certificate_row(record: CertificateRecord) -> tuple[Any, ...]:
    return (
        _serial_key(record.serial),
        record.issuer_key_id,
        record.subject,
        record.common_name,
        _json_strings(record.dns_names),
        _json_strings(record.ip_addresses),
        record.profile,
        to_epoch(record.not_before),
        to_epoch(record.not_after),
        record.status.value,
        to_epoch(record.revoked_at) if record.revoked_at else None,
        int(record.revocation_reason) if record.revocation_reason is not None else None,
        record.certificate_pem,
        record.requested_by,
        to_epoch(record.issued_at),
    )


def _json_strings(strings: tuple[str, ...]) -> str:
    """``json.dumps(list(strings))``, the same text: the json module's own encoder of one
    string (what ``json.dumps`` runs on each, ``ensure_ascii`` being its default) between
    its default separators. ``json.dumps`` makes an encoder for every call: 1.4 us against
    0.3 us, twice per certificate (issue 17)."""
    return "[" + ", ".join(map(encode_basestring_ascii, strings)) + "]"


def _certificate_from_row(row: Sequence[Any]) -> CertificateRecord:
    return CertificateRecord(
        serial=int(row[0], 16),
        issuer_key_id=row[1],
        subject=row[2],
        common_name=row[3],
        dns_names=tuple(json.loads(row[4])),
        ip_addresses=tuple(json.loads(row[5])),
        profile=row[6],
        not_before=from_epoch(row[7]),
        not_after=from_epoch(row[8]),
        status=CertificateStatus(row[9]),
        revoked_at=from_epoch(row[10]) if row[10] is not None else None,
        revocation_reason=RevocationReason(row[11]) if row[11] is not None else None,
        certificate_pem=row[12],
        requested_by=row[13],
        issued_at=from_epoch(row[14]),
    )


def _authority_from_row(row: Sequence[Any]) -> AuthorityRecord:
    return AuthorityRecord(
        key_id=row[0],
        role=AuthorityRole(row[1]),
        status=AuthorityStatus(row[2]),
        certificate_pem=row[3],
        key_location=row[4],
        parent_key_id=row[5],
        created_at=from_epoch(row[6]),
    )
