"""Request bodies: capped in size and required to be JSON, before any route reads them.

A pure ASGI middleware: it reads the body once (at most ``max_body_bytes``; requests here
are small, a CSR is at most 64 KiB), refuses with 413 or 415, and replays the body to the
application. It never logs a body.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from albca.api.errors import ApiRequestError, PayloadTooLarge, UnsupportedMediaType
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


class BodyGuard:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

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
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_body_bytes:
                await error_response(too_large)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
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
