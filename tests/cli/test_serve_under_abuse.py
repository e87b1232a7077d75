"""``albca serve`` as a real subprocess on 127.0.0.1 under slow clients, and the way a
prompted passphrase reaches its workers (issue 12, points 8 and 9)."""

from __future__ import annotations

import os
import pty
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.cli.test_token_and_serve import free_port

ALBCA = [str(Path(sys.executable).with_name("albca"))]
PASSPHRASE = "prompted-passphrase-7f3a9c1e"
# Every wait below is a bound on a test that would otherwise hang, never a measurement.
BOUND = 30.0


@pytest.fixture
def home_env(tmp_path):
    environment = {key: value for key, value in os.environ.items() if not key.startswith("ALBCA_")}
    environment |= {"ALBCA_HOME": str(tmp_path / "home"), "ALBCA_SQLITE_SYNCHRONOUS": "normal"}
    subprocess.run(
        [*ALBCA, "init"],
        env={**environment, "ALBCA_KEY_PASSPHRASE": PASSPHRASE},
        check=True,
        capture_output=True,
        timeout=60,
    )
    return environment


def _start(environment, *args, **popen):
    port = free_port()
    server = subprocess.Popen(
        [*ALBCA, "serve", "--port", str(port), *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        **popen,
    )
    return server, port


def _wait_until_up(server, port):
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(server.stdout.read().decode())
        try:
            return httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=5)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("albca serve did not answer")


def _stop(server):
    server.terminate()
    return server.communicate(timeout=BOUND)[0].decode()


def _closed_by_server(sock: socket.socket, deadline: float) -> bool:
    """Read until the server closes the connection, or the bound is reached."""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            return False
        try:
            if sock.recv(4096) == b"":
                return True
        except ConnectionResetError:
            return True
    return False


def test_slow_and_idle_clients_are_cut_off_and_real_requests_still_answer(home_env):
    env = {**home_env, "ALBCA_KEY_PASSPHRASE": PASSPHRASE}
    server, port = _start(env, "--header-timeout", "1", "--body-timeout", "1")
    slow: list[socket.socket] = []
    try:
        _wait_until_up(server, port)
        for index in range(50):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if index % 2:  # slowloris: half a request, never finished
                sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            slow.append(sock)
        # While they hold their connections, a real request is answered.
        assert httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=10).status_code == 200
        # A body that never arrives: 408 once the headers are in.
        body = socket.create_connection(("127.0.0.1", port), timeout=BOUND)
        body.sendall(
            b"POST /v1/certificates HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"profile"'
        )
        answer = b""
        while chunk := body.recv(4096):  # to the end: the server closes this connection
            answer += chunk
        body.close()
        deadline = time.monotonic() + BOUND
        cut_off = sum(_closed_by_server(sock, deadline) for sock in slow)
    finally:
        for sock in slow:
            sock.close()
        output = _stop(server)
    assert cut_off == 50, output
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b'"code":"request_timeout"' in answer


def test_the_concurrency_limit_answers_503_beyond_it(home_env):
    env = {**home_env, "ALBCA_KEY_PASSPHRASE": PASSPHRASE}
    server, port = _start(env, "--limit-concurrency", "3", "--header-timeout", "60")
    held: list[socket.socket] = []
    try:
        _wait_until_up(server, port)
        # Connected (by the kernel) before the request below, so accepted before it: the
        # listening socket's queue is first in, first out.
        held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
        refused = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=10)
    finally:
        for sock in held:
            sock.close()
        _stop(server)
    assert refused.status_code == 503


def _descendants(pid: int) -> set[int]:
    children: dict[int, set[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, set()).add(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), set()) - found:
            found.add(child)
            todo.append(child)
    return found


def test_a_prompted_passphrase_reaches_no_workers_environment(home_env, tmp_path):
    # Before: serve --workers N put it in ALBCA_KEY_PASSPHRASE for the workers to inherit.
    master, terminal = pty.openpty()
    server, port = _start(
        home_env,
        "--workers",
        "2",
        stdin=terminal,
        start_new_session=True,  # no controlling terminal: getpass prompts on stdin
    )
    os.close(terminal)
    try:
        prompt = b""
        deadline = time.monotonic() + BOUND
        while b"passphrase:" not in prompt and time.monotonic() < deadline:
            ready, _, _ = select.select([server.stdout], [], [], 1)
            if ready:
                prompt += os.read(server.stdout.fileno(), 1024)
        assert b"CA key passphrase:" in prompt, prompt
        os.write(master, PASSPHRASE.encode() + b"\n")
        assert _wait_until_up(server, port).status_code == 200
        token = subprocess.run(
            [*ALBCA, "token", "create", "t", "--profile", "client", "--names", "*.svc.internal",
             "--json"],
            env={**home_env, "ALBCA_KEY_PASSPHRASE": PASSPHRASE},
            capture_output=True, text=True, check=True, timeout=60,
        ).stdout  # fmt: skip
        secret = token.split('"token": "')[1].split('"')[0]
        processes = _descendants(server.pid) | {server.pid}
        environments = {pid: Path(f"/proc/{pid}/environ").read_bytes() for pid in processes}
        # The workers still sign: each request goes to one of them.
        for index in range(4):
            issued = httpx.post(
                f"http://127.0.0.1:{port}/v1/certificates/generate",
                json={"profile": "client", "common_name": f"w{index}.svc.internal"},
                headers={"Authorization": f"Bearer {secret}"},
                timeout=30,
            )
            assert issued.status_code == 201, issued.text
    finally:
        _stop(server)
        os.close(master)
    assert len(processes) >= 3  # the supervisor and two workers (and any helpers)
    leaked = [pid for pid, environ in environments.items() if PASSPHRASE.encode() in environ]
    assert leaked == []


def _answer_to(sock: socket.socket) -> bytes:
    """Everything the server sends before it closes the connection."""
    answer = b""
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            break
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            break
        if not chunk:
            break
        answer += chunk
    return answer


def test_headers_over_the_limit_get_431_however_they_arrive(home_env):
    env = {**home_env, "ALBCA_KEY_PASSPHRASE": PASSPHRASE, "ALBCA_API_MAX_HEADER_BYTES": "2048"}
    server, port = _start(env, "--header-timeout", "60")
    head = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    try:
        _wait_until_up(server, port)
        # Under the limit: answered.
        fits = httpx.get(
            f"http://127.0.0.1:{port}/v1/health", headers={"X-Fill": "f" * 1500}, timeout=10
        )
        # Over it, in one piece (one read on the server's side).
        at_once = socket.create_connection(("127.0.0.1", port), timeout=BOUND)
        at_once.sendall(head + b"X-Fill: " + b"f" * 3000 + b"\r\n\r\n")
        whole = _answer_to(at_once)
        at_once.close()
        # Over it, a header that never ends, sent a little at a time: refused once the
        # bytes received pass the limit, long before the header deadline.
        trickle = socket.create_connection(("127.0.0.1", port), timeout=BOUND)
        trickle.sendall(head + b"X-Endless: ")
        sent = 0
        while sent < 64 * 1024 and not select.select([trickle], [], [], 0.02)[0]:
            trickle.sendall(b"e" * 256)
            sent += 256
        endless = _answer_to(trickle)
        trickle.close()
    finally:
        output = _stop(server)
    assert fits.status_code == 200, output
    assert whole.startswith(b"HTTP/1.1 431 "), whole
    assert endless.startswith(b"HTTP/1.1 431 "), endless
    assert sent < 8 * 1024  # the server answered soon after 2 KiB, not at the end


def test_the_next_request_on_a_kept_alive_connection_has_the_header_deadline(home_env):
    env = {**home_env, "ALBCA_KEY_PASSPHRASE": PASSPHRASE}
    server, port = _start(env, "--header-timeout", "1", "--keep-alive-timeout", "60")
    try:
        _wait_until_up(server, port)
        sock = socket.create_connection(("127.0.0.1", port), timeout=BOUND)
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = b""
        while b'"status":"ok"' not in first:
            first += sock.recv(4096)
        # Kept alive (well within its 60 s); then half of a second request, never finished.
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        closed = _closed_by_server(sock, time.monotonic() + BOUND)
        sock.close()
    finally:
        output = _stop(server)
    assert first.startswith(b"HTTP/1.1 200 "), output
    assert closed, output


def test_100_continue_is_sent_before_the_body_and_the_answer_after_it(home_env):
    # Each answer leaves in one send (albca.http_limits holds its head until its body);
    # an interim 100 Continue must not be held: the client waits for it to send the body.
    env = {**home_env, "ALBCA_KEY_PASSPHRASE": PASSPHRASE}
    server, port = _start(env)
    try:
        _wait_until_up(server, port)
        sock = socket.create_connection(("127.0.0.1", port), timeout=BOUND)
        sock.sendall(
            b"POST /v1/certificates HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 2\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        interim = sock.recv(4096)
        sock.sendall(b"{}")
        final = b""
        while b'"field"' not in final:
            final += sock.recv(4096)
        head = httpx.head(f"http://127.0.0.1:{port}/v1/health", timeout=10)
        sock.close()
    finally:
        output = _stop(server)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n", output
    assert final.startswith(b"HTTP/1.1 401 "), final
    assert b'"code":"missing_credential"' in final
    # A head with no body after it still leaves, when the answer is complete.
    assert head.status_code == 405
    assert head.headers["allow"] == "GET"
