"""Limits on slow and idle clients for ``albca serve`` (uvicorn), issue 12 point 8, on
uvicorn's httptools protocol (issue 17).

uvicorn (0.55) bounds a kept-alive connection between requests (``timeout_keep_alive``)
and the connections it takes (``limit_concurrency``: beyond it, 503), but never the time
a client takes to send a request's headers: a connection that sends nothing, or half a
header line, is held forever, and 1,100 of them made the server refuse real requests.
Its httptools protocol does not bound the size of the headers either: httptools
(0.9, ``parser.pyx``) joins the pieces of a header field into one bytes object however
long it grows, so one endless header is held in memory whole (uvicorn's h11 protocol has
``h11_max_incomplete_event_size``; llhttp leaves the limit to its caller, as Node's
``--max-http-header-size`` does).

``TimedHttpToolsProtocol`` adds both:

- the headers must be in within ``header_timeout`` seconds of the connection, or of the
  first byte of the next request on a kept-alive one, or the connection is closed (nginx's
  ``client_header_timeout``, Apache's ``mod_reqtimeout``);
- a request line and headers longer than ``max_header_bytes`` get 431 (RFC 6585 section
  5) and the connection is closed: counted from the bytes received while they are
  incomplete (so memory stays bounded), and from the parsed fields once they are complete
  (so a request that arrives in one read is held to the same limit).

The time to send a body once the headers are in is bounded by the application
(``api.body_guard``: 408). A TLS handshake is bounded by asyncio's
``ssl_handshake_timeout`` (60 s).

Why httptools rather than h11: uvicorn's h11 protocol cost about 250 us of CPU per
request in ``albca serve`` (``bench/api_cpu_layers.py``), a fifth of all of it; httptools
parses in C (llhttp, Node's parser). For the same reason each answer leaves in one send
(``_AnswerInOneSend``): uvicorn writes the status line and headers, then the body, and
each write is a system call that hands the bytes to the client there and then (uvloop
writes at once when nothing is queued) - the two sends of an issued certificate took
about 190 us of 1,130 here.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["TimedHttpToolsProtocol", "uvicorn_limits"]

_TOO_LARGE_BODY = b"Request header fields too large."
_TOO_LARGE = b"".join(
    [
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
        b"content-type: text/plain; charset=utf-8\r\n",
        b"content-length: %d\r\n" % len(_TOO_LARGE_BODY),
        b"connection: close\r\n\r\n",
        _TOO_LARGE_BODY,
    ]
)


async def _headers_too_large(scope: Any, receive: Any, send: Any) -> None:
    """The answer to a request whose complete headers are over the limit (an ASGI app, as
    uvicorn's own ``service_unavailable`` is for the concurrency limit)."""
    await send(
        {
            "type": "http.response.start",
            "status": 431,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", b"%d" % len(_TOO_LARGE_BODY)),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _TOO_LARGE_BODY, "more_body": False})


class _AnswerInOneSend(asyncio.Transport):
    """The transport one request's cycle writes through: it holds the answer's status line
    and headers until the first write of its body, and sends them together.

    An interim answer (``100 Continue``, which the client waits for before it sends the
    body) goes at once. A head with no body write after it (HEAD, 204, 304) goes when the
    cycle completes (``TimedHttpToolsProtocol._answered``) or the connection closes.
    """

    def __init__(self, transport: asyncio.Transport) -> None:
        super().__init__()
        self._transport = transport
        self._head: bytes | None = None
        self._head_seen = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._head is not None:
            data, self._head = self._head + bytes(data), None
        elif not self._head_seen and bytes(data[:10]) != b"HTTP/1.1 1":
            # The cycle's first write of a final answer is its status line and headers.
            self._head_seen = True
            self._head = bytes(data)
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()


class TimedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline and a size limit for each request's
    headers."""

    def __init__(
        self, *args: Any, header_timeout: float, max_header_bytes: int, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout = header_timeout
        self._max_header_bytes = max_header_bytes
        # When the headers being received must be complete; None while none are due. The
        # timer is not moved for every request of a kept-alive connection (a timer set and
        # cancelled per request cost more than the rest of this class): when it fires
        # before the current deadline, it is set again for that deadline.
        self._head_deadline: float | None = None
        self._header_timer: asyncio.TimerHandle | None = None
        # True while the next request's headers are not complete: from the connection, and
        # again from the end of each request. Bytes received meanwhile count toward the
        # limit (the rest of a read that ended the previous request does not: the next
        # read's does, so the excess is at most one read).
        self._in_head = True
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if (
            self._in_head
            and self._head_bytes > self._max_header_bytes
            and not self.transport.is_closing()
        ):
            self._disarm()
            if self.cycle is None or self.cycle.response_complete:
                # (Behind a response still to come, the connection just closes: an answer
                # now would be read as that response.)
                self.transport.write(_TOO_LARGE)
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    # Parser callbacks (httptools calls them from ``data_received``).
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_deadline is None:
            # The first byte of a kept-alive connection's next request starts its clock.
            self._arm()

    def on_headers_complete(self) -> None:
        self._head_deadline = None  # (the timer, if it fires meanwhile, finds none due)
        self._in_head = False
        before = self.cycle
        if self._received_head_size() <= self._max_header_bytes:
            super().on_headers_complete()
        else:
            # Answered through uvicorn's own request cycle, like its concurrency limit's
            # 503, so that a body after these headers is read and dropped, never parsed as
            # a request.
            app, self.app = self.app, _headers_too_large
            try:
                super().on_headers_complete()
            finally:
                self.app = app
        cycle = self.cycle
        if cycle is not before:  # a request cycle was made (not a WebSocket upgrade)
            # Its task has been created and not yet run: nothing has been written.
            held = _AnswerInOneSend(self.transport)
            cycle.transport = held
            cycle.on_response = functools.partial(self._answered, held)

    def _answered(self, held: _AnswerInOneSend) -> None:
        held.flush()
        self.on_response_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0

    def _received_head_size(self) -> int:
        # "METHOD URL HTTP/1.1\r\n", then "name: value\r\n" per field, then "\r\n".
        method = self.parser.get_method()
        fields = sum(len(name) + len(value) + 4 for name, value in self.headers)
        return len(method) + len(self.url) + 12 + fields + 2

    def _arm(self) -> None:
        self._head_deadline = self.loop.time() + self._header_timeout
        if self._header_timer is None:
            self._header_timer = self.loop.call_at(self._head_deadline, self._headers_due)

    def _disarm(self) -> None:
        self._head_deadline = None
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_due(self) -> None:
        self._header_timer = None
        deadline = self._head_deadline
        if deadline is None:
            return  # no headers due; the next request's first byte sets the timer again
        if self.loop.time() < deadline:
            # Set for an earlier request's deadline: these headers have until their own.
            self._header_timer = self.loop.call_at(deadline, self._headers_due)
            return
        self._head_deadline = None
        if self._in_head and not self.transport.is_closing():
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
        "http": functools.partial(
            TimedHttpToolsProtocol,
            header_timeout=header_timeout,
            max_header_bytes=max_header_bytes,
        ),
        "timeout_keep_alive": keep_alive,
        "limit_concurrency": limit_concurrency,
    }
