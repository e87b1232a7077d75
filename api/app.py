"""``create_app(services)``: the FastAPI application, given everything it needs."""

from __future__ import annotations

import functools
from collections.abc import Callable

from fastapi import FastAPI
from starlette.types import ASGIApp

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


class _IssuingPathFirst(FastAPI):
    """FastAPI with the issuing route's lean path ahead of its whole middleware stack.

    ``add_middleware`` places a middleware inside the three layers FastAPI (0.165) always
    puts first (Starlette's ``ServerErrorMiddleware``, its exception telemetry and its body
    limit), and each of them wraps ``send`` or the call for every request. The lean path
    has its own equivalents (``CatchUnexpected``, ``BodyGuard``), so it goes in front of
    them; ``Starlette.__call__`` still sets ``scope["app"]`` first.
    """

    front: Callable[[ASGIApp], ASGIApp]

    def build_middleware_stack(self) -> ASGIApp:
        return self.front(super().build_middleware_stack())


def create_app(services: ApiServices) -> FastAPI:
    app = _IssuingPathFirst(
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
    # Outermost: the issuing route's lean path (it has its own CatchUnexpected and
    # BodyGuard), ahead of the middleware layers and routing everything else goes through.
    app.front = functools.partial(
        FastIssuePath,
        services=services,
        max_body_bytes=services.settings.max_body_bytes,
        body_timeout_seconds=services.settings.body_timeout.total_seconds(),
    )
    return app
