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

from albca.api import issuing
from albca.api.audit import record_decision
from albca.api.deps import CallerDep, HolderDep, IdempotencyKeyDep, ServicesDep
from albca.api.routes.certificates import SerialPath
from albca.api.routes.responses import errors
from albca.api.schemas import IssuedOut, RenewRequest
from albca.ca.records import parse_serial

router = APIRouter(prefix="/certificates", tags=["renewal"])


@router.post(
    "/renew",
    status_code=201,
    response_model=IssuedOut,
    responses=errors(400, 401, 403, 404, 409, 413, 415, 422, 503),
)
def renew_as_holder(
    holder: HolderDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyKeyDep,
    body: Annotated[RenewRequest | None, Body()] = None,
) -> dict[str, Any]:
    """Renew the certificate the caller holds (proved by renewal token or ALB mTLS).

    With an Idempotency-Key, a retry returns the certificate the first attempt issued."""
    outcome = issuing.renew_as_holder(
        services,
        holder,
        csr=body.csr if body is not None else None,
        idempotency_key=idempotency_key,
    )
    record_decision(
        services.authority,
        action="api.replay" if outcome.replayed else "api.renew",
        actor=holder.actor,
        serial=outcome.issued.serial,
        detail={"proof": holder.proof, "renewal_of": f"{holder.serial:x}"},
    )
    return _renewed(outcome, services, response)


@router.post(
    "/{serial}/renew",
    status_code=201,
    response_model=IssuedOut,
    responses=errors(400, 401, 403, 404, 409, 413, 415, 422, 503),
)
def renew_with_token(
    serial: SerialPath,
    caller: CallerDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyKeyDep,
    body: Annotated[RenewRequest | None, Body()] = None,
) -> dict[str, Any]:
    """Renew a certificate by serial with an API token. Needs ``renew``, the certificate's
    profile among the token's, and its names inside the token's policy. With an
    Idempotency-Key, a retry returns the certificate the first attempt issued."""
    outcome = issuing.renew_by_serial(
        services,
        caller,
        serial=parse_serial(serial),
        csr=body.csr if body is not None else None,
        idempotency_key=idempotency_key,
    )
    if outcome.replayed:
        record_decision(
            services.authority,
            action="api.replay",
            actor=caller.actor,
            serial=outcome.issued.serial,
        )
    return _renewed(outcome, services, response)


def _renewed(outcome: issuing.Outcome, services: ServicesDep, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = "no-store"
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return issuing.issued_response(outcome.issued, services, pkcs12_password=None)
