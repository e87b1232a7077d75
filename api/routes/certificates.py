"""``/v1/certificates``: issue, read, list and revoke.

What a token may do to certificates it obtained itself (``requested_by`` is its name):
read and revoke them with any scope, because a caller that could issue a certificate must
be able to look after it (revoke it when its key leaks). Certificates other tokens
obtained need the ``read`` or ``revoke`` scope; revoking them also needs their names to
be inside the token's name policy.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Body, Path, Query, Response

from albca.api import issuing
from albca.api.audit import record_decision
from albca.api.deps import CallerDep, CrlCacheDep, IdempotencyKeyDep, ServicesDep
from albca.api.routes.responses import errors
from albca.api.schemas import (
    CertificateOut,
    CertificatePageOut,
    IssuedOut,
    IssueFromCsrRequest,
    IssueWithKeyRequest,
    RevokedOut,
    RevokeRequest,
)
from albca.api.tokens import Scope
from albca.ca.errors import InvalidRequest
from albca.ca.keys import KeySpec
from albca.ca.names import RequestedNames
from albca.ca.records import CertificateQuery, EffectiveStatus, RevocationReason
from albca.ca.serials import find_certificate
from albca.trust_bundle.revoke import revoke_and_sync

router = APIRouter(prefix="/certificates", tags=["certificates"])

SerialPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        description="Serial number in hex (colons allowed), or its first 8 or more digits "
        "if no other serial starts with them.",
    ),
]
_NO_STORE = {"Cache-Control": "no-store"}


def _issued(
    outcome: issuing.Outcome,
    services: ServicesDep,
    response: Response,
    caller: CallerDep,
    *,
    pkcs12_password: str | None = None,
) -> dict[str, Any]:
    response.headers.update(_NO_STORE)  # the body may hold a private key
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
        record_decision(
            services.authority,
            action="api.replay",
            actor=caller.actor,
            serial=outcome.issued.serial,
        )
    return issuing.issued_response(outcome.issued, services, pkcs12_password=pkcs12_password)


@router.post(
    "",
    status_code=201,
    response_model=IssuedOut,
    responses=errors(400, 401, 403, 409, 413, 415, 422, 503),
)
async def issue_from_csr(
    body: IssueFromCsrRequest,
    caller: CallerDep,
    services: ServicesDep,
    idempotency_key: IdempotencyKeyDep,
    response: Response,
) -> dict[str, Any]:
    """Issue a certificate for a CSR (the key never leaves its owner). Needs ``issue``."""
    # Served by ``api.fast_issue`` ahead of this route, which documents it (and answers
    # only where that path is not mounted): both call the same issuing function.
    outcome = await issuing.issue_from_csr_async(
        services,
        caller,
        profile=body.profile,
        csr=body.csr,
        lifetime_seconds=body.lifetime_seconds,
        idempotency_key=idempotency_key,
    )
    # On a thread: a replay writes its audit row, which waits for the store's writers,
    # never on the event loop (``http_errors.refusal_response``).
    return await asyncio.to_thread(_issued, outcome, services, response, caller)


@router.post(
    "/generate",
    status_code=201,
    response_model=IssuedOut,
    responses=errors(400, 401, 403, 409, 413, 415, 422, 503),
)
def issue_with_new_key(
    body: IssueWithKeyRequest,
    caller: CallerDep,
    services: ServicesDep,
    idempotency_key: IdempotencyKeyDep,
    response: Response,
) -> dict[str, Any]:
    """Issue with a key albca generates: returns the key, the certificate and the chain
    (and a PKCS#12 file when ``pkcs12_password`` is given). Needs ``issue``."""
    # A plain def, run in the thread pool: generating an RSA-4096 key takes a second, which
    # must not stall the event loop.
    names = RequestedNames.of(
        common_name=body.common_name, dns_names=body.dns_names, ip_addresses=body.ip_addresses
    )
    outcome = issuing.issue_with_new_key(
        services,
        caller,
        profile=body.profile,
        names=names,
        key_spec=KeySpec(body.key_type),
        lifetime_seconds=body.lifetime_seconds,
        request_body=body.model_dump(),
        idempotency_key=idempotency_key,
    )
    return _issued(outcome, services, response, caller, pkcs12_password=body.pkcs12_password)


@router.get("", response_model=CertificatePageOut, responses=errors(400, 401, 403, 503))
def list_certificates(
    caller: CallerDep,
    services: ServicesDep,
    status: Annotated[EffectiveStatus | None, Query()] = None,
    profile: Annotated[str | None, Query(max_length=64)] = None,
    expiring_before: Annotated[
        datetime | None, Query(description="Only certificates whose not_after is before this.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=128)] = None,
) -> dict[str, Any]:
    """Certificates, soonest expiry first, a page at a time (pass ``next_cursor`` back as
    ``cursor``). Needs ``read``."""
    caller.require(Scope.READ, action="list certificates")
    authority = services.authority
    if expiring_before is not None and expiring_before.tzinfo is None:
        raise InvalidRequest(
            "expiring_before: give a time zone (2026-01-01T00:00:00Z)", field="expiring_before"
        )
    page = authority.list_certificates(
        CertificateQuery(
            status=status,
            profile=profile,
            expiring_before=expiring_before,
            limit=min(limit, services.settings.max_page_size),
            cursor=cursor,
        )
    )
    record_decision(authority, action="api.list", actor=caller.actor)
    now = authority.now()
    return {
        "certificates": [CertificateOut.of(record, now) for record in page.records],
        "next_cursor": page.next_cursor,
    }


@router.get("/{serial}", response_model=CertificateOut, responses=errors(400, 401, 403, 404, 503))
def get_certificate(serial: SerialPath, caller: CallerDep, services: ServicesDep) -> dict[str, Any]:
    """One certificate by serial. Its own certificates any token may read; others need
    ``read``."""
    authority = services.authority
    record = find_certificate(authority.store, serial)
    if not caller.obtained(record):
        caller.require(Scope.READ, action="read certificates other tokens obtained")
    record_decision(authority, action="api.read", actor=caller.actor, serial=record.serial)
    return CertificateOut.of(record, authority.now())


@router.post(
    "/{serial}/revoke",
    response_model=RevokedOut,
    responses=errors(400, 401, 403, 404, 409, 413, 415, 503),
)
def revoke_certificate(
    serial: SerialPath,
    caller: CallerDep,
    services: ServicesDep,
    crl_cache: CrlCacheDep,
    background: BackgroundTasks,
    body: Annotated[RevokeRequest | None, Body()] = None,
) -> dict[str, Any]:
    """Revoke a certificate. Its own certificates any token may revoke; others need
    ``revoke`` and names inside the token's policy. When the CA feeds ALB trust stores,
    the new CRL is then swapped into them (``trust_store_sync`` says how that went)."""
    authority = services.authority
    reason = RevocationReason.parse((body or RevokeRequest()).reason)
    record = find_certificate(authority.store, serial)
    if not caller.obtained(record):
        caller.require(Scope.REVOKE, action="revoke certificates other tokens obtained")
        caller.policy.check(
            RequestedNames.of(
                common_name=record.common_name,
                dns_names=record.dns_names,
                ip_addresses=record.ip_addresses,
            )
        )
    revoked = revoke_and_sync(
        authority,
        record.serial,
        reason,
        actor=caller.actor,
        sync=services.trust_store_sync,
        run_later=background.add_task,
    )
    crl_cache.invalidate()
    return {**CertificateOut.of(revoked.record, authority.now()), "trust_store_sync": revoked.sync}
