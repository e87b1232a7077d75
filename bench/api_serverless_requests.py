"""The API on Lambda with no local state: the AWS requests each API call makes, and its time
under moto, through the Lambda handler's own app (DynamoDB stores, KMS-held CA keys).

    .venv/bin/python bench/api_serverless_requests.py [--count N]

For each kind of request: the DynamoDB and KMS operations it sends (counted at the SDK,
so botocore retries would show), and the mean time of N requests through Mangum. Under
moto every AWS call is an in-process function call: the times measure albca, the SDK's
client-side work and moto, never a network round trip. On AWS each listed request is a
round trip of a few milliseconds (DynamoDB single-digit ms; KMS Sign more), so the request
counts are the figures to carry over.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REGION = "eu-west-1"
TABLE = "albca-bench"
AUDIENCE = "albca-renew"


class AwsRequests:
    """Counts what reaches moto, by ``service.Operation`` (from ``X-Amz-Target``)."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()

    @contextmanager
    def counting(self) -> Iterator[None]:
        from unittest import mock

        from moto.core.botocore_stubber import BotocoreStubber

        original = BotocoreStubber.process_request
        counts = self.counts

        def process_request(stubber: Any, request: Any) -> Any:
            target = request.headers.get("X-Amz-Target", b"")
            target = target.decode() if isinstance(target, bytes) else str(target)
            service, _, operation = target.partition(".")
            name = {"DynamoDB_20120810": "dynamodb", "TrentService": "kms"}.get(service, service)
            counts[f"{name}.{operation}"] += 1
            return original(stubber, request)

        with mock.patch.object(BotocoreStubber, "process_request", process_request):
            yield

    def take(self) -> dict[str, int]:
        taken = dict(sorted(self.counts.items()))
        self.counts.clear()
        return taken


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=30)
    count = parser.parse_args().count
    home = Path(tempfile.mkdtemp()) / "no-home"
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",  # moto's; never a real account
            "AWS_DEFAULT_REGION": REGION,
            "ALBCA_HOME": str(home),
            "ALBCA_STORE": f"dynamodb://{TABLE}",
            "ALBCA_AWS_REGION": REGION,
            "ALBCA_API_RENEWAL_AUDIENCE": AUDIENCE,
        }
    )
    from moto import mock_aws

    from tests.aws.kms_standin import kms_stand_in

    requests = AwsRequests()
    with mock_aws(), kms_stand_in(), requests.counting():
        token = set_up()
        requests.take()
        started = time.perf_counter()
        import albca.lambda_handler as lambda_handler

        invoke = lambda_handler.handler
        status, _ = call(invoke, "GET", "/v1/health")
        cold = time.perf_counter() - started
        assert status == 200
        print(f"first invocation (build the app, then GET /v1/health): {cold * 1000:.0f} ms")
        print(f"  AWS requests: {requests.take()}")
        for label, (prepare, make) in operations(invoke, token).items():
            prepared = prepare(count)
            requests.take()
            timings = []
            for item in prepared:
                method, path, headers, body = make(item)
                begun = time.perf_counter()
                status, answer = call(invoke, method, path, headers, body)
                timings.append(time.perf_counter() - begun)
                assert status < 300, (label, status, answer)
            per_request = {k: v / count for k, v in requests.take().items()}
            mean = sum(timings) / len(timings) * 1000
            print(f"{label}: {mean:.1f} ms mean under moto, {count} requests")
            print(f"  AWS requests each: {per_request}")
        assert not home.exists()


def set_up() -> str:
    """Table (as `albca aws bootstrap` makes it), a CA with KMS keys, an API token."""
    from albca.api.tokens import Scope, new_token
    from albca.ca.clock import system_clock
    from albca.compose.api import open_token_store
    from albca.compose.new_ca import InitOptions, initialize_ca
    from albca.compose.passphrase import passphrase_source
    from albca.infra.bootstrap import BootstrapSpec, bootstrap
    from albca.infra.clients import AwsClients
    from albca.settings import Settings

    bootstrap(BootstrapSpec(region=REGION, table=TABLE), AwsClients(region=REGION))
    settings = Settings()
    initialize_ca(
        settings, passphrase_source(settings), InitOptions(key_store="kms"), actor="bench"
    )
    made = new_token(
        name="bench",
        scopes=frozenset(Scope),
        profiles=["client"],
        names=["*.svc.internal"],
        common_names=None,
        allow_wildcards=False,
        ttl=timedelta(days=1),
        now=system_clock(),
    )
    tokens = open_token_store(settings)
    tokens.add(made.token)
    return made.secret


Request = tuple[str, str, dict[str, str], dict[str, Any] | None]
Invoke = Callable[[dict[str, Any], Any], dict[str, Any]]
# An operation: what to prepare (not timed, not counted), then the N requests to time.
Operation = tuple[Callable[[int], list[Any]], Callable[[Any], Request]]


def operations(invoke: Invoke, token: str) -> dict[str, Operation]:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.api.helpers import renewal_token
    from tests.factories import make_csr

    key = ec.generate_private_key(ec.SECP256R1())
    csr = make_csr(key, common_name="w.svc.internal", dns_names=("w.svc.internal",)).decode()
    bearer = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    issue_body = {"profile": "client", "csr": csr}

    def nothing(count: int) -> list[Any]:
        return [None] * count

    def certificates(count: int) -> list[Any]:
        issued = [
            call(invoke, "POST", "/v1/certificates", bearer, issue_body) for _ in range(count)
        ]
        return [
            x509.load_pem_x509_certificate(body["certificate_pem"].encode()) for _, body in issued
        ]

    def with_key(_: Any) -> Request:
        return (
            "POST",
            "/v1/certificates",
            {**bearer, "idempotency-key": str(uuid.uuid4())},
            issue_body,
        )

    def generate(_: Any) -> Request:
        headers = {**bearer, "idempotency-key": str(uuid.uuid4())}
        body = {"profile": "client", "common_name": "g.svc.internal"}
        return "POST", "/v1/certificates/generate", headers, body

    def renew(certificate: Any) -> Request:
        proof = renewal_token(certificate, key, audience=AUDIENCE, issued_at=_now())
        return "POST", "/v1/certificates/renew", {"authorization": f"Bearer {proof}"}, None

    def serial(certificate: Any) -> str:
        return f"{certificate.serial_number:x}"

    retry_headers = {**bearer, "idempotency-key": "bench-retry"}
    return {
        "issue from a CSR, no Idempotency-Key": (
            nothing,
            lambda _: ("POST", "/v1/certificates", bearer, issue_body),
        ),
        "issue from a CSR with a new Idempotency-Key": (nothing, with_key),
        "retry of one Idempotency-Key (the first issues, the rest replay)": (
            nothing,
            lambda _: ("POST", "/v1/certificates", retry_headers, issue_body),
        ),
        "generate a key (EC P-256) with a new Idempotency-Key": (nothing, generate),
        "get a certificate by serial": (
            certificates,
            lambda c: ("GET", f"/v1/certificates/{serial(c)}", bearer, None),
        ),
        "renew with a renewal token (x5c JWS, one-time jti)": (certificates, renew),
        "revoke by serial": (
            certificates,
            lambda c: (
                "POST",
                f"/v1/certificates/{serial(c)}/revoke",
                bearer,
                {"reason": "superseded"},
            ),
        ),
    }


def _now() -> Any:
    from albca.ca.clock import system_clock

    return system_clock()


def call(
    invoke: Callable[[dict[str, Any], Any], dict[str, Any]],
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
) -> tuple[int, Any]:
    from tests.api.helpers import LambdaContext, alb_event

    event = alb_event(method, path, headers=headers, body=json.dumps(body) if body else None)
    response = invoke(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"]) if response["body"] else None


if __name__ == "__main__":
    main()
