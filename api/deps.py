"""Named dependencies: what a route asks for, and how it is looked up or checked.

They are ``async def`` although they do not await: FastAPI runs a plain ``def`` dependency
in its thread pool, one hand-off per dependency per request, which cost more CPU than the
work they do (a dictionary look-up, one indexed SQLite read). For the same reason the
authenticating ones read ``Authorization`` themselves rather than through ``HTTPBearer``
and sub-dependencies; ``api/openapi.py`` declares their security schemes in the document.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request

from albca.api.crl_cache import CrlCache
from albca.api.errors import InvalidRenewalProof, MissingCredential
from albca.api.idempotency import check_idempotency_key
from albca.api.renewal import Holder, holder_from_alb_headers, holder_from_renewal_token
from albca.api.services import ApiServices
from albca.api.tokens import TOKEN_PREFIX, Caller, parse_bearer
from albca.ca.authority import Authority

__all__ = [
    "ServicesDep",
    "AuthorityDep",
    "CrlCacheDep",
    "CallerDep",
    "HolderDep",
    "IdempotencyKeyDep",
    "authenticate",
]


async def get_services(request: Request) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


ServicesDep = Annotated[ApiServices, Depends(get_services)]


async def get_authority(services: ServicesDep) -> Authority:
    return services.authority


AuthorityDep = Annotated[Authority, Depends(get_authority)]


async def get_crl_cache(request: Request) -> CrlCache:
    cache: CrlCache = request.app.state.crl_cache
    return cache


CrlCacheDep = Annotated[CrlCache, Depends(get_crl_cache)]


async def current_caller(request: Request) -> Caller:
    return authenticate(
        request.app.state.services, request.headers.get("authorization", ""), request.state
    )


def authenticate(services: ApiServices, authorization: str, state: Any) -> Caller:
    """The API token's caller. The audit trail names refusals by what is known so far
    (``state.actor``): nothing, the token's id (from its public part), or its name."""
    state.actor = "unauthenticated"
    credentials = _bearer(authorization)
    if credentials is None:
        raise MissingCredential("Authorization: send `Authorization: Bearer <API token>`")
    token_id = parse_bearer(credentials)
    state.actor = f"token-id:{token_id}"
    token = services.tokens.find(token_id)
    caller = Caller.authenticate(token, credentials, services.authority.now())
    state.actor = caller.actor
    return caller


CallerDep = Annotated[Caller, Depends(current_caller)]


def _bearer(authorization: str) -> str | None:
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        return None
    return credentials.strip()


async def current_holder(request: Request) -> Holder:
    """Whoever proved possession of a certificate of this CA, by ALB header or token."""
    services: ApiServices = request.app.state.services
    request.state.actor = "unauthenticated"
    holder = holder_from_alb_headers(request.headers, services.settings, services.authority)
    if holder is None:
        credentials = _bearer(request.headers.get("authorization", ""))
        if credentials is None:
            raise MissingCredential(
                "Authorization: renewal needs proof of possession: a renewal token "
                "(`Authorization: Bearer <JWS with x5c>`) or an ALB mTLS listener"
            )
        if credentials.startswith(TOKEN_PREFIX):
            raise InvalidRenewalProof(
                "Authorization: an API token cannot prove possession of a certificate; use "
                "POST /v1/certificates/{serial}/renew with a token that has the renew scope"
            )
        holder = holder_from_renewal_token(credentials, services.settings, services.authority)
    request.state.actor = holder.actor
    return holder


HolderDep = Annotated[Holder, Depends(current_holder)]


async def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Retrying with the same key (and the same token and body) returns "
            "the same certificate instead of issuing another. Remembered for 24 hours.",
        ),
    ] = None,
) -> str | None:
    return check_idempotency_key(key)


IdempotencyKeyDep = Annotated[str | None, Depends(idempotency_key)]
