"""Answers a ``before-call`` hook gives botocore instead of sending the request: a parsed
body (or a parsed error, which the client raises as the modelled exception class for its
code) and a stand-in HTTP response. Shared by the emulated services."""

from __future__ import annotations

import uuid
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders

__all__ = ["success_response", "error_response"]


class _EmptyBody:
    def stream(self, **_: Any) -> list[bytes]:
        return [b""]


def _http(status: int) -> AWSResponse:
    return AWSResponse("https://emulated.invalid/", status, HTTPHeaders(), _EmptyBody())


def _metadata(status: int) -> dict[str, Any]:
    return {
        "RequestId": str(uuid.uuid4()),
        "HTTPStatusCode": status,
        "HTTPHeaders": {},
        "RetryAttempts": 0,
    }


def success_response(body: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    return _http(200), {**body, "ResponseMetadata": _metadata(200)}


def error_response(
    code: str, message: str, *, status: int = 400
) -> tuple[AWSResponse, dict[str, Any]]:
    # The shape botocore's parsers produce for an error, so that the client raises the
    # modelled exception class for ``code``.
    return _http(status), {
        "Error": {"Code": code, "Message": message, "Type": "Sender"},
        "ResponseMetadata": _metadata(status),
    }
