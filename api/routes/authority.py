"""``/v1/ca``: what relying parties download. Public: no credential needed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from albca.api.deps import AuthorityDep, CrlCacheDep
from albca.api.routes.responses import errors
from albca.trust_bundle.bundle import TrustBundle

router = APIRouter(prefix="/ca", tags=["ca"])

_PEM = "application/x-pem-file"


def _body(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {media_type: {}}, "description": description}} | errors(503)


@router.get(
    "/bundle",
    response_class=Response,
    responses=_body(_PEM, "Roots, then issuing CAs"),
)
def bundle(authority: AuthorityDep) -> Response:
    """The CA bundle as PEM: what an ALB trust store loads."""
    return Response(TrustBundle.of(authority.trusted_certificates()).pem, media_type=_PEM)


# After a rotation the previous issuing CA's certificates stay valid until they expire, and
# only its own CRL lists their revocations (RFC 5280 section 5: a CRL covers the
# certificates of its issuer).
IssuerQuery = Annotated[
    str | None,
    Query(
        pattern="^[0-9a-f]{40}$",
        description="Key id of an issuing CA relying parties trust (`albca ca status`); "
        "default: the active one.",
    ),
]


def _crl_body(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    return _body(media_type, description) | errors(400, 404)


@router.get(
    "/crl",
    response_class=Response,
    responses=_crl_body(_PEM, "The current CRL (PEM)"),
)
def crl_pem(cache: CrlCacheDep, issuer: IssuerQuery = None) -> Response:
    """The current full CRL of the active issuing CA (or of ``issuer``), PEM: what an ALB
    trust store loads."""
    return Response(cache.current(issuer).pem, media_type=_PEM)


@router.get(
    "/crl.der",
    response_class=Response,
    responses=_crl_body("application/pkix-crl", "The current CRL (DER)"),
)
def crl_der(cache: CrlCacheDep, issuer: IssuerQuery = None) -> Response:
    """The same CRL in DER (RFC 5280 section 4.2.1.13 distribution points serve DER)."""
    return Response(cache.current(issuer).der, media_type="application/pkix-crl")
