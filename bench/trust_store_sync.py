"""How long a revocation takes to reach ALB trust stores, and what a large CRL costs.

    .venv/bin/python bench/trust_store_sync.py [--rounds 20] [--stores 1,3]
                                               [--crl-sizes 100000,500000]

Everything runs in-process: moto S3 (versioned bucket) and the ELBv2 trust store fake
behind real boto3 clients (botocore builds and validates every request; no network). So
the figures are albca's own work plus botocore's and the emulation's, not AWS latency: on
AWS each of the calls below is a network round trip (and a trust store may take a while to
apply a CRL), which these figures leave out.

1. Revocation -> trust stores: from ``Authority.revoke`` to every store holding the new
   CRL (``sync_after_revocation``: sign the CRL, check it against the ALB rules, publish it
   to S3, then per store add it, tag it, remove the old one). Median, 95th percentile and
   worst of ``--rounds`` revocations, with a small CRL.
2. The same sync with ``--crl-sizes`` revoked entries already in the store, phase by phase:
   read the entries and sign the CRL; check it (the ALB rules: parse, verify signature);
   upload the PEM to S3; swap it into one trust store (the fake reads it from S3 and checks
   it as AWS would).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
from moto import mock_aws

from albca.ca.names import RequestedNames
from albca.ca.records import RevocationReason
from albca.emulated_aws import install_trust_store_fake
from albca.trust_bundle.alb_rules import ALB_LIMITS
from albca.trust_bundle.artefacts import S3Location, check_crl_document, publish_checked_crl
from albca.trust_bundle.elbv2 import TrustStoreApi
from albca.trust_bundle.publish import S3Publisher
from albca.trust_bundle.revocation_sync import sync_after_revocation
from albca.trust_bundle.trust_stores import TrustStoreManager
from bench.bulk_store import load_revoked
from bench.issuance_and_crl import random_entries
from tests.authorities import build_authority

REGION = "us-east-1"
BUCKET = "albca-bench"
_NAMES = itertools.count(1)


def _setup(directory: Path, stores: int):
    s3 = boto3.client("s3", region_name=REGION)
    if BUCKET not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    elbv2 = boto3.client("elbv2", region_name=REGION)
    fake = install_trust_store_fake(elbv2, s3, creating_polls=0)
    authority = build_authority(directory)
    manager = TrustStoreManager(
        authority=authority,
        publisher=S3Publisher(s3, BUCKET, directory.name),
        api=TrustStoreApi(elbv2, sleep=lambda _: None),
        poll_seconds=0,
    )
    for _ in range(stores):
        manager.create(f"bench-{next(_NAMES)}", actor="bench")
    return authority, manager, fake


def revocation_to_stores(rounds: int, stores: int) -> None:
    authority, manager, fake = _setup(Path(tempfile.mkdtemp(prefix="albca-sync-")), stores)
    issuing = authority.active_issuer_record().key_id
    arns = [store.arn for store in manager.fed()]
    times = []
    for n in range(rounds):
        issued = authority.issue_with_new_key(
            profile="client", names=RequestedNames.of(common_name=f"user{n}"), requested_by="b"
        )
        start = time.perf_counter()
        authority.revoke(issued.serial, RevocationReason.KEY_COMPROMISE, requested_by="bench")
        outcome = sync_after_revocation(
            manager.revocation_sync(), actor="bench", serial=issued.serial
        )
        times.append(time.perf_counter() - start)
        assert outcome.synced, outcome.error
    for arn in arns:  # every store holds the last CRL, with every revocation
        store = manager.api.by_arn(arn)  # type: ignore[union-attr]
        assert store.revoked_entries == rounds, (store.revoked_entries, rounds)
        assert store.crls[issuing].revocation_id in fake.revocation_locations(arn)
    ordered = sorted(times)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(
        f"{stores:>7}{statistics.median(times) * 1000:>11.0f}{p95 * 1000:>11.0f}"
        f"{max(times) * 1000:>11.0f}"
    )
    authority.store.close()


def large_crl(size: int) -> None:
    directory = Path(tempfile.mkdtemp(prefix="albca-crl-"))
    authority, manager, _ = _setup(directory, 1)
    (store,) = manager.fed()
    issuer = authority.active_issuer_record().key_id
    far = int((datetime.now(UTC) + timedelta(days=365)).timestamp())
    load_revoked(directory / "albca.db", issuer, iter(random_entries(size)), not_after=far)
    trusted = authority.trusted_certificates()
    api = manager.api
    assert api is not None

    start = time.perf_counter()
    document = authority.generate_crl(issuer, requested_by="bench")
    signed = time.perf_counter()
    pem, checked = check_crl_document(document, trusted)
    verified = time.perf_counter()
    crl = publish_checked_crl(
        document,
        pem,
        checked,
        publisher=manager.publisher,
        store=authority.store,
        actor="bench",
        now=authority.now(),
    )
    uploaded = time.perf_counter()
    old = store.crls[issuer].revocation_id
    added = api.add_revocation(store.arn, S3Location.of(crl.published))
    api.tag(store.arn, {f"albca:crl:{issuer}": f"{added.revocation_id}:{crl.number}"})
    api.remove_revocations(store.arn, [old])
    swapped = time.perf_counter()
    assert added.entries == size, (added.entries, size)
    assert api.by_arn(store.arn).revoked_entries == size

    # The same, end to end through the service a revocation triggers. Above 250,000
    # entries the old and the new CRL cannot be held together (500,000 per store): the sync
    # refuses before uploading anything unless told to allow the gap.
    gap = 2 * size > ALB_LIMITS.max_revoked_entries
    manager.allow_gap = gap
    begin = time.perf_counter()
    report = manager.revocation_sync().run(actor="bench")
    whole = time.perf_counter() - begin
    assert report.crls[0].entries == size
    print(
        f"{size:>9,}{len(pem) / 2**20:>8.1f}{signed - start:>9.2f}{verified - signed:>9.2f}"
        f"{uploaded - verified:>9.2f}{swapped - uploaded:>9.2f}{swapped - start:>9.2f}"
        f"{whole:>10.2f}{' (--allow-gap)' if gap else ''}"
    )
    authority.store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="revocations timed per row")
    parser.add_argument("--stores", default="1,3", help="comma-separated trust store counts")
    parser.add_argument("--crl-sizes", default="100000,500000", help="comma-separated sizes")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, moto S3 + ELBv2 fake")
    with mock_aws():
        print()
        print(f"revocation -> every trust store holds the new CRL ({args.rounds} revocations)")
        print(f"{'stores':>7}{'median ms':>11}{'p95 ms':>11}{'max ms':>11}")
        for stores in (int(n) for n in args.stores.split(",")):
            revocation_to_stores(args.rounds, stores)
        print()
        print("one sync with a large CRL, one trust store (seconds)")
        print(
            f"{'entries':>9}{'PEM MiB':>8}{'sign':>9}{'check':>9}{'upload':>9}{'swap':>9}"
            f"{'total':>9}{'sync()':>10}"
        )
        for size in (int(n) for n in args.crl_sizes.split(",")):
            large_crl(size)


if __name__ == "__main__":
    main()
