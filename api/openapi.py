"""The OpenAPI document, with the API's two kinds of credential declared on the operations
that need them, summaries written for people, and the errors the server really sends.

The dependencies that authenticate (``current_caller``, ``current_holder``) read the
``Authorization`` header themselves instead of through FastAPI's ``HTTPBearer``: each
dependency node costs CPU on every request, and issuance is the hot path. So the security
requirements are written into the document here, from the dependency tree of each route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from albca.api.deps import current_caller, current_holder

__all__ = ["install_openapi"]

_SCHEMES: dict[str, dict[str, Any]] = {
    "ApiToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token from `albca token create` (albca_<id>_<secret>).",
    },
    "RenewalToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "A JWS signed with the key of the certificate being renewed, carrying "
        "it in its x5c header, with aud, iat, exp (at most 5 minutes later) and a one-time "
        "jti. Behind an ALB in mTLS verify mode, the listener's client certificate headers "
        "prove possession instead.",
    },
}
_SCHEME_OF: dict[Callable[..., Any], str] = {
    current_caller: "ApiToken",
    current_holder: "RenewalToken",
}


# The summary of each operation, by route name (FastAPI would title-case the function name:
# "Crl Pem"). The route name is also the operationId: short and stable for clients.
SUMMARIES: dict[str, str] = {
    "health": "Check that the API has its issuing CA",
    "bundle": "Download the CA bundle (PEM)",
    "crl_pem": "Download the current CRL (PEM)",
    "crl_der": "Download the current CRL (DER)",
    "issue_from_csr": "Issue a certificate for a CSR",
    "issue_with_new_key": "Issue a certificate with a key the CA generates",
    "list_certificates": "List certificates",
    "get_certificate": "Read a certificate by serial",
    "revoke_certificate": "Revoke a certificate",
    "renew_as_holder": "Renew a certificate, proving possession of its key",
    "renew_with_token": "Renew a certificate by serial, with an API token",
}

# FastAPI documents a request that fails validation as 422 HTTPValidationError; this API
# turns it into an InvalidRequest, answered 400 with albca's error body
# (api.http_errors._handle_validation_error).
_VALIDATION_ERROR_REF = "#/components/schemas/HTTPValidationError"


def _honest_errors(operation: dict[str, Any]) -> None:
    responses = operation["responses"]
    refused = responses.get("422", {}).get("content", {}).get("application/json", {})
    if refused.get("schema", {}).get("$ref") != _VALIDATION_ERROR_REF:
        return  # a 422 of albca's own (an Idempotency-Key reused), or none
    del responses["422"]
    responses.setdefault(
        "400",
        {
            "description": "Malformed request (the error names the field)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
        },
    )


def _schemes_used(dependant: Dependant) -> set[str]:
    found = {_SCHEME_OF[dependant.call]} if dependant.call in _SCHEME_OF else set()
    for child in dependant.dependencies:
        found |= _schemes_used(child)
    return found


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        document.setdefault("components", {})["securitySchemes"] = _SCHEMES
        # Routes of included routers are reached the way get_openapi reaches them.
        for route in iter_route_contexts(app.routes):
            if not isinstance(route.original_route, APIRoute):
                continue
            if not route.original_route.include_in_schema:
                continue  # the pages of api.pages
            if route.path_format is None:
                continue
            schemes = sorted(_schemes_used(route.original_route.dependant))
            for method in route.methods or ():
                operation = document["paths"][route.path_format][method.lower()]
                operation["operationId"] = route.original_route.name
                operation["summary"] = SUMMARIES[route.original_route.name]
                _honest_errors(operation)
                if schemes:
                    operation["security"] = [{scheme: []} for scheme in schemes]
        schemas = document["components"].get("schemas", {})
        if _VALIDATION_ERROR_REF.rsplit("/", 1)[1] not in str(document["paths"]):
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
