"""The OpenAPI document, with the API's two kinds of credential declared on the operations
that need them.

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
            schemes = sorted(_schemes_used(route.original_route.dependant))
            if not schemes or route.path_format is None:
                continue
            for method in route.methods or ():
                operation = document["paths"][route.path_format][method.lower()]
                operation["security"] = [{scheme: []} for scheme in schemes]
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
