"""Bench set-up only: fill a SQLite store fast, straight through SQL, in its own format.

Issuing a million certificates through the authority would take an hour here; these
helpers write the rows issuance and revocation would write (a certificate record, its
audit event, a revocation's CRL entry encoded by ``ca.der.crl_entries``) in large
transactions. Every certificate row carries the same real signed PEM (one leaf issued by
the bench's CA): the bytes per record are those of a real record, the certificate inside
is not each record's own.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from albca.ca.der.crl_entries import encode_entry
from albca.ca.records import RevokedEntry

__all__ = ["clear_bench_rows", "fill_certificates", "load_revoked"]

_CERTIFICATE = (
    "INSERT INTO certificates (serial, issuer_key_id, subject, common_name, dns_names, "
    "ip_addresses, profile, not_before, not_after, status, revoked_at, revocation_reason, "
    "certificate_pem, requested_by, issued_at) VALUES (?, ?, ?, ?, ?, '[]', ?, ?, ?, ?, ?, ?, "
    "?, 'api:bench', ?)"
)
_AUDIT = "INSERT INTO audit (at, action, actor, serial, detail) VALUES (?, ?, 'api:bench', ?, ?)"
_REVOCATION = (
    "INSERT INTO revocations (issuer_key_id, not_after, serial, revoked_at, reason, entry) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_CHUNK = 20_000


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA synchronous = OFF")  # set-up only: nothing here must survive
    return connection


def _checkpoint(connection: sqlite3.Connection) -> None:
    # One bulk transaction leaves its pages in the WAL, and reads through a WAL of hundreds
    # of MiB are slow; a store that grew a record at a time has been checkpointed all along.
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def fill_certificates(
    path: Path,
    count: int,
    *,
    issuers: Sequence[str],
    pem: str,
    first_issued: int,
    last_issued: int,
    lifetime: int,
    seed: int = 17,
) -> None:
    """``count`` records issued evenly between two epoch seconds, oldest first, spread over
    ``issuers`` in turn, each with its audit event, as ``Authority.issue`` writes them."""
    generator = random.Random(seed)
    connection = _connect(path)
    step = (last_issued - first_issued) / max(count, 1)
    for start in range(0, count, _CHUNK):
        certificates, events = [], []
        for index in range(start, min(start + _CHUNK, count)):
            serial = f"{generator.getrandbits(159) | 1 << 150:040x}"
            issued = first_issued + int(index * step)
            issuer = issuers[index % len(issuers)]
            name = f"w{index % 50_000}.svc.internal"
            profile = "server" if index % 3 else "client"
            not_after = issued + lifetime
            certificates.append(
                (serial, issuer, f"CN={name}", name, json.dumps([name]), profile, issued,
                 not_after, "valid", None, None, pem, issued)
            )  # fmt: skip
            detail = {
                "issuer": issuer,
                "key": "ec-p256",
                "names": f"CN={name}, DNS:{name}",
                "not_after": not_after,
                "profile": profile,
            }
            events.append((issued, "issue", serial, json.dumps(detail, sort_keys=True)))
        connection.execute("BEGIN")
        connection.executemany(_CERTIFICATE, certificates)
        connection.executemany(_AUDIT, events)
        connection.execute("COMMIT")
    _recount(connection)
    _checkpoint(connection)


def _recount(connection: sqlite3.Connection) -> None:
    """What ``add_certificates`` keeps counting: the certificates of each issuer."""
    connection.execute("BEGIN")
    connection.execute("DELETE FROM issued_counts")
    connection.execute(
        "INSERT INTO issued_counts SELECT issuer_key_id, count(*) FROM certificates "
        "GROUP BY issuer_key_id"
    )
    connection.execute("COMMIT")


def load_revoked(path: Path, issuer_key_id: str, entries: Iterator[RevokedEntry], *,
                 not_after: int) -> int:  # fmt: skip
    """Revoked certificate records of ``issuer_key_id`` with their revocations, as
    ``revoke_certificate`` leaves them (the certificate rows without PEM: a CRL never
    reads them). Returns how many were written."""
    connection = _connect(path)
    written = 0
    while True:
        chunk = [entry for _, entry in zip(range(_CHUNK), entries, strict=False)]
        if not chunk:
            break
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO certificates VALUES (?, ?, '', NULL, '[]', '[]', 'client', 0, ?, "
            "'revoked', ?, ?, '', 'bench', 0)",
            [(f"{e.serial:040x}", issuer_key_id, not_after, e.revoked_at, e.reason) for e in chunk],
        )
        connection.executemany(
            _REVOCATION,
            [
                (issuer_key_id, not_after, f"{e.serial:040x}", e.revoked_at, e.reason,
                 encode_entry(e.serial, e.revoked_at, e.reason))
                for e in chunk
            ],
        )  # fmt: skip
        connection.execute("COMMIT")
        written += len(chunk)
    _recount(connection)
    _checkpoint(connection)
    return written


def clear_bench_rows(path: Path) -> None:
    """Remove what ``load_revoked`` wrote."""
    connection = _connect(path)
    connection.execute("BEGIN")
    connection.execute(
        "DELETE FROM revocations WHERE serial IN "
        "(SELECT serial FROM certificates WHERE requested_by = 'bench')"
    )
    connection.execute("DELETE FROM certificates WHERE requested_by = 'bench'")
    connection.execute("COMMIT")
    _recount(connection)
    _checkpoint(connection)
