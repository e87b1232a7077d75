"""Retries of one Idempotency-Key racing through ``albca serve --workers 2``: one
certificate, whichever worker and batch each retry lands in (issue 17: the key is claimed
in the transaction that commits the certificate, across processes by the store's write
lock). A real server, real worker processes, 16 connections opened before any request so
that the kernel spreads them across the workers (``test_serve_workers_spread``)."""

from __future__ import annotations

import http.client
import json
import sqlite3
import threading
from pathlib import Path

from tests.cli.test_serve_workers_spread import (
    _children,
    _server_end_inodes,
    _socket_inodes,
    serve_two_workers,
)
from tests.cli.test_token_and_serve import env, free_port, run  # noqa: F401 - fixture
from tests.factories import ec_key, make_csr

RETRIES = 16


def test_retries_of_one_key_across_two_workers_issue_one_certificate(env):  # noqa: F811
    token = json.loads(
        run(env, "token", "create", "racer", "--profile", "server", "--names",
            "*.svc.internal", "--scopes", "issue", "--json").stdout
    )["token"]  # fmt: skip
    csr = make_csr(ec_key(), common_name="race.svc.internal", dns_names=("race.svc.internal",))
    body = json.dumps({"profile": "server", "csr": csr.decode()})
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Idempotency-Key": "one-request-sent-16-times",
    }
    port = free_port()
    server = serve_two_workers(env, port)
    connections = [
        http.client.HTTPConnection("127.0.0.1", port, timeout=60) for _ in range(RETRIES)
    ]
    try:
        for connection in connections:
            connection.connect()
        for connection in connections:  # each accepted by its worker by now
            connection.request("GET", "/v1/health")
            assert connection.getresponse().read()
        # Both workers hold some of the connections, so the retries race across processes.
        client_ports = {c.sock.getsockname()[1] for c in connections}
        server_ends = set(_server_end_inodes(port, client_ports).values())
        holding = [w for w in _children(server.pid) if _socket_inodes(w) & server_ends]
        assert len(holding) == 2, "the kernel put every connection on one worker"
        start = threading.Barrier(RETRIES)
        answers: list[tuple[int, dict, str | None]] = []

        def retry(connection: http.client.HTTPConnection) -> None:
            start.wait()
            connection.request("POST", "/v1/certificates", body=body, headers=headers)
            response = connection.getresponse()
            answers.append(
                (
                    response.status,
                    json.loads(response.read()),
                    response.getheader("Idempotent-Replayed"),
                )
            )

        threads = [threading.Thread(target=retry, args=(c,)) for c in connections]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        for connection in connections:
            connection.close()
        server.terminate()
        server.wait(timeout=30)
    assert [status for status, _, _ in answers] == [201] * RETRIES, answers
    assert len({answer["certificate"]["serial"] for _, answer, _ in answers}) == 1
    assert sorted(replayed or "" for _, _, replayed in answers) == [""] + ["true"] * (RETRIES - 1)
    with sqlite3.connect(Path(env["ALBCA_HOME"]) / "albca.db") as store:
        assert store.execute("SELECT count(*) FROM certificates").fetchone() == (1,)
        assert store.execute("SELECT count(*) FROM idempotency_keys").fetchone() == (1,)
