"""``GET /v1/health``: the store answers and an issuing CA is active."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from albca.api.deps import AuthorityDep
from albca.api.routes.responses import errors
from albca.api.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut, responses=errors(503))
def health(authority: AuthorityDep) -> dict[str, Any]:
    issuer = authority.issuer()
    return {
        "status": "ok",
        "issuer_key_id": issuer.key_id,
        "issuer_not_after": issuer.certificate.not_valid_after_utc,
    }
