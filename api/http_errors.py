"""One handler turns every error into ``{"error": {"code", "message", "field"}}``.

CAErrors get their status from ``api.errors.STATUS``. FastAPI's own refusals (a body that
fails validation, an unknown path, a wrong method) are first turned into CAErrors, so that
they go through the same table. Refusals of authenticated operations are written to the
audit trail; logs get the code and the route, never a body or a token.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import State
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from albca.api.audit import UnauthenticatedRefusals, record_refusal
from albca.api.errors import (
    ApiRequestError,
    AuthenticationError,
    MethodNotAllowed,
    RouteNotFound,
    field_of,
    status_of,
)
from albca.api.services import ApiServices
from albca.ca.errors import CAError, InvalidRequest
from albca.ca.records import parse_serial

__all__ = ["error_response", "install_error_handlers", "invalid_request", "refusal_response"]

log = logging.getLogger("albca.api")

# Operations that need a credential: their refusals are decisions, and are audited.
_AUDITED_PREFIX = "/v1/certificates"


def error_response(error: CAError) -> JSONResponse:
    status = status_of(error)
    if status is None:
        log.error("no HTTP status for %s; answering 500", type(error).__name__)
        status = 500
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, AuthenticationError) else None
    return JSONResponse(
        {"error": {"code": error.code, "message": error.message, "field": field_of(error)}},
        status_code=status,
        headers=headers,
    )


def _serial_in_path(request: Request) -> int | None:
    text = request.path_params.get("serial")
    if not isinstance(text, str):
        return None
    try:
        return parse_serial(text)
    except CAError:
        return None


async def _handle_ca_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, CAError)
    return await refusal_response(
        request.app.state,
        actor=getattr(request.state, "actor", "unauthenticated"),
        route=f"{request.method} {request.url.path}",
        error=error,
        serial=_serial_in_path(request),
    )


async def refusal_response(
    app_state: State, *, actor: str, route: str, error: CAError, serial: int | None
) -> JSONResponse:
    """The answer to a refused request, after recording the refusal: counted when no
    credential was proved, else logged and (for certificate operations) audited. The one
    path every refusal takes, FastAPI's routes and ``api.fast_issue`` alike.

    The audit row is written on a thread of the loop's executor, not on the event loop:
    the write waits for the store's writers, and another process (``albca crl``, ``issue
    batch``) may hold them for seconds, during which a loop that waited would answer no
    one (issue 17). The answer still goes out only after the row is written."""
    if not _has_credential(actor):
        # Anyone can send these: counted and logged once a window, never one row each.
        refusals: UnauthenticatedRefusals = app_state.unauthenticated_refusals
        refusals.note(actor=actor, route=route, code=error.code)
        return error_response(error)
    log.info("refused %s: %s (actor %s)", route, error.code, actor)
    if route.split(" ", 1)[-1].startswith(_AUDITED_PREFIX):
        services: ApiServices = app_state.services
        await asyncio.to_thread(
            record_refusal, services.authority, actor=actor, route=route, error=error, serial=serial
        )
    return error_response(error)


def _has_credential(actor: str) -> bool:
    """Whether the request proved a credential: ``deps`` names it ``unauthenticated`` or
    ``token-id:<id>`` (a well-formed token string that did not authenticate) until then."""
    return actor != "unauthenticated" and not actor.startswith("token-id:")


async def _handle_validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    return await _handle_ca_error(request, invalid_request(error.errors()))


def invalid_request(errors: Sequence[Any]) -> InvalidRequest:
    """The first of pydantic's validation errors as an ``InvalidRequest`` naming its field."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    location = [str(part) for part in first.get("loc", ())]
    # ("body", "csr") -> "csr"; ("header", "idempotency-key") -> "idempotency-key".
    field = ".".join(location[1:]) or (location[0] if location else "body")
    # The message, never the offending input: pydantic's error dicts carry the input,
    # which may be a password or a key.
    message = f"{field}: {first.get('msg', 'invalid')}"
    return InvalidRequest(message, field=field)


async def _handle_http_exception(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    mapped: CAError
    if error.status_code == 404:
        mapped = RouteNotFound(f"no such path: {request.url.path}")
    elif error.status_code == 405:
        mapped = MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
    else:
        mapped = ApiRequestError(str(error.detail))
    response = await _handle_ca_error(request, mapped)
    if error.status_code == 405:
        # RFC 9110 section 15.5.6: a 405 response MUST carry Allow, listing the methods the
        # resource supports. Starlette's own header names only the first route that matched
        # the path, while GET and POST /v1/certificates are two routes: list them all.
        response.headers["Allow"] = _allowed_methods(request)
    if error.status_code not in (404, 405) and 400 <= error.status_code < 500:
        response.status_code = error.status_code
    return response


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """The methods some route answers on this path: each is tried against the routes, as
    the router itself matches them (FastAPI nests included routers)."""
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CAError, _handle_ca_error)
    app.add_exception_handler(RequestValidationError, _handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)
