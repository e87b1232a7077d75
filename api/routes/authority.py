"""``/v1/ca``: what relying parties download. Public: no credential needed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

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


@router.get(
    "/crl",
    response_class=Response,
    responses=_body(_PEM, "The current CRL (PEM)"),
)
def crl_pem(cache: CrlCacheDep) -> Response:
    """The current full CRL of the active issuing CA, PEM: what an ALB trust store loads."""
    return Response(cache.current().pem, media_type=_PEM)


@router.get(
    "/crl.der",
    response_class=Response,
    responses=_body("application/pkix-crl", "The current CRL (DER)"),
)
def crl_der(cache: CrlCacheDep) -> Response:
    """The same CRL in DER (RFC 5280 section 4.2.1.13 distribution points serve DER)."""
    return Response(cache.current().der, media_type="application/pkix-crl")
