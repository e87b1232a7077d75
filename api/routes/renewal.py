"""Renewal: a new certificate for the same names, profile and lifetime.

- ``POST /v1/certificates/renew``: the holder of a valid certificate renews it, proving
  possession through an ALB mTLS listener or a renewal token (``api.renewal``). No API
  token is needed: the certificate is the credential. The new certificate belongs to
  whoever obtained the old one (``requested_by`` carries over).
- ``POST /v1/certificates/{serial}/renew``: an API token with the ``renew`` scope renews a
  certificate whose profile and names it may use (automation that manages certificates).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from api import issuing
from api.audit import record_decision
from api.deps import CallerDep, HolderDep, ServicesDep
from api.routes.certificates import SerialPath
from api.routes.responses import errors
from api.schemas import IssuedOut, RenewRequest
from api.tokens import Scope
from ca.csr import parse_csr
from ca.records import parse_serial

router = APIRouter(prefix="/certificates", tags=["renewal"])


def _new_key(body: RenewRequest | None) -> Any:
    if body is None or body.csr is None:
        return None
    return parse_csr(body.csr).public_key


@router.post(
    "/renew",
    status_code=201,
    response_model=IssuedOut,
    responses=errors(400, 401, 403, 404, 409, 413, 415, 503),
)
def renew_as_holder(
    holder: HolderDep,
    services: ServicesDep,
    response: Response,
    body: Annotated[RenewRequest | None, Body()] = None,
) -> dict[str, Any]:
    """Renew the certificate the caller holds (proved by renewal token or ALB mTLS)."""
    authority = services.authority
    public_key = _new_key(body)
    current = authority.renewable(holder.serial, holder.certificate)
    if holder.token_id is not None and holder.token_expires_at is not None:
        services.replay_guard.use_once(
            f"{holder.serial:x}:{holder.token_id}", holder.token_expires_at, authority.now()
        )
    issued = authority.renew(
        holder.serial,
        requested_by=current.requested_by,
        public_key=public_key,
        presented=holder.certificate,
    )
    record_decision(
        authority,
        action="api.renew",
        actor=holder.actor,
        serial=issued.serial,
        detail={"proof": holder.proof, "renewal_of": f"{holder.serial:x}"},
    )
    response.headers["Cache-Control"] = "no-store"
    return issuing.issued_response(issued, services, pkcs12_password=None)


@router.post(
    "/{serial}/renew",
    status_code=201,
    response_model=IssuedOut,
    responses=errors(400, 401, 403, 404, 409, 413, 415, 503),
)
def renew_with_token(
    serial: SerialPath,
    caller: CallerDep,
    services: ServicesDep,
    response: Response,
    body: Annotated[RenewRequest | None, Body()] = None,
) -> dict[str, Any]:
    """Renew a certificate by serial with an API token. Needs ``renew``, the certificate's
    profile among the token's, and its names inside the token's policy."""
    caller.require(Scope.RENEW, action="renew certificates")
    authority = services.authority
    public_key = _new_key(body)
    current = authority.renewable(parse_serial(serial))
    caller.require_profile(current.profile)
    issued = authority.renew(
        current.serial,
        requested_by=caller.actor,
        public_key=public_key,
        caller_policy=caller.policy,
    )
    response.headers["Cache-Control"] = "no-store"
    return issuing.issued_response(issued, services, pkcs12_password=None)
