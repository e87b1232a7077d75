"""``albca serve --workers N`` spreads keep-alive connections across its workers.

A real ``albca serve`` with 2 workers; 16 keep-alive connections each make a request; the
kernel's socket tables (/proc/net/tcp and each worker's /proc/PID/fd) tell which worker
holds the server end of each connection. With one listening socket shared by the workers,
one worker often took all of them under load (issue 17); with SO_REUSEPORT each worker
listens on a socket of its own (two listening sockets on the port) and the kernel hashes
connections across them. 16 connections all hashed to one of 2
workers happens with probability 2 x 2**-16.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli.test_token_and_serve import ALBCA, env, free_port  # noqa: F401 - fixture

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")

CONNECTIONS = 16


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            found += [int(child), *_children(int(child))]
    return found


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def _server_end_inodes(server_port: int, client_ports: set[int]) -> dict[int, int]:
    """client port -> inode of the server's end of that established connection."""
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        remote_port = int(fields[2].split(":")[1], 16)
        if local_port == server_port and remote_port in client_ports and fields[3] == "01":
            found[remote_port] = int(fields[9])
    return found


def _listening_sockets(port: int) -> int:
    return sum(
        1
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if int(line.split()[1].split(":")[1], 16) == port and line.split()[3] == "0A"
    )


def _get_health(sock: socket.socket) -> bytes:
    sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(4096)
        assert chunk, "the server closed a keep-alive connection"
        answer += chunk
    return answer


def serve_two_workers(environment: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """``albca serve --workers 2`` on ``port``, once both workers listen."""
    server = subprocess.Popen(
        [*ALBCA, "serve", "--port", str(port), "--workers", "2", "--no-access-log"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while len(_children(server.pid)) < 2 or not _answers(port):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise AssertionError("albca serve did not start 2 workers")
        time.sleep(0.2)
    time.sleep(1.0)  # both workers listening, not only the first one up
    return server


def test_two_workers_both_answer_keep_alive_connections(env):  # noqa: F811 - the fixture
    port = free_port()
    server = serve_two_workers(env, port)
    connections: list[socket.socket] = []
    try:
        # A listening socket per worker: the kernel, not a race between workers woken by
        # one shared socket, decides where each connection goes.
        assert _listening_sockets(port) == 2
        # All connections first, as a load generator opens them: the kernel completes
        # them before a worker accepts, and a worker that accepts from a shared socket
        # takes every one waiting (asyncio accepts up to its backlog per wake-up).
        connections += [
            socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(CONNECTIONS)
        ]
        for sock in connections:
            assert _get_health(sock).startswith(b"HTTP/1.1 200")
        client_ports = {sock.getsockname()[1] for sock in connections}
        server_ends = _server_end_inodes(port, client_ports)
        assert len(server_ends) == CONNECTIONS
        holders = {
            worker: len(_socket_inodes(worker) & set(server_ends.values()))
            for worker in _children(server.pid)
        }
        serving = [worker for worker, count in holders.items() if count]
        assert sum(holders.values()) == CONNECTIONS, holders
        assert len(serving) == 2, f"connections per worker: {holders}"
    finally:
        for sock in connections:
            sock.close()
        server.terminate()
        server.wait(timeout=30)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            return _get_health(sock).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
