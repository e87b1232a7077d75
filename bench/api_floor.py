"""How fast issuance over HTTP can be with CPython on this machine: a minimal server with
albca's checks and durable commit, beside `albca serve` and cfssl (issue 17, point 1).

    .venv/bin/python bench/api_floor.py [--duration 4] [--rounds 3] [--concurrency 1,4]

Two prototypes, each measured beside `albca serve` and cfssl in the same interleaved turns:
- "floor": albca's checks without the ASGI stack (below);
- "ceiling": the least a Python CA can do per request with its record durable, and nothing
  albca checks: no token, no name policy, no profile, no audit event, no idempotency, no
  deadline. It loads and verifies the CSR, signs the leaf with albca's fastest path (the
  DER template of ``ca.der.leaf``), inserts one row (serial, DER) into a table with no
  other index, commits it (WAL, ``synchronous=FULL``, the same as cfssl's certdb here) and
  answers. If even this does not reach cfssl with its certdb, no design of albca's HTTP
  path can on this machine with CPython: the rest of the gap is Python itself.

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
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import api_issuance as bench  # the bench next to this one

_ROUTE = "POST /v1/certificates"
_MAX_HEAD = 16 * 1024


def serve_forever(protocol: Callable[[], asyncio.Protocol], port: int, stack: Any) -> None:
    """Serve ``protocol`` on 127.0.0.1:``port`` on uvloop, closing ``stack`` after."""
    import uvloop

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(protocol, "127.0.0.1", port, backlog=128)
        async with server:
            await server.serve_forever()

    try:
        uvloop.run(main())
    finally:
        stack.close()


def serve(port: int) -> None:
    """The floor server, in this process, on the CA in ALBCA_HOME."""
    import httptools
    import orjson
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
            refused = await refusal_response(
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

    serve_forever(Protocol, port, stack)


def serve_ceiling(port: int) -> None:
    """The ceiling server (see the module docstring), in this process."""
    import sqlite3
    from datetime import UTC, datetime, timedelta

    import httptools
    import orjson
    from cryptography import x509

    from albca.ca.certificates import random_serial
    from albca.ca.der.leaf import encode_leaf_der, pem_of_certificate
    from albca.ca.names import RequestedNames
    from albca.ca.profiles import CertificateKind
    from albca.compose.api import open_api
    from albca.compose.passphrase import passphrase_source
    from albca.settings import Settings

    settings = Settings()
    stack = open_api(settings, passphrase_source(settings, interactive=False))
    template = stack.api.authority._leaf_template()  # the one signing path it shares
    db = sqlite3.connect(settings.home / "ceiling.db", isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("CREATE TABLE IF NOT EXISTS certificates (serial TEXT PRIMARY KEY, der BLOB)")
    lifetime = timedelta(days=90)
    head = b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"

    def issue(body: bytes) -> bytes:
        request = x509.load_pem_x509_csr(orjson.loads(body)["csr"].encode())
        if not request.is_signature_valid:
            raise ValueError("bad CSR signature")
        san = request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        dns_names = san.value.get_values_for_type(x509.DNSName)
        names = RequestedNames.of(common_name=None, dns_names=dns_names)
        now = datetime.now(UTC)
        serial = random_serial()
        der = encode_leaf_der(
            template, kind=CertificateKind.SERVER, public_key=request.public_key(),
            names=names, serial=serial, not_before=now, not_after=now + lifetime,
        )  # fmt: skip
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO certificates VALUES (?, ?)", (f"{serial:040x}", der))
        db.execute("COMMIT")
        pem = pem_of_certificate(der)
        answer = orjson.dumps({"certificate": pem})
        return head % len(answer) + answer

    class Protocol(asyncio.Protocol):
        def __init__(self) -> None:
            self.parser = httptools.HttpRequestParser(self)
            self.transport: Any = None

        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.parser.feed_data(data)

        def on_message_begin(self) -> None:
            self.body: list[bytes] = []

        def on_body(self, body: bytes) -> None:
            self.body.append(body)

        def on_message_complete(self) -> None:
            self.transport.write(issue(b"".join(self.body)))

    serve_forever(Protocol, port, stack)


def start_prototype(workdir: Path, csr: bytes, key: str) -> bench.Server:
    """A CA home like api_issuance's albca one, served by the ``key`` prototype ("floor" or
    "ceiling") in a subprocess."""
    # The home, token and request the albca server gets, then that server swapped out.
    server = bench.start_albca(workdir, csr, workers=1, sync="full", key=key)
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
        [sys.executable, __file__, f"--{key}", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bench._wait_port(port, process)
    server.process, server.port = process, port
    server.label = {
        "floor": "floor: asyncio+httptools, same checks",
        "ceiling": "ceiling: no checks, one row, durable",
    }[key]
    if key == "ceiling":
        server.records = home / "ceiling.db"
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--floor", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--ceiling", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", default="1,4")
    args = parser.parse_args()
    if args.floor:
        serve(args.floor)
        return
    if args.ceiling:
        serve_ceiling(args.ceiling)
        return
    levels = [int(c) for c in args.concurrency.split(",")]
    csr = bench.make_csr()
    cfssl = shutil.which("cfssl")
    if cfssl is None:
        print("cfssl: SKIPPED, not installed (apt-get install -y golang-cfssl)")
    with tempfile.TemporaryDirectory(prefix="albca-floor-") as temporary:
        workdir = Path(temporary)
        servers = [start_prototype(workdir, csr, key) for key in ("floor", "ceiling")]
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
        for prototype in ("floor", "ceiling"):
            for key in ("albca", "cfssl-db", "cfssl"):
                if key in got:
                    print(
                        f"  c={concurrency}: {prototype:<7} / {got[key].label:<36} "
                        f"{got[prototype].rate / got[key].rate:5.2f}x"
                    )


if __name__ == "__main__":
    main()
