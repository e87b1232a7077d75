"""``POST /v1/certificates`` on a lean path, ahead of FastAPI's routing and dependencies.

The issuing route is the one callers hit in volume. Through FastAPI each request paid for
the router, the middleware layers and the solving of its dependencies (about 0.4 ms of CPU
of 1.15 ms on this machine, issue 17), more than the CA's own checks and signing. Here it
is one ASGI handler that does exactly what the FastAPI route does, with the same parts:
``BodyGuard`` (size, time, JSON), ``deps.authenticate`` (the token, the actor the audit
trail names), the route's request model (pydantic, so the same refusals), the same
issuing function and response body, and ``http_errors.refusal_response`` for every
error, so the envelope and the refusal audit are the ones every other route gives. The
FastAPI route stays declared: it is what the OpenAPI document describes, and what any
request this path does not take (another method) meets.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from albca.api import issuing
from albca.api.audit import record_decision
from albca.api.body_guard import BodyGuard
from albca.api.deps import authenticate
from albca.api.http_errors import invalid_request, refusal_response
from albca.api.idempotency import check_idempotency_key
from albca.api.schemas import IssueFromCsrRequest
from albca.api.services import ApiServices
from albca.api.unexpected import CatchUnexpected
from albca.ca.errors import CAError

__all__ = ["FastIssuePath", "ISSUE_PATH"]

ISSUE_PATH = "/v1/certificates"
_ROUTE = f"POST {ISSUE_PATH}"


class _Actor:
    """Who the request is known to be so far (``deps.authenticate`` sets it)."""

    actor = "unauthenticated"


class FastIssuePath:
    """Takes ``POST /v1/certificates``; passes every other request to ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        services: ApiServices,
        max_body_bytes: int,
        body_timeout_seconds: float,
    ) -> None:
        self.app = app
        self.services = services
        self._lean = CatchUnexpected(
            BodyGuard(
                self._issue,
                max_body_bytes=max_body_bytes,
                body_timeout_seconds=body_timeout_seconds,
            )
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == ISSUE_PATH
            and scope.get("root_path", "") == ""
        ):
            await self._lean(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _issue(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = _Actor()
        try:
            response = await self._answer(scope, receive, state)
        except CAError as error:
            response = await refusal_response(
                scope["app"].state, actor=state.actor, route=_ROUTE, error=error, serial=None
            )
        await response(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, state: _Actor) -> Response:
        services = self.services
        headers = Headers(scope=scope)
        caller = authenticate(services, headers.get("authorization", ""), state)
        idempotency_key = check_idempotency_key(headers.get("idempotency-key"))
        body = await _whole_body(receive)
        try:
            request = IssueFromCsrRequest.model_validate_json(body or b"null")
        except ValidationError as exc:
            raise invalid_request(_in_body(exc.errors())) from None
        outcome = await issuing.issue_from_csr_async(
            services,
            caller,
            profile=request.profile,
            csr=request.csr,
            lifetime_seconds=request.lifetime_seconds,
            idempotency_key=idempotency_key,
        )
        extra = {"Cache-Control": "no-store"}
        if outcome.replayed:
            extra["Idempotent-Replayed"] = "true"
            # On a thread, as a refusal's row (``refusal_response``): the loop never waits
            # for the store's writers.
            await asyncio.to_thread(
                record_decision,
                services.authority,
                action="api.replay",
                actor=caller.actor,
                serial=outcome.issued.serial,
            )
        answer = issuing.issued_response(outcome.issued, services, pkcs12_password=None)
        return Response(_json(answer), 201, extra, media_type="application/json")


async def _whole_body(receive: Receive) -> bytes:
    # BodyGuard has read the whole body already and replays it as one message.
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _in_body(errors: list[Any]) -> list[Any]:
    """pydantic's errors placed where FastAPI places a body's: under ``body``, and a body
    that is not JSON at all named ``body`` (FastAPI: "JSON decode error")."""
    placed = []
    for error in errors:
        if error.get("type") == "json_invalid":
            placed.append({"loc": ("body",), "msg": "JSON decode error"})
        elif error.get("type") == "model_type" and not error.get("loc"):
            placed.append({"loc": ("body",), "msg": "Field required"})
        else:
            placed.append({"loc": ("body", *error.get("loc", ())), "msg": error.get("msg")})
    return placed


def _json(body: dict[str, Any]) -> bytes:
    # The bytes FastAPI's JSONResponse writes (UTF-8, no spaces) for this body of strings,
    # numbers, lists and nulls (tests/api/test_issue.py compares them), at about 1 us where
    # the json module took 35 us on this machine (issue 17). (The body has no floats:
    # orjson would write NaN as null where json refuses it.)
    return orjson.dumps(body)
