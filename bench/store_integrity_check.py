"""What PRAGMA quick_check costs: the SQLite store runs it on the whole file once per store
(when opened, or before the CLI's first write) and on the revocations table before a CRL.

    python bench/store_integrity_check.py [--rows 100000]

Builds a store of ``--rows`` certificate records (each with a real-sized ~900-byte PEM and
its audit event, as issuance writes them), then times, best of five: opening the store
(schema check and quick_check), quick_check alone, and ``revoked_entries`` (quick_check of
the revocations table and the CRL's read). Cold figures drop the OS page cache first when
run as root.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from albca.ca.records import AuditEvent, CertificateRecord
from albca.ca.stores.sqlite import SqliteStore

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ISSUER = "ab" * 20


def _record(serial: int) -> CertificateRecord:
    body = base64.encodebytes(os.urandom(650)).decode()
    return CertificateRecord(
        serial=serial,
        issuer_key_id=ISSUER,
        subject=f"CN=w{serial % 10_000}.svc.internal",
        common_name=f"w{serial % 10_000}.svc.internal",
        dns_names=(f"w{serial % 10_000}.svc.internal",),
        ip_addresses=(),
        profile="server",
        not_before=NOW,
        not_after=NOW + timedelta(days=30 + serial % 60),
        certificate_pem=f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n",
        requested_by="api:bench",
        issued_at=NOW,
    )


def _fill(path: Path, rows: int) -> None:
    store = SqliteStore(path, synchronous="normal")
    batch = 500
    for start in range(0, rows, batch):
        entries = []
        for _ in range(start, min(start + batch, rows)):
            record = _record(int.from_bytes(os.urandom(19), "big") | 1)
            detail = {"profile": "server", "names": record.subject, "issuer": ISSUER}
            event = AuditEvent(
                at=NOW, action="issue", actor="api:bench", serial=record.serial, detail=detail
            )
            entries.append((record, event))
        store.add_certificates(entries)
    store.close()


def _best(action, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def _drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "albca.db"
        started = time.perf_counter()
        _fill(path, args.rows)
        print(f"built {args.rows:,} rows in {time.perf_counter() - started:.1f} s")
        store = SqliteStore(path)  # checkpoints nothing; the WAL holds the tail
        size = sum(p.stat().st_size for p in Path(directory).glob("albca.db*"))
        print(f"store size: {size / 1e6:.1f} MB (database and WAL)")

        def open_close() -> None:
            SqliteStore(path).close()

        print(f"open (schema + quick_check), warm: {_best(open_close) * 1000:.1f} ms")
        print(f"quick_check alone, warm:           {_best(store.check_integrity) * 1000:.1f} ms")
        entries = _best(lambda: store.revoked_entries(ISSUER, NOW))
        print(f"revoked_entries (+ its table's qc): {entries * 1000:.1f} ms")
        store.close()
        if _drop_caches():
            cold = _best(open_close, repeat=1)
            print(f"open (schema + quick_check), cold: {cold * 1000:.1f} ms")


if __name__ == "__main__":
    main()
