"""The header deadline of ``albca.http_limits.TimedHttpToolsProtocol`` on a loop whose
clock the test moves (no sockets, no sleeping).

The timer is not moved for every request of a kept-alive connection: one set for an
earlier deadline must, when it fires, give the headers in progress until their own
deadline, and close the connection only once that has passed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn import Config
from uvicorn.server import ServerState

from albca.http_limits import TimedHttpToolsProtocol

HEADER_TIMEOUT = 1.0
REQUEST = b"GET /health HTTP/1.1\r\nHost: ca.test\r\n\r\n"


class MovedClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` is what the test says it is."""

    now = 0.0

    def time(self) -> float:
        return self.now

    def move_to(self, moment: float) -> None:
        self.now = moment
        for _ in range(5):  # run what is due, and the tasks it starts
            self.run_until_complete(asyncio.sleep(0))


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def write(self, data: Any) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
def loop():
    made = MovedClockLoop()
    yield made
    made.close()


def connect(loop: MovedClockLoop) -> tuple[TimedHttpToolsProtocol, RecordingTransport]:
    config = Config(app=ok, timeout_keep_alive=60, log_config=None)
    config.load()
    protocol = TimedHttpToolsProtocol(
        config=config,
        server_state=ServerState(),
        app_state={},
        _loop=loop,
        header_timeout=HEADER_TIMEOUT,
        max_header_bytes=8192,
    )
    transport = RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport


def test_headers_begun_before_an_earlier_deadline_have_until_their_own(loop):
    protocol, transport = connect(loop)  # the connection's deadline: 1.0
    loop.move_to(0.1)
    protocol.data_received(REQUEST)
    loop.move_to(0.2)
    assert transport.written.count(b"HTTP/1.1 200 ") == 1
    loop.move_to(0.9)
    protocol.data_received(REQUEST[:-2])  # the next request's headers, not yet complete
    loop.move_to(1.5)  # past the connection's deadline, within this request's (1.9)
    assert not transport.closed
    protocol.data_received(b"\r\n")
    loop.move_to(1.6)
    assert transport.written.count(b"HTTP/1.1 200 ") == 2
    assert not transport.closed


def test_headers_not_complete_by_their_deadline_close_the_connection(loop):
    protocol, transport = connect(loop)
    loop.move_to(0.1)
    protocol.data_received(REQUEST)
    loop.move_to(0.9)
    protocol.data_received(REQUEST[:-2])  # due by 1.9
    loop.move_to(1.8)
    assert not transport.closed
    loop.move_to(1.9)
    assert transport.closed


def test_an_idle_kept_alive_connection_is_not_cut_by_the_header_deadline(loop):
    protocol, transport = connect(loop)
    loop.move_to(0.1)
    protocol.data_received(REQUEST)
    loop.move_to(5.0)  # idle between requests: the keep-alive timeout's business (60 s)
    assert not transport.closed
    protocol.data_received(REQUEST[:-2])
    loop.move_to(5.0 + HEADER_TIMEOUT)
    assert transport.closed
