"""The SQLite store at the sizes of issue 17: a CRL of 500,000 entries, a million records.

    python bench/store_at_scale.py [--crl-entries 500000] [--records 1000000]
                                   [--small 10000] [--seconds 3] [--dynamodb 20000]
                                   [--skip crl] [--skip scale]

CRL (issue 17, point 3), in a process of its own so that its peak RSS is the CRL's: a
store holding ``--crl-entries`` unexpired revocations of one issuing CA (P-256), then,
three times each: the store's read (``next_crl``: the CRL number, ``quick_check`` of the
revocations table, the entries' DER joined in SQLite), encoding and signing
(``build_crl``), signing alone (ECDSA over bytes of the CRL's size), the PEM, and
``Authority.generate_crl`` end to end with its PEM. Peak RSS is ``ru_maxrss`` of that
process, beside its RSS before the first CRL. When ``/usr/bin/cfssl`` exists, ``cfssl
gencrl`` is timed on the same serials with the same CA key, interleaved with albca's runs.

Scale (issue 17, point 4): a store of ``--records`` records (one real signed certificate's
PEM on every row, see ``bench.bulk_store``), issued over a year with 90-day lifetimes by
two issuing CAs, and a store of ``--small`` records built alike. Printed: the store's bytes
per record (file after checkpoint, and per table and index); opening it with and without
the whole-file ``quick_check``; a page of the unfiltered listing (the first, and one
900,000 records deep, through its cursor) and the per-issuer counts behind ``albca ca
status`` and rotation (median of 21 calls each); the issuance rate from a CSR
(``Authority.issue_from_csr``, SQLite synchronous=normal so the disk's fsync does not
hide the store's own cost) into the small and into the large store, runs interleaved.

DynamoDB (issue 17, point 3, "as far as moto allows"): ``--dynamodb`` revocations under
moto, then the requests ``next_crl`` sends, counted (``bench/dynamodb_crl.py``, which also
runs alone).
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from albca.ca.ca_status import authority_reports
from albca.ca.crl import build_crl
from albca.ca.records import CertificateQuery, RevokedEntry, encode_cursor
from albca.ca.signer import sign_bytes
from albca.ca.stores.sqlite import SqliteStore
from bench.bulk_store import fill_certificates, load_revoked
from bench.dynamodb_crl import dynamodb_figures
from tests.authorities import build_authority
from tests.factories import make_csr

CFSSL = Path("/usr/bin/cfssl")
_CSR = make_csr(ec.generate_private_key(ec.SECP256R1()), common_name="svc",
                dns_names=("svc.internal",))  # fmt: skip
DAY = 86_400


def _entries(count: int) -> Iterator[RevokedEntry]:
    generator = random.Random(5280)
    base = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp())
    reasons = [0, 1, 1, 4, 5, 3, 9, 2, 10]
    for _ in range(count):
        yield RevokedEntry(
            generator.getrandbits(159) | 1,
            base + generator.randrange(180 * DAY),
            generator.choice(reasons),
        )


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


# -- CRL -------------------------------------------------------------------------------
def crl_child(size: int, queue: Any) -> None:
    directory = Path(tempfile.mkdtemp(prefix="albca-crl-"))
    authority = build_authority(directory)
    issuer = authority.issuer()
    store = authority.store
    assert isinstance(store, SqliteStore)
    far = int((datetime.now(UTC) + timedelta(days=365)).timestamp())
    load_revoked(directory / "albca.db", issuer.key_id, _entries(size), not_after=far)
    cfssl = _cfssl_files(directory, issuer, size) if CFSSL.exists() else None
    gc.collect()
    before = _rss_mib()
    now = datetime.now(UTC).replace(microsecond=0)
    rows: list[dict[str, float]] = []
    for _run in range(3):
        check, _ = _timed(lambda: store.check_integrity("revocations"))
        read, snapshot = _timed(lambda: store.next_crl(issuer.key_id, now))
        build, document = _timed(
            lambda snapshot=snapshot: build_crl(
                issuer=issuer.certificate,
                signer=issuer.signer,
                number=snapshot.number,
                this_update=now,
                next_update=now + timedelta(days=7),
                entries=snapshot.entries,
            )
        )
        del snapshot  # as in generate_crl: only the document outlives the build
        sign, _ = _timed(lambda document=document: sign_bytes(issuer.signer, document.der))
        pem, text = _timed(lambda document=document: document.pem)
        del document, text  # nothing of this CRL stays while the next one is built
        gc.collect()
        total, text = _timed(lambda: authority.generate_crl(requested_by="bench").pem)
        del text
        row = {"check": check, "read": read, "build": build, "sign": sign, "pem": pem}
        row["total"] = total
        if cfssl is not None:
            row["cfssl"], _ = _timed(lambda: subprocess.run(cfssl, check=True, capture_output=True))
        rows.append(row)
        gc.collect()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    document = authority.generate_crl(requested_by="bench")
    parsed = x509.load_der_x509_crl(document.der)
    assert len(parsed) == size, (len(parsed), size)
    assert parsed.is_signature_valid(issuer.certificate.public_key())
    store.close()
    shutil.rmtree(directory)
    queue.put({"rows": rows, "before": before, "peak": peak, "der": len(document.der)})


def _cfssl_files(directory: Path, issuer: Any, size: int) -> list[str]:
    """``cfssl gencrl SERIALS ca.pem ca-key.pem``: the same serials (decimal, one a line,
    as cfssl's crl.NewCRLFromFile reads them) and the same CA key."""
    serials = directory / "serials.txt"
    with serials.open("w") as out:
        for entry in _entries(size):
            out.write(f"{entry.serial}\n")
    ca = directory / "ca.pem"
    ca.write_bytes(issuer.certificate.public_bytes(serialization.Encoding.PEM))
    key = directory / "ca-key.pem"
    key.write_bytes(
        issuer.signer.builder_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return [str(CFSSL), "gencrl", str(serials), str(ca), str(key)]


def crl_figures(size: int) -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=crl_child, args=(size, queue))
    child.start()
    result = queue.get()
    child.join()
    print(f"CRL of {size:,} entries from the store, P-256 issuing CA (seconds)")
    columns = ["check", "read", "build", "sign", "pem", "total"]
    labels = {
        "check": "qc(rev)",
        "read": "read+qc",
        "build": "enc+sign",
        "sign": "sign",
        "pem": "PEM",
        "total": "e2e+PEM",
    }
    if "cfssl" in result["rows"][0]:
        columns.append("cfssl")
        labels["cfssl"] = "cfssl"
    else:
        print(f"cfssl: {CFSSL} is not installed (apt-get install golang-cfssl); not compared")
    print(
        "run "
        + "".join(f"{labels[c]:>10}" for c in columns)
        + ("   ratio" if "cfssl" in columns else "")
    )
    for index, row in enumerate(result["rows"], 1):
        ratio = f"{row['cfssl'] / row['total']:>7.1f}x" if "cfssl" in row else ""
        print(f"{index:>3} " + "".join(f"{row[c]:>10.3f}" for c in columns) + ratio)
    print(
        f"RSS before the first CRL {result['before']:.0f} MiB, peak {result['peak']:.0f} MiB; "
        f"CRL DER {result['der'] / 2**20:.1f} MiB"
    )
    print("(read+qc: next_crl, which includes the quick_check of the revocations table; ")
    print(" enc+sign: build_crl with the stored entries; e2e+PEM: Authority.generate_crl + PEM;")
    print(" ratio: cfssl gencrl's time over albca's e2e+PEM)")
    print()


# -- a million records -----------------------------------------------------------------
def _fill(directory: Path, records: int, now: int) -> tuple[Any, str]:
    authority = build_authority(directory)
    issued = authority.issue_from_csr(_CSR, profile="server",
                                      requested_by="bench")  # fmt: skip
    pem = issued.record.certificate_pem
    issuer = authority.issuer().key_id
    retired = "cc" * 20  # a CA rotated out half a year ago still has its records
    fill_certificates(
        directory / "albca.db",
        records,
        issuers=[issuer, retired],
        pem=pem,
        first_issued=now - 365 * DAY,
        last_issued=now,
        lifetime=90 * DAY,
    )
    return authority, issuer


def _median_ms(action: Callable[[], Any], calls: int = 21) -> float:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _issuance_rate(authority: Any, csr: bytes, seconds: float) -> float:
    count = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(20):
            authority.issue_from_csr(csr, profile="server", requested_by="bench")
        count += 20
    return count / elapsed


def scale_figures(records: int, small: int, seconds: float) -> None:
    now = int(time.time())
    with tempfile.TemporaryDirectory(prefix="albca-scale-") as temporary:
        big_dir, small_dir = Path(temporary) / "big", Path(temporary) / "small"
        started = time.perf_counter()
        big, issuer = _fill(big_dir, records, now)
        print(f"A store of {records:,} records, built in {time.perf_counter() - started:.0f} s")
        small_authority, _ = _fill(small_dir, small, now)
        path = big_dir / "albca.db"
        _bytes_per_record(path, records)

        opened, _ = _timed(lambda: SqliteStore(path, full_check="before-first-write").close())
        checked, _ = _timed(lambda: SqliteStore(path).close())
        print(f"open, whole-file quick_check deferred (CLI): {opened * 1000:8.1f} ms")
        print(f"open with the whole-file quick_check:        {checked * 1000:8.1f} ms")

        store = SqliteStore(path, full_check="before-first-write")
        moment = datetime.fromtimestamp(now, UTC)
        first = _median_ms(lambda: store.query_certificates(CertificateQuery(limit=100), moment))
        connection = sqlite3.connect(path)
        depth = min(900_000, records - 200)
        (serial, not_after), = connection.execute(
            "SELECT serial, not_after FROM certificates ORDER BY not_after, serial "
            "LIMIT 1 OFFSET ?", (depth,)
        ).fetchall()  # fmt: skip
        connection.close()
        deep_record = store.get_certificate(int(serial, 16))
        assert int(deep_record.not_after.timestamp()) == not_after
        cursor = encode_cursor(deep_record)
        deep = _median_ms(
            lambda: store.query_certificates(CertificateQuery(limit=100, cursor=cursor), moment)
        )
        print(f"listing, first page of 100 (median of 21):   {first:8.2f} ms")
        print(f"listing, page {depth:,} records deep:         {deep:8.2f} ms")
        for key_id in (issuer, "cc" * 20):
            counts = store.issuer_counts(key_id, moment)
            taken = _median_ms(lambda key_id=key_id: store.issuer_counts(key_id, moment))
            print(
                f"issuer_counts {key_id[:8]}: issued {counts.issued:,}, active {counts.active:,}"
                f": {taken:.1f} ms"
            )
        profiles = big.profiles
        status = _median_ms(lambda: authority_reports(store, profiles, moment), calls=5)
        print(f"ca status (authority_reports, every CA):     {status:8.1f} ms")
        store.close()

        csr = _CSR
        rates: dict[str, list[float]] = {"small": [], "big": []}
        for _run in range(3):
            rates["small"].append(_issuance_rate(small_authority, csr, seconds))
            rates["big"].append(_issuance_rate(big, csr, seconds))
        print(
            f"issuance from a CSR, sqlite normal, per second, 3 runs interleaved: "
            f"{small:,} records {', '.join(f'{r:,.0f}' for r in rates['small'])}; "
            f"{records:,} records {', '.join(f'{r:,.0f}' for r in rates['big'])}; "
            f"ratio of bests {max(rates['big']) / max(rates['small']):.2f}"
        )
        big.store.close()
        small_authority.store.close()
        print()


def _bytes_per_record(path: Path, records: int) -> None:
    size = path.stat().st_size
    print(f"store file {size / 2**20:,.0f} MiB: {size / records:,.0f} bytes per record "
          "(record, its audit event, indexes)")  # fmt: skip
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute(
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
        ).fetchall()
    except sqlite3.OperationalError:
        rows = []  # SQLite built without the dbstat table
    connection.close()
    print("  " + ", ".join(f"{name} {size / records:,.0f}" for name, size in rows if size > 65536))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crl-entries", type=int, default=500_000)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--dynamodb", type=int, default=20_000, help="revocations; 0: skip")
    parser.add_argument("--skip", choices=["crl", "scale"], action="append", default=[])
    args = parser.parse_args()
    print(
        f"python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs"
    )
    if "crl" not in args.skip:
        crl_figures(args.crl_entries)
    if "scale" not in args.skip:
        scale_figures(args.records, args.small, args.seconds)
    if args.dynamodb:
        dynamodb_figures(args.dynamodb)


if __name__ == "__main__":
    main()
