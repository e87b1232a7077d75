"""Request bodies: capped in size and time and required to be JSON, before any route
reads them.

A pure ASGI middleware: it reads the body once (at most ``max_body_bytes``; requests here
are small, a CSR is at most 64 KiB; within ``body_timeout_seconds`` of the headers),
refuses with 413, 408 or 415, and replays the body to the application. It never logs a
body. (The time to send the headers is bounded by the server: ``albca.http_limits``.)
"""

from __future__ import annotations

import asyncio

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from albca.api.errors import (
    ApiRequestError,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
)
from albca.api.http_errors import error_response

__all__ = ["BodyGuard"]

_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def _is_json(content_type: str | None) -> bool:
    if content_type is None:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


class _TooLarge(Exception):
    """The body went past ``max_body_bytes`` (answered with 413 by ``BodyGuard``)."""


async def _read_body(receive: Receive, max_body_bytes: int) -> bytes | None:
    """The whole body, or None on a disconnect; ``_TooLarge`` past ``max_body_bytes``."""
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > max_body_bytes:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class BodyGuard:
    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, body_timeout_seconds: float = 30.0
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_seconds = body_timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _METHODS_WITH_BODY:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        too_large = PayloadTooLarge(f"body: larger than {self.max_body_bytes} bytes", field="body")
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                bad = ApiRequestError("Content-Length: not a number", field="Content-Length")
                await error_response(bad)(scope, receive, send)
                return
            if int(declared) > self.max_body_bytes:
                await error_response(too_large)(scope, receive, send)
                return
        loop = asyncio.get_running_loop()
        try:
            # One deadline for the whole body (asyncio.timeout_at: no task per receive, as
            # asyncio.wait_for makes on Python 3.11).
            async with asyncio.timeout_at(loop.time() + self.body_timeout_seconds):
                body = await _read_body(receive, self.max_body_bytes)
        except TimeoutError:
            # RFC 9110 section 15.5.9: 408, and the server closes the connection (the
            # request was not read to its end, so the server cannot keep it alive).
            slow = RequestTimeout(
                f"body: not received within {self.body_timeout_seconds:g} seconds",
                field="body",
            )
            await error_response(slow)(scope, receive, send)
            return
        except _TooLarge:
            await error_response(too_large)(scope, receive, send)
            return
        if body is None:  # the client went away
            return
        if body and not _is_json(headers.get("content-type")):
            wrong = UnsupportedMediaType(
                "Content-Type: send the body as application/json", field="Content-Type"
            )
            await error_response(wrong)(scope, receive, send)
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
