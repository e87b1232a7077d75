"""Issuance rate: DynamoDB store + KMS signer (under moto and the KMS stand-in) next to the
embedded SQLite store + a local key, in one run.

    .venv/bin/python bench/serverless_issuance.py [--count N]

Each figure is N certificates issued one after another through ``Authority.issue`` (sign
the certificate, then commit its record and audit event), for one pre-made EC P-256 client
key, so that client key generation is not measured. Under moto every AWS call is an
in-process function call, so the figures measure albca's own work, the AWS SDK's
client-side work (request building, SigV4 signing, parsing) and moto's emulation, never a
network round trip. The "in moto" column is the time spent inside moto's request
handling, measured separately: the rest is what albca and the SDK would also spend
against real AWS, where network latency and the service's own limits come on top (see
the README's "Serverless mode").
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from albca.ca.authority import Authority, IssueRequest
from albca.ca.certificates import ca_subject
from albca.ca.clock import system_clock
from albca.ca.hierarchy import HierarchySpec, create_hierarchy
from albca.ca.keys import KeySpec, generate_private_key
from albca.ca.names import RequestedNames
from albca.ca.signer import PrivateKeySigner, Signer
from albca.ca.stores.protocol import CertificateStore
from albca.ca.stores.sqlite import SqliteStore
from albca.config_file import default_authority_config

REGION = "eu-west-1"


def build_authority(store: CertificateStore, make_signer: Callable[[str], Signer]) -> Authority:
    signers = {role: make_signer(role) for role in ("root", "issuing")}
    create_hierarchy(
        store=store,
        spec=HierarchySpec(
            root_subject=ca_subject("Bench Root"), issuing_subject=ca_subject("Bench Issuing")
        ),
        root_signer=signers["root"],
        issuing_signer=signers["issuing"],
        now=system_clock(),
        actor="bench",
    )
    by_location = {signer.location: signer for signer in signers.values()}
    return Authority(
        store=store,
        config=default_authority_config(),
        resolve_signer=by_location.__getitem__,
    )


def local_signer(role: str) -> Signer:
    return PrivateKeySigner(generate_private_key(KeySpec.EC_P256), location=f"file:{role}")


class MotoClock:
    """Seconds spent inside moto's request handling (zero when moto is not running)."""

    seconds = 0.0

    @classmethod
    @contextmanager
    def counting(cls) -> Iterator[None]:
        from unittest import mock

        from moto.core.botocore_stubber import BotocoreStubber

        original = BotocoreStubber.process_request

        def process_request(self, request):
            start = time.perf_counter()
            try:
                return original(self, request)
            finally:
                cls.seconds += time.perf_counter() - start

        with mock.patch.object(BotocoreStubber, "process_request", process_request):
            yield


def measure(authority: Authority, count: int) -> tuple[float, float]:
    """(total seconds, seconds of it inside moto) for ``count`` issuances."""
    client_key = generate_private_key(KeySpec.EC_P256).public_key()
    authority.issuer()  # resolve and cache the issuing CA before the clock starts
    moto_before = MotoClock.seconds
    start = time.perf_counter()
    for index in range(count):
        authority.issue(
            IssueRequest(
                profile="client",
                public_key=client_key,
                names=RequestedNames.of(common_name=f"bench-{index}"),
                requested_by="bench",
            )
        )
    return time.perf_counter() - start, MotoClock.seconds - moto_before


@contextmanager
def moto_aws() -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        os.environ[name] = value
    from moto import mock_aws

    from tests.aws.kms_standin import kms_stand_in

    with mock_aws(), kms_stand_in(), MotoClock.counting():
        yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="certificates per figure")
    count = parser.parse_args().count
    rows: list[tuple[str, str, tuple[float, float]]] = []

    with tempfile.TemporaryDirectory() as directory:
        for synchronous in ("full", "normal"):
            store = SqliteStore(Path(directory) / f"{synchronous}.db", synchronous=synchronous)
            authority = build_authority(store, local_signer)
            rows.append(
                (f"sqlite (synchronous={synchronous})", "local key", measure(authority, count))
            )
            store.close()

    with moto_aws():
        import boto3

        from albca.ca.kms_signer import KmsSigner, create_signing_key
        from albca.ca.stores.dynamodb import DynamoDBStore
        from albca.ca.stores.dynamodb_models import table_definition
        from albca.infra.clients import AwsClients

        kms = AwsClients(region=REGION).client("kms")
        tables = itertools.count()

        def fresh_store() -> DynamoDBStore:
            name = f"bench-{next(tables)}"
            boto3.client("dynamodb", region_name=REGION).create_table(**table_definition(name))
            return DynamoDBStore(name, region=REGION)

        def kms_signer(role: str) -> Signer:
            return KmsSigner(
                kms, create_signing_key(kms, KeySpec.EC_P256, description=role, role=role)
            )

        rows.append(
            (
                "dynamodb (moto)",
                "local key",
                measure(build_authority(fresh_store(), local_signer), count),
            )
        )
        with tempfile.TemporaryDirectory() as directory:
            store = SqliteStore(Path(directory) / "kms.db")
            rows.append(
                (
                    "sqlite (synchronous=full)",
                    "kms (stand-in)",
                    measure(build_authority(store, kms_signer), count),
                )
            )
            store.close()
        rows.append(
            (
                "dynamodb (moto)",
                "kms (stand-in)",
                measure(build_authority(fresh_store(), kms_signer), count),
            )
        )

    print(f"issuance, {count} certificates each, one thread, EC P-256 CA and client keys")
    print(f"{'store':<28} {'signer':<15} {'per second':>10} {'ms each':>8} {'in moto':>8}")
    for store_name, signer_name, (seconds, in_moto) in rows:
        rate = count / seconds
        each = seconds / count * 1000
        moto = in_moto / count * 1000
        print(f"{store_name:<28} {signer_name:<15} {rate:>10.1f} {each:>8.2f} {moto:>8.2f}")


if __name__ == "__main__":
    main()
