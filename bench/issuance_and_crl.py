"""Issuance rate through the authority vs. raw cryptography, and CRL build time and memory.

    python bench/issuance_and_crl.py [--seconds 3] [--crl-sizes 100000,500000]

Issuance: each figure is the best of three timed runs of ``--seconds`` each, so that a
noisy neighbour on a shared machine costs a run, not the result; the runs of the paths
compared are interleaved, so that a slow spell hits them alike. "raw" is the least code
that produces the same certificate with cryptography and no CA around it; for a CSR that
includes loading the CSR and verifying its signature, which any CA must do, and for a
generated key it includes generating the key. The authority's figure adds the name policy,
the profile, the record and its audit event committed to SQLite: one transaction per
certificate, or (``N CSRs a commit``) one per ``issue_batches`` call of N CSRs, each CSR
loaded and verified as in the raw figure.

CRLs: entries are generated in memory (random 159-bit serials, reasons, times) and the time
covers encoding, signing and PEM; ``from store`` adds reading the revoked entries from a
SQLite store and taking the next CRL number. Peak memory is measured in a second pass
under tracemalloc (Python allocations, which is where a CRL's bytes live).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from albca.ca.authority import Authority, IssueRequest
from albca.ca.certificates import build_leaf_certificate, random_serial
from albca.ca.crl import build_crl
from albca.ca.csr import parse_csr
from albca.ca.keys import KeySpec, generate_private_key, signature_hash
from albca.ca.names import RequestedNames
from albca.ca.profiles import CertificateKind
from albca.ca.records import RevokedEntry
from bench.bulk_store import clear_bench_rows, load_revoked
from tests.authorities import build_authority
from tests.factories import make_csr

BATCH = 100  # CSRs per issue_batches call: `albca issue batch`, one commit for them all


def rates(
    operations: dict[str, tuple[Callable[[], object], int]], seconds: float
) -> dict[str, float]:
    """Results per second of each ``label: (operation, results a call)``: the best of
    three runs each, the runs interleaved (a, b, c, a, b, c, ...) so that a slow spell
    of a shared machine lands on every path alike instead of skewing their ratio."""
    best = dict.fromkeys(operations, 0.0)
    for _ in range(3):
        for label, (operation, per_call) in operations.items():
            best[label] = max(best[label], _run(operation, per_call, seconds))
    return best


def _run(operation: Callable[[], object], per_call: int, seconds: float) -> float:
    gc.collect()
    calls = max(1, 20 // per_call)
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(calls):
            operation()
        count += calls * per_call
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def issuance(seconds: float) -> None:
    print(f"Issuance, P-256 issuing CA, P-256 leaf, best of 3 x {seconds:g} s")
    print(f"{'path':<46}{'per second':>12}{'vs raw':>10}")
    for synchronous in ("full", "normal"):
        with tempfile.TemporaryDirectory() as directory:
            authority = build_authority(Path(directory), synchronous=synchronous)
            issuance_rows(authority, synchronous, seconds)
            authority.store.close()
    print()


def issuance_rows(authority: Authority, synchronous: str, seconds: float) -> None:
    names = RequestedNames.of(common_name="svc", dns_names=["svc.internal"])
    csr_key = ec.generate_private_key(ec.SECP256R1())
    csr = make_csr(csr_key, common_name="svc", dns_names=("svc.internal",))
    issuer = authority.issuer()

    def raw_build(public_key: CertificatePublicKeyTypes) -> bytes:
        certificate = build_leaf_certificate(
            issuer=issuer,
            kind=CertificateKind.SERVER,
            public_key=public_key,
            names=names,
            serial=random_serial(),
            not_before=datetime.now(UTC),
            not_after=datetime.now(UTC) + timedelta(days=90),
        )
        return certificate.public_bytes(serialization.Encoding.PEM)

    def raw_csr() -> None:
        request = x509.load_pem_x509_csr(csr)
        assert request.is_signature_valid
        raw_build(request.public_key())

    def raw_keygen() -> None:
        raw_build(generate_private_key(KeySpec.EC_P256).public_key())

    def authority_csr() -> None:
        authority.issue_from_csr(csr, profile="server", requested_by="bench")

    def authority_keygen() -> None:
        authority.issue_with_new_key(profile="server", names=names, requested_by="bench")

    def authority_csr_batch() -> None:
        requests = [
            IssueRequest(
                profile="server",
                public_key=parsed.public_key,
                names=parsed.names,
                requested_by="bench",
            )
            for parsed in (parse_csr(csr) for _ in range(BATCH))
        ]
        for _batch in authority.issue_batches(requests):
            pass

    measured = rates(
        {
            "build": (lambda: raw_build(csr_key.public_key()), 1),
            "raw csr": (raw_csr, 1),
            "csr": (authority_csr, 1),
            "csr batch": (authority_csr_batch, BATCH),
            "raw keygen": (raw_keygen, 1),
            "keygen": (authority_keygen, 1),
        },
        seconds,
    )
    rows = [
        ("raw: build + sign only (reference)", "build", None),
        ("raw: load + verify CSR, build + sign", "raw csr", None),
        (f"authority, from a CSR, sqlite {synchronous}", "csr", "raw csr"),
        (f"authority, {BATCH} CSRs a commit, sqlite {synchronous}", "csr batch", "raw csr"),
        ("raw: generate key, build + sign", "raw keygen", None),
        (f"authority, generated key, sqlite {synchronous}", "keygen", "raw keygen"),
    ]
    for label, key, versus in rows:
        ratio = f"{measured[key] / measured[versus]:>10.0%}" if versus else ""
        print(f"{label:<46}{measured[key]:>12,.0f}{ratio}")


def random_entries(count: int) -> list[RevokedEntry]:
    generator = random.Random(5280)
    base = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp())
    reasons = [0, 1, 1, 4, 5, 3]
    return [
        RevokedEntry(
            generator.getrandbits(159) | 1,
            base + generator.randrange(180 * 86_400),
            generator.choice(reasons),
        )
        for _ in range(count)
    ]


def crl_figures(sizes: list[int]) -> None:
    directory = Path(tempfile.mkdtemp(prefix="albca-bench-"))
    authority = build_authority(directory)
    issuer = authority.issuer()
    now = datetime.now(UTC).replace(microsecond=0)

    def build(entries: list[RevokedEntry]) -> bytes:
        document = build_crl(
            issuer=issuer.certificate,
            signer=issuer.signer,
            number=1,
            this_update=now,
            next_update=now + timedelta(days=7),
            entries=entries,
        )
        return document.pem

    print("CRL build (encode + sign + PEM), P-256 issuing CA")
    print(f"{'entries':>9}{'in memory':>12}{'from store':>12}{'peak MiB':>10}{'DER MiB':>9}")
    for size in sizes:
        entries = random_entries(size)
        gc.collect()
        start = time.perf_counter()
        pem = build(entries)
        in_memory = time.perf_counter() - start
        der_size = len(x509.load_pem_x509_crl(pem).public_bytes(serialization.Encoding.DER))
        del pem

        gc.collect()
        tracemalloc.start()
        build(entries)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        far = int((datetime.now(UTC) + timedelta(days=365)).timestamp())
        load_revoked(directory / "albca.db", issuer.key_id, iter(entries), not_after=far)
        gc.collect()
        start = time.perf_counter()
        document = authority.generate_crl(requested_by="bench")
        document.pem  # noqa: B018  (the PEM is part of what a publish needs)
        from_store = time.perf_counter() - start
        assert document.entries == size, (document.entries, size)
        print(
            f"{size:>9,}{in_memory:>11.2f}s{from_store:>11.2f}s"
            f"{peak / 2**20:>10.0f}{der_size / 2**20:>9.1f}"
        )
        clear_bench_rows(directory / "albca.db")
    authority.store.close()

    reference = min(sizes)
    entries = random_entries(reference)
    start = time.perf_counter()
    revoked = [
        x509.RevokedCertificateBuilder()
        .serial_number(entry.serial)
        .revocation_date(datetime.fromtimestamp(entry.revoked_at, UTC))
        .build()
        for entry in entries
    ]
    (
        x509.CertificateRevocationListBuilder(
            issuer_name=issuer.certificate.subject,
            last_update=now,
            next_update=now + timedelta(days=7),
            revoked_certificates=revoked,
        ).sign(issuer.signer.builder_key, signature_hash(issuer.signer.key_spec))
    )
    reference_time = time.perf_counter() - start
    print(
        f"reference: cryptography's CRL builder given the whole list, {reference:,} entries "
        f"(no reasons): {reference_time:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each timed run")
    parser.add_argument("--crl-sizes", default="100000,500000", help="comma-separated sizes")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print()
    issuance(args.seconds)
    crl_figures([int(size) for size in args.crl_sizes.split(",")])


if __name__ == "__main__":
    main()
