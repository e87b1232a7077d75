"""The last line of defence: an unexpected exception becomes a 500 JSON error here.

Not Starlette's ServerErrorMiddleware, which re-raises so that the server logs the
exception with its message, and a message can quote a request (a name, a body, a token).
Here the log gets the exception's type and the stack frames, never its message.
"""

from __future__ import annotations

import logging
import traceback

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CatchUnexpected"]

log = logging.getLogger("albca.api")


class CatchUnexpected:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.error(
                "unexpected %s on %s %s (message withheld: it may quote the request)\n%s",
                type(exc).__name__,
                scope.get("method"),
                scope.get("path"),
                frames,
            )
            if started:
                return
            response = JSONResponse(
                {"error": {"code": "internal_error", "message": "internal error", "field": None}},
                status_code=500,
            )
            await response(scope, receive, send)
