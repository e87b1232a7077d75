"""What every route may answer besides success, for the OpenAPI document."""

from __future__ import annotations

from typing import Any

from albca.api.schemas import ErrorOut

__all__ = ["errors"]

_DESCRIPTIONS = {
    400: "Malformed request (the error names the field)",
    401: "No credential, or one that does not verify",
    403: "Not allowed: missing scope, profile or name outside the token's policy",
    404: "No such certificate",
    409: "Conflict: already revoked, or not renewable",
    413: "Body too large",
    415: "Body is not application/json",
    422: "Idempotency-Key reused for a different request",
    503: "The CA or its store is unavailable",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": ErrorOut, "description": _DESCRIPTIONS[status]} for status in statuses
    }
