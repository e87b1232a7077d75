"""Library issuance (``Authority``, one certificate per call, its record committed) from one
caller and from concurrent callers, against raw cryptography, in one interleaved run.

    .venv/bin/python bench/library_issuance.py [--seconds 3] [--threads 4] [--sync full,normal]

"raw" loads the CSR, verifies its signature and builds and signs the same leaf with
cryptography, keeping nothing: the least any CA must do. The authority adds the profile,
the name policy, the record and its audit event committed to SQLite before the call
returns. Concurrent callers are threads of one process: the issuing thread checks and signs
for them (``ca.issuing_thread``) and their records are group-committed
(``ca.group_commit``), one transaction for every record queued while the previous one
committed, its COMMIT on the committer thread while the next ones are signed. "batch" is
``issue_batches`` of 100 CSRs, one commit for them all.

Each figure is the best of three runs of ``--seconds``; the runs of the compared paths are
interleaved (raw, authority, raw, ...) so that a slow spell of the shared machine hits all
of them. The raw rate is measured with the same number of threads as the figure it is
compared with (cryptography releases the GIL while it signs and verifies).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from albca.ca.authority import Authority, IssueRequest
from albca.ca.certificates import build_leaf_certificate, random_serial
from albca.ca.csr import parse_csr
from albca.ca.names import RequestedNames
from albca.ca.profiles import CertificateKind
from tests.authorities import build_authority
from tests.factories import make_csr

BATCH = 100


def run(operation: Callable[[], object], per_call: int, threads: int, seconds: float) -> float:
    """Results per second of ``threads`` threads each calling ``operation`` until time."""
    gc.collect()
    counts = [0] * threads
    start_line = threading.Barrier(threads + 1)
    deadline = 0.0

    def worker(index: int) -> None:
        start_line.wait()
        while time.perf_counter() < deadline:
            operation()
            counts[index] += per_call

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    started = time.perf_counter()
    deadline = started + seconds
    start_line.wait()
    for thread in workers:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def bench_csr() -> bytes:
    """The CSR every path here signs: P-256, a common name and one DNS name."""
    return make_csr(ec.generate_private_key(ec.SECP256R1()), common_name="svc",
                    dns_names=("svc.internal",))  # fmt: skip


def raw_operation(csr: bytes, authority: Authority) -> Callable[[], None]:
    """The raw path: load and verify ``csr``, build and sign its leaf with cryptography
    under ``authority``'s issuing CA, keep nothing."""
    names = RequestedNames.of(common_name="svc", dns_names=["svc.internal"])
    issuer = authority.issuer()

    def raw() -> None:
        request = x509.load_pem_x509_csr(csr)
        assert request.is_signature_valid
        build_leaf_certificate(
            issuer=issuer,
            kind=CertificateKind.SERVER,
            public_key=request.public_key(),
            names=names,
            serial=random_serial(),
            not_before=datetime.now(UTC),
            not_after=datetime.now(UTC) + timedelta(days=90),
        ).public_bytes(serialization.Encoding.PEM)

    return raw


def figures(authority: Authority, threads: int, seconds: float) -> dict[str, float]:
    csr = bench_csr()
    raw = raw_operation(csr, authority)

    def one() -> None:
        authority.issue_from_csr(csr, profile="server", requested_by="bench")

    def batch() -> None:
        requests = [
            IssueRequest(profile="server", public_key=parsed.public_key, names=parsed.names,
                         requested_by="bench")
            for parsed in (parse_csr(csr) for _ in range(BATCH))
        ]  # fmt: skip
        for _committed in authority.issue_batches(requests):
            pass

    paths: dict[str, tuple[Callable[[], object], int, int]] = {
        "raw 1": (raw, 1, 1),
        "one 1": (one, 1, 1),
        f"raw {threads}": (raw, 1, threads),
        f"one {threads}": (one, 1, threads),
        "batch 1": (batch, BATCH, 1),
    }
    best = dict.fromkeys(paths, 0.0)
    for _round in range(3):
        for label, (operation, per_call, count) in paths.items():
            best[label] = max(best[label], run(operation, per_call, count, seconds))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--sync", default="full,normal")
    args = parser.parse_args()
    n = args.threads
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; best of 3 x {args.seconds:g} s")
    print(f"{'path (P-256 CA, P-256 CSR)':<58}{'per second':>11}{'vs raw':>8}")
    for sync in args.sync.split(","):
        with tempfile.TemporaryDirectory() as directory:
            authority = build_authority(Path(directory), synchronous=sync)
            try:
                got = figures(authority, n, args.seconds)
            finally:
                authority.close()
                authority.store.close()
        rows = [
            ("raw: load + verify CSR, build + sign, 1 thread", "raw 1", None),
            (f"authority.issue, 1 caller, sqlite {sync}", "one 1", "raw 1"),
            (f"raw, {n} threads", f"raw {n}", None),
            (f"authority.issue, {n} concurrent callers, sqlite {sync}", f"one {n}", f"raw {n}"),
            ("  the same vs raw with 1 thread", f"one {n}", "raw 1"),
            (f"authority.issue_batches, {BATCH} a commit, sqlite {sync}", "batch 1", "raw 1"),
        ]
        for label, key, versus in rows:
            ratio = f"{got[key] / got[versus]:>8.0%}" if versus else ""
            print(f"{label:<58}{got[key]:>11,.0f}{ratio}")
        print()


if __name__ == "__main__":
    main()
