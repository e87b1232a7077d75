"""What one ``albca maintain`` run costs on the embedded store with 10,000 certificates.

    .venv/bin/python bench/maintenance.py [--certificates 10000] [--runs 20]

A SQLite store (synchronous=full, as ``albca maintain`` opens it by default) with a
``file://`` target, the library's ``Maintenance`` as the CLI runs it, a recording sink
for notices (so the figures are albca's work, not a webhook's latency). Figures:

1. nothing due: the CRLs fresh, no certificate near a threshold (median and worst of
   ``--runs`` runs): the hourly cost of a quiet CA;
2. CRLs due: the run that re-signs and publishes both CAs' CRLs;
3. every certificate crossing the 30-day threshold at once: the run that claims (one
   transaction), sends (one digest message) and records (one transaction)
   ``--certificates`` notices;
4. the run after it: every one of those notices already sent (each is looked up).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from albca.ca.authority import IssueRequest
from albca.ca.keys import KeySpec, generate_private_key
from albca.ca.names import RequestedNames
from albca.trust_bundle.maintenance import Maintenance
from albca.trust_bundle.notices import RecordingSink
from albca.trust_bundle.publish import FilePublisher
from albca.trust_bundle.revocation_sync import RevocationSync
from tests.authorities import build_authority
from tests.factories import T0
from tests.maintenance.helpers import MovingClock


def timed(run) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    report = run()
    elapsed = time.perf_counter() - start
    assert report.ok, report.failures
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        clock = MovingClock(T0)
        authority = build_authority(root / "ca", clock=clock, synchronous="full")
        publisher = FilePublisher(root / "pki")
        sink = RecordingSink()
        maintenance = Maintenance(
            authority=authority,
            publisher=publisher,
            sync=lambda: RevocationSync(
                authority=authority, publisher=publisher, trust_stores=None, include_roots=True
            ),
            sinks=[sink],
        )
        key = generate_private_key(KeySpec.EC_P256).public_key()
        requests = [
            IssueRequest(
                profile="client",
                public_key=key,
                names=RequestedNames.of(common_name=f"client-{i}"),
                requested_by="bench",
                lifetime=timedelta(days=300),
            )
            for i in range(args.certificates)
        ]
        start = time.perf_counter()
        for _batch in authority.issue_batches(requests):
            pass
        print(f"{args.certificates} certificates issued in {time.perf_counter() - start:.1f} s")

        crls_due = timed(maintenance.run)
        quiet = []
        for _ in range(args.runs):
            clock.advance(timedelta(minutes=5))
            quiet.append(timed(maintenance.run))
        clock.advance(timedelta(days=271))  # every certificate now 29 days from expiry
        crossing = timed(maintenance.run)
        messages = len(sink.delivered)
        sent = sum(m.detail.get("count", 1) for m in sink.delivered)
        clock.advance(timedelta(hours=1))
        after = timed(maintenance.run)
        assert len(sink.delivered) == messages

    print(f"nothing due, {args.certificates} certificates in the store ({args.runs} runs):")
    print(f"  median {statistics.median(quiet) * 1000:.1f} ms, worst {max(quiet) * 1000:.1f} ms")
    print(f"CRLs due (2 CAs re-signed and published): {crls_due * 1000:.1f} ms")
    print(
        f"{sent} certificates crossing 30 days at once: {crossing:.2f} s "
        f"({messages} message(s) to the sink: one digest per threshold)"
    )
    print(f"the run after (all {sent} notices already sent): {after:.2f} s")


if __name__ == "__main__":
    main()
