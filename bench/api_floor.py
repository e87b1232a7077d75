"""How fast issuance over HTTP can be with CPython on this machine: a minimal server with
albca's checks and durable commit, beside `albca serve` and cfssl (issue 17, point 1).

    .venv/bin/python bench/api_floor.py [--duration 4] [--rounds 3] [--concurrency 1,4]

A prototype, not a product: one asyncio protocol (uvloop, httptools) that answers only
`POST /v1/certificates`, with no ASGI, no Starlette and no uvicorn in between, and writes
each answer in one send. Per request it does what albca's issuing path does, with the
same functions: the header-size limit, `deps.authenticate` (token row, hash, expiry,
scopes), `check_idempotency_key`, the body limit and JSON media type, the pydantic request
model, `issuing.issue_from_csr_async` (policy, CSR checks, signing, and the record
committed by the authority's group commit before the answer), the response body, and
`http_errors.refusal_response` for every refusal (envelope, audit). Left out, so this is a
floor and not a like-for-like server: the header and body deadlines (a timer per
request), pipelined requests (answers would interleave), other routes, access logs, TLS.

The same CA set-up, token, CSR and load generator as `bench/api_issuance.py`, whose
servers (albca serve, cfssl with and without its certdb) are measured in the same
interleaved turns; records committed == 201s is checked after every run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import api_issuance as bench  # the bench next to this one

_ROUTE = "POST /v1/certificates"
_MAX_HEAD = 16 * 1024


def serve(port: int) -> None:
    """The floor server, in this process, on the CA in ALBCA_HOME."""
    import httptools
    import orjson
    import uvloop
    from pydantic import ValidationError
    from starlette.datastructures import State

    from albca.api import issuing
    from albca.api.audit import UnauthenticatedRefusals
    from albca.api.deps import authenticate
    from albca.api.errors import PayloadTooLarge, UnsupportedMediaType
    from albca.api.http_errors import invalid_request, refusal_response
    from albca.api.idempotency import check_idempotency_key
    from albca.api.schemas import IssueFromCsrRequest
    from albca.ca.errors import CAError
    from albca.compose.api import open_api
    from albca.compose.passphrase import passphrase_source
    from albca.settings import Settings

    settings = Settings()
    stack = open_api(settings, passphrase_source(settings, interactive=False))
    services = stack.api
    app_state = State()
    app_state.services = services
    app_state.unauthenticated_refusals = UnauthenticatedRefusals()
    max_body = services.settings.max_body_bytes

    def answer(status: int, body: bytes, extra: bytes = b"") -> bytes:
        return b"".join(
            [
                b"HTTP/1.1 %d %s\r\n" % (status, b"Created" if status == 201 else b"Error"),
                b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body),
                extra,
                b"\r\n",
                body,
            ]
        )

    async def issue(headers: dict[bytes, bytes], body: bytes) -> bytes:
        state = SimpleNamespace(actor="unauthenticated")
        try:
            caller = authenticate(
                services, headers.get(b"authorization", b"").decode("latin-1"), state
            )
            raw_key = headers.get(b"idempotency-key")
            key = check_idempotency_key(None if raw_key is None else raw_key.decode("latin-1"))
            if len(body) > max_body:
                raise PayloadTooLarge(f"body: larger than {max_body} bytes", field="body")
            media = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
            if body and media != b"application/json":
                raise UnsupportedMediaType("Content-Type: send application/json", field="body")
            try:
                request = IssueFromCsrRequest.model_validate_json(body or b"null")
            except ValidationError as exc:
                raise invalid_request(exc.errors()) from None
            outcome = await issuing.issue_from_csr_async(
                services,
                caller,
                profile=request.profile,
                csr=request.csr,
                lifetime_seconds=request.lifetime_seconds,
                idempotency_key=key,
            )
            result = issuing.issued_response(outcome.issued, services, pkcs12_password=None)
            return answer(201, orjson.dumps(result), b"cache-control: no-store\r\n")
        except CAError as error:
            refused = refusal_response(
                app_state, actor=state.actor, route=_ROUTE, error=error, serial=None
            )
            return answer(refused.status_code, bytes(refused.body))

    class Protocol(asyncio.Protocol):
        def __init__(self) -> None:
            self.parser = httptools.HttpRequestParser(self)
            self.transport: Any = None
            self.in_head = True  # the next request's headers are not complete yet
            self.head = 0  # bytes received meanwhile

        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            if self.in_head:
                self.head += len(data)
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                self.transport.write(answer(400, b'{"error":"bad request"}'))
                self.transport.close()
                return
            if self.in_head and self.head > _MAX_HEAD:
                self.transport.write(answer(431, b'{"error":"headers too large"}'))
                self.transport.close()

        def on_message_begin(self) -> None:
            self.url = b""
            self.headers: dict[bytes, bytes] = {}
            self.body: list[bytes] = []

        def on_url(self, url: bytes) -> None:
            self.url += url

        def on_header(self, name: bytes, value: bytes) -> None:
            self.headers[name.lower()] = value.rstrip(b" \t")

        def on_headers_complete(self) -> None:
            self.in_head = False

        def on_body(self, body: bytes) -> None:
            self.body.append(body)

        def on_message_complete(self) -> None:
            self.in_head, self.head = True, 0
            if self.parser.get_method() != b"POST" or self.url != b"/v1/certificates":
                self.transport.write(answer(404, b'{"error":"not found"}'))
                return
            task = asyncio.get_running_loop().create_task(issue(self.headers, b"".join(self.body)))
            task.add_done_callback(self.respond)

        def respond(self, task: asyncio.Task[bytes]) -> None:
            if not self.transport.is_closing():
                self.transport.write(task.result())

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Protocol, "127.0.0.1", port, backlog=128)
        async with server:
            await server.serve_forever()

    try:
        uvloop.run(main())
    finally:
        stack.close()


def start_floor(workdir: Path, csr: bytes) -> bench.Server:
    """A CA home like api_issuance's albca one, served by ``serve`` in a subprocess."""
    # The home, token and request the albca server gets, then that server swapped out.
    server = bench.start_albca(workdir, csr, workers=1, sync="full", key="floor")
    bench._stop(server.process)
    home = server.records.parent
    env = {
        **os.environ,
        "ALBCA_HOME": str(home),
        "ALBCA_KEY_PASSPHRASE": "bench-passphrase-0123",
        "ALBCA_SQLITE_SYNCHRONOUS": "full",
    }
    port = bench._free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bench._wait_port(port, process)
    server.process, server.port = process, port
    server.label = "floor: asyncio+httptools, same checks"
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,4")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    levels = [int(c) for c in args.concurrency.split(",")]
    csr = bench.make_csr()
    cfssl = shutil.which("cfssl")
    if cfssl is None:
        print("cfssl: SKIPPED, not installed (apt-get install -y golang-cfssl)")
    with tempfile.TemporaryDirectory(prefix="albca-floor-") as temporary:
        workdir = Path(temporary)
        servers = [start_floor(workdir, csr)]
        try:
            servers.append(bench.start_albca(workdir, csr, workers=1, sync="full"))
            if cfssl is not None:
                servers.append(bench.start_cfssl(cfssl, workdir, csr, with_records=True))
                servers.append(bench.start_cfssl(cfssl, workdir, csr, with_records=False))
            time.sleep(0.5)
            figures = {}
            for concurrency in levels:
                print(f"c={concurrency}:")
                figures[concurrency] = {
                    key: bench.median_run(runs)
                    for key, runs in bench.measure(servers, concurrency, args).items()
                }
        finally:
            for server in servers:
                bench._stop(server.process)
    print("\nmedian of the rounds:")
    for concurrency in levels:
        for result in figures[concurrency].values():
            per_request = result.server_cpu / max(result.requests, 1) * 1e6
            print(f"{result.line()}  server CPU/request {per_request:.0f} us")
    print("\nratios (req/s, median rounds):")
    for concurrency in levels:
        got = figures[concurrency]
        for key in ("albca", "cfssl-db", "cfssl"):
            if key in got:
                print(
                    f"  c={concurrency}: floor / {got[key].label:<36} "
                    f"{got['floor'].rate / got[key].rate:5.2f}x"
                )


if __name__ == "__main__":
    main()
