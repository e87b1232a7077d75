"""Make one AWS call fail, the way AWS would answer it, on a real boto3 client.

The handler is registered first on ``before-call``, so it answers before moto and before
the trust store fake, and botocore raises the modelled exception for the code as usual.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders


class _EmptyBody:
    def stream(self, **_: Any) -> list[bytes]:
        return [b""]


@dataclass
class Failure:
    """Fails ``operation`` (``PutObject``, ``AddTrustStoreRevocations``...) with ``code``
    on the calls numbered in ``calls`` (1-based, counting only that operation)."""

    operation: str
    code: str
    calls: set[int] = field(default_factory=lambda: {1})
    seen: int = 0
    failed: int = 0

    def __call__(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        self.seen += 1
        if self.seen not in self.calls:
            return None
        self.failed += 1
        status = 503 if self.code in ("ServiceUnavailable", "SlowDown") else 400
        response = AWSResponse("https://aws.emulated/", status, HTTPHeaders(), _EmptyBody())
        return response, {
            "Error": {"Code": self.code, "Message": f"injected {self.code}"},
            "ResponseMetadata": {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": status},
        }


def fail(client: Any, operation: str, code: str, *, calls: set[int] | None = None) -> Failure:
    """Make ``client``'s ``operation`` fail with ``code`` (on its first call by default)."""
    failure = Failure(operation, code, calls or {1})
    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register_first(f"before-call.{service}.{operation}", failure)
    return failure
