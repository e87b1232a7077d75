"""Limits on slow and idle clients for ``albca serve`` (uvicorn), issue 12 point 8.

uvicorn (0.55) bounds a kept-alive connection between requests (``timeout_keep_alive``),
the size of a request's headers (``h11_max_incomplete_event_size``) and the connections it
takes (``limit_concurrency``: beyond it, 503), but never the time a client takes to send a
request's headers: a connection that sends nothing, or half a header line, is held
forever, and 1,100 of them made the server refuse real requests. ``TimedH11Protocol``
adds that deadline (nginx's ``client_header_timeout``, Apache's ``mod_reqtimeout``): the
headers must be in within ``header_timeout`` seconds of the connection, or of the first
byte of the next request on a kept-alive one, or the connection is closed. The time to
send a body once the headers are in is bounded by the application (``api.body_guard``:
408). A TLS handshake is bounded by asyncio's ``ssl_handshake_timeout`` (60 s).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["TimedH11Protocol", "uvicorn_limits"]


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with a deadline for each request's headers."""

    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout = header_timeout
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            self._disarm()
        elif self.conn.their_state is h11.IDLE:
            # Bytes of a request whose headers are not complete yet: start the clock if
            # it is not running (a kept-alive connection's next request starts it here).
            if self._header_timer is None:
                self._arm()
        else:
            self._disarm()  # the headers are in

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self._header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            # No response: the client has not sent a request one could answer (nginx
            # closes the same way when client_header_timeout expires).
            self.transport.close()


def uvicorn_limits(
    *,
    header_timeout: float,
    keep_alive: int,
    limit_concurrency: int,
    max_header_bytes: int,
) -> dict[str, Any]:
    """The ``uvicorn.Config`` arguments that put these limits in place."""
    return {
        # A partial of a module-level class: it pickles, so spawned workers get it too.
        "http": functools.partial(TimedH11Protocol, header_timeout=header_timeout),
        "timeout_keep_alive": keep_alive,
        "limit_concurrency": limit_concurrency,
        "h11_max_incomplete_event_size": max_header_bytes,
    }
