"""What simulated days of hourly maintenance cost on moto, as the history grows.

    .venv/bin/python bench/maintenance_days_aws.py [--days 30] [--report 1,10,30]
                                                   [--plain-moto]

The serverless set-up of ``tests/aws/test_maintenance_aws.py`` reduced to what every run
touches: a DynamoDB store (moto, in-process), an S3 target (versioned bucket), CRLs valid
one day (re-signed every 12 hours), a few certificates near their thresholds, notices to a
recording sink. One ``Maintenance.run`` an hour. Printed for each day in ``--report``:
the seconds that simulated day took, the requests moto answered per run (median), the
items DynamoDB Query and BatchGetItem returned per run (median: what a real table would
bill as read, and what would grow if a run read more as history grows), and the process's
peak resident memory. ``--plain-moto`` runs on moto as it is, without
``tests/aws/moto_at_scale.dynamodb_at_scale``: the figures that made the 90-day test
impossible (its Query reads every item of the table, and every transaction's table copy is
kept).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from albca.ca.authority import Authority, AuthorityConfig
from albca.ca.certificates import ca_subject
from albca.ca.hierarchy import HierarchySpec, create_hierarchy
from albca.ca.keys import KeySpec, generate_private_key
from albca.ca.profiles import default_profiles
from albca.ca.signer import PrivateKeySigner
from albca.ca.stores.dynamodb import DynamoDBStore
from albca.trust_bundle.maintenance import Maintenance
from albca.trust_bundle.notices import RecordingSink
from albca.trust_bundle.publish import S3Publisher
from albca.trust_bundle.revocation_sync import RevocationSync
from tests.aws.moto_at_scale import dynamodb_at_scale
from tests.aws.moto_support import create_table
from tests.maintenance.helpers import MovingClock, issue

REGION = "eu-west-1"
TABLE = "albca-bench-days"
BUCKET = "albca-bench-days"


class Requests:
    """Counts what moto answers: requests, and the items DynamoDB reads return."""

    def __init__(self) -> None:
        self.requests = 0
        self.items = 0
        self._original = BotocoreStubber.process_request

    def __enter__(self) -> Requests:
        counter = self
        original = self._original

        def process_request(stubber: Any, request: Any) -> Any:
            response = original(stubber, request)
            counter.requests += 1
            target = request.headers.get("X-Amz-Target", b"")
            target = target.decode() if isinstance(target, bytes) else target
            if response is not None and target.endswith((".Query", ".BatchGetItem")):
                body = json.loads(response[2] or b"{}")
                if "Count" in body:
                    counter.items += body["Count"]
                counter.items += sum(len(v) for v in body.get("Responses", {}).values())
            return response

        BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
        return self

    def __exit__(self, *_exc: object) -> None:
        BotocoreStubber.process_request = self._original  # type: ignore[method-assign]


def build(clock: MovingClock) -> Maintenance:
    create_table(TABLE, region=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    signers = {
        f"mem:{name}": PrivateKeySigner(generate_private_key(KeySpec.EC_P256), f"mem:{name}")
        for name in ("root", "issuing")
    }
    store = DynamoDBStore(TABLE, region=REGION)
    create_hierarchy(
        store=store,
        spec=HierarchySpec(root_subject=ca_subject("Root"), issuing_subject=ca_subject("CA")),
        root_signer=signers["mem:root"],
        issuing_signer=signers["mem:issuing"],
        now=clock(),
        actor="bench",
    )
    authority = Authority(
        store=store,
        config=AuthorityConfig(profiles=default_profiles(), crl_validity=timedelta(days=1)),
        resolve_signer=signers.__getitem__,
        clock=clock,
    )
    for days in (3, 10, 40, 90):
        issue(authority, f"leaf-{days}", timedelta(days=days))
    publisher = S3Publisher(s3, BUCKET, "pki")
    return Maintenance(
        authority=authority,
        publisher=publisher,
        sync=lambda: RevocationSync(
            authority=authority, publisher=publisher, trust_stores=None, include_roots=True
        ),
        sinks=[RecordingSink()],
    )


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--report", default="1,10,30")
    parser.add_argument("--plain-moto", action="store_true")
    args = parser.parse_args()
    report = {int(day) for day in args.report.split(",")}
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")  # moto's; never a real account
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    clock = MovingClock(datetime.now(UTC).replace(microsecond=0))
    with ExitStack() as stack:
        stack.enter_context(mock_aws())
        if not args.plain_moto:
            stack.enter_context(dynamodb_at_scale())
        maintenance = build(clock)
        print(f"moto {'as it is' if args.plain_moto else 'with dynamodb_at_scale'}")
        print(f"{'day':>4}{'s/day':>8}{'requests/run':>14}{'items read/run':>16}{'peak MB':>9}")
        for day in range(1, args.days + 1):
            requests, items = [], []
            start = time.perf_counter()
            for _hour in range(24):
                with Requests() as counted:
                    outcome = maintenance.run()
                assert outcome.ok, outcome.failures
                requests.append(counted.requests)
                items.append(counted.items)
                clock.advance(timedelta(hours=1))
            took = time.perf_counter() - start
            if day in report:
                print(
                    f"{day:>4}{took:>8.2f}{statistics.median(requests):>14.0f}"
                    f"{statistics.median(items):>16.0f}{peak_mb():>9.0f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
