"""Named dependencies: what a route asks for, and how it is looked up or checked."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.crl_cache import CrlCache
from api.errors import InvalidRenewalProof, MissingCredential
from api.idempotency import check_idempotency_key
from api.renewal import Holder, holder_from_alb_headers, holder_from_renewal_token
from api.services import ApiServices
from api.tokens import TOKEN_PREFIX, Caller, parse_bearer
from ca.authority import Authority

__all__ = [
    "ServicesDep",
    "AuthorityDep",
    "CrlCacheDep",
    "CallerDep",
    "HolderDep",
    "IdempotencyKeyDep",
]


def get_services(request: Request) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


ServicesDep = Annotated[ApiServices, Depends(get_services)]


def get_authority(services: ServicesDep) -> Authority:
    return services.authority


AuthorityDep = Annotated[Authority, Depends(get_authority)]


def get_crl_cache(request: Request) -> CrlCache:
    cache: CrlCache = request.app.state.crl_cache
    return cache


CrlCacheDep = Annotated[CrlCache, Depends(get_crl_cache)]

_api_token = HTTPBearer(
    scheme_name="ApiToken",
    description="An API token from `albca token create` (albca_<id>_<secret>).",
    auto_error=False,
)
_renewal_token = HTTPBearer(
    scheme_name="RenewalToken",
    description="A JWS signed with the key of the certificate being renewed, carrying it in "
    "its x5c header, with aud, iat, exp (at most 5 minutes later) and a one-time jti.",
    auto_error=False,
)


def current_caller(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_api_token)],
) -> Caller:
    """The API token's caller. The audit trail names refusals by what is known so far:
    nothing, the token's id (from its public part), or its name."""
    request.state.actor = "unauthenticated"
    if credentials is None:
        raise MissingCredential("Authorization: send `Authorization: Bearer <API token>`")
    token_id = parse_bearer(credentials.credentials)
    request.state.actor = f"token-id:{token_id}"
    token = services.tokens.find(token_id)
    caller = Caller.authenticate(token, credentials.credentials, services.authority.now())
    request.state.actor = caller.actor
    return caller


CallerDep = Annotated[Caller, Depends(current_caller)]


def current_holder(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_renewal_token)],
) -> Holder:
    """Whoever proved possession of a certificate of this CA, by ALB header or token."""
    request.state.actor = "unauthenticated"
    holder = holder_from_alb_headers(request.headers, services.settings, services.authority)
    if holder is None:
        if credentials is None:
            raise MissingCredential(
                "Authorization: renewal needs proof of possession: a renewal token "
                "(`Authorization: Bearer <JWS with x5c>`) or an ALB mTLS listener"
            )
        if credentials.credentials.startswith(TOKEN_PREFIX):
            raise InvalidRenewalProof(
                "Authorization: an API token cannot prove possession of a certificate; use "
                "POST /v1/certificates/{serial}/renew with a token that has the renew scope"
            )
        holder = holder_from_renewal_token(
            credentials.credentials, services.settings, services.authority
        )
    request.state.actor = holder.actor
    return holder


HolderDep = Annotated[Holder, Depends(current_holder)]


def idempotency_key(
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
