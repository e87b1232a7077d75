"""``create_app(services)``: the FastAPI application, given everything it needs."""

from __future__ import annotations

from fastapi import FastAPI

from albca.api.audit import UnauthenticatedRefusals
from albca.api.body_guard import BodyGuard
from albca.api.crl_cache import CrlCache
from albca.api.fast_issue import FastIssuePath
from albca.api.http_errors import install_error_handlers
from albca.api.openapi import install_openapi
from albca.api.pages import install_pages
from albca.api.routes import api_router
from albca.api.services import ApiServices
from albca.api.unexpected import CatchUnexpected

__all__ = ["create_app"]

_DESCRIPTION = """\
Request, renew and revoke certificates of an albca private CA.

Authenticate with `Authorization: Bearer <API token>` (from `albca token create`); renew
with proof of possession of the current certificate instead. Every error is
`{"error": {"code", "message", "field"}}`.
"""


def create_app(services: ApiServices) -> FastAPI:
    app = FastAPI(
        title="albca",
        version="1",
        description=_DESCRIPTION,
        docs_url=None,  # api.pages serves /docs and /redoc with local assets
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.services = services
    app.state.unauthenticated_refusals = UnauthenticatedRefusals()
    app.state.crl_cache = CrlCache(services.authority, refresh=services.settings.crl_refresh)
    app.include_router(api_router)
    install_error_handlers(app)
    install_openapi(app)
    install_pages(app)
    app.add_middleware(
        BodyGuard,
        max_body_bytes=services.settings.max_body_bytes,
        body_timeout_seconds=services.settings.body_timeout.total_seconds(),
    )
    app.add_middleware(CatchUnexpected)  # also guards BodyGuard
    # Outermost of ours: the issuing route's lean path (it has its own CatchUnexpected and
    # BodyGuard), ahead of the middleware layers and routing everything else goes through.
    app.add_middleware(
        FastIssuePath,
        services=services,
        max_body_bytes=services.settings.max_body_bytes,
        body_timeout_seconds=services.settings.body_timeout.total_seconds(),
    )
    return app
