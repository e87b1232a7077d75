"""Issuance requests per second through `albca serve`, and through `cfssl serve` with the
same load generator and the same CSR, in one run.

    .venv/bin/python bench/api_issuance.py [--duration 8] [--workers 1,2] [--sync full,normal]

albca: a fresh P-256 CA (`albca init`), an API token, `albca serve` on 127.0.0.1 (plain
HTTP for both servers, so that TLS cost is not measured for one and not the other), POST
/v1/certificates with a CSR; every 201 is a record committed to SQLite before the answer
(checked after each run by counting the records). cfssl: Debian's golang-cfssl, a P-256
CA, `cfssl serve`, POST /api/v1/cfssl/sign with the same CSR; it keeps no records.

The load generator is one Python process with asyncio and hand-written HTTP/1.1 on
keep-alive connections (about 30 us of CPU per request), 1 or 4 connections each sending
its next request when the previous answer arrives. It shares the machine's cores with the
server; its own CPU use is printed beside every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ALBCA = str(Path(sys.executable).with_name("albca"))
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    label: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    client_cpu: float  # seconds of CPU the load generator used
    server_cpu: float  # seconds of CPU the server processes used

    def line(self) -> str:
        ordered = sorted(self.latencies)
        p50 = statistics.median(ordered) * 1000 if ordered else float("nan")
        p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000 if ordered else float("nan")
        return (
            f"{self.label:<38} c={self.concurrency}  {self.requests / self.seconds:7.1f} req/s  "
            f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  errors {self.errors:<3} "
            f"cpu: server {self.server_cpu / self.seconds * 100:5.1f}%  "
            f"loadgen {self.client_cpu / self.seconds * 100:5.1f}%"
        )


# -- the load generator -----------------------------------------------------------------
async def _read_response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("server closed the connection")
    status = int(status_line.split()[1])
    length = None
    chunked = False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def _connection(port, request, until, latencies, failures, expected):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(request)
            status = await _read_response(reader)
            latencies.append(time.perf_counter() - started)
            if status != expected:
                failures.append(status)
    finally:
        writer.close()


def load(port, request, *, concurrency, seconds, expected, label, server_pids) -> Result:
    # Warm up (connections, caches, the first CRL-free requests), then measure.
    asyncio.run(_run(port, request, concurrency, 1.0, expected, [], []))
    latencies: list[float] = []
    failures: list[int] = []
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    server_before = _cpu_of(server_pids())
    started = time.perf_counter()
    asyncio.run(_run(port, request, concurrency, seconds, expected, latencies, failures))
    elapsed = time.perf_counter() - started
    usage_after = resource.getrusage(resource.RUSAGE_SELF)
    server_after = _cpu_of(server_pids())
    client_cpu = (usage_after.ru_utime - usage_before.ru_utime) + (
        usage_after.ru_stime - usage_before.ru_stime
    )
    return Result(
        label=label,
        concurrency=concurrency,
        requests=len(latencies),
        errors=len(failures),
        seconds=elapsed,
        latencies=latencies,
        client_cpu=client_cpu,
        server_cpu=server_after - server_before,
    )


async def _run(port, request, concurrency, seconds, expected, latencies, failures):
    until = time.perf_counter() + seconds
    await asyncio.gather(
        *(
            _connection(port, request, until, latencies, failures, expected)
            for _ in range(concurrency)
        )
    )


def _http_post(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# -- processes --------------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            found += _children(int(child))
    return found


def _cpu_of(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stdout.read() if process.stdout else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


# -- the CSR both servers sign ------------------------------------------------------------
def make_csr() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench.svc.internal")]))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("bench.svc.internal")]), critical=False
        )
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )


# -- albca ----------------------------------------------------------------------------------
def bench_albca(workdir: Path, csr: bytes, *, workers: int, sync: str, args) -> list[Result]:
    home = workdir / f"albca-{sync}-{workers}"
    env = {
        **os.environ,
        "ALBCA_HOME": str(home),
        "ALBCA_KEY_PASSPHRASE": "bench-passphrase-0123",
        "ALBCA_SQLITE_SYNCHRONOUS": sync,
    }
    subprocess.run([ALBCA, "init"], env=env, check=True, capture_output=True)
    created = subprocess.run(
        [ALBCA, "token", "create", "bench", "--profile", "server", "--names",
         "*.svc.internal", "--json"],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    token = json.loads(created.stdout)["token"]
    port = _free_port()
    server = subprocess.Popen(
        [ALBCA, "serve", "--port", str(port), "--workers", str(workers), "--no-access-log"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    results = []
    try:
        _wait_port(port, server)
        time.sleep(1.0 if workers > 1 else 0.2)  # every worker up
        body = json.dumps({"profile": "server", "csr": csr.decode()}).encode()
        request = _http_post(
            "/v1/certificates",
            body,
            {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        for concurrency in args.concurrency:
            results.append(
                load(
                    port,
                    request,
                    concurrency=concurrency,
                    seconds=args.duration,
                    expected=201,
                    label=f"albca serve --workers {workers} sync={sync}",
                    server_pids=lambda: _children(server.pid),
                )
            )
    finally:
        _stop(server)
    with sqlite3.connect(home / "albca.db") as db:
        committed = db.execute("SELECT count(*) FROM certificates").fetchone()[0]
    answered = sum(r.requests - r.errors for r in results)
    # Warm-up requests are committed too; the records can only be at least the answers.
    print(f"   records committed: {committed} for {answered} measured 201 answers")
    assert committed >= answered, "a 201 without a committed record"
    return results


# -- cfssl ----------------------------------------------------------------------------------
def bench_cfssl(workdir: Path, csr: bytes, args) -> list[Result]:
    cfssl = shutil.which("cfssl")
    if cfssl is None:
        print("cfssl: SKIPPED (not installed: apt-get install -y golang-cfssl)")
        return []
    directory = workdir / "cfssl"
    directory.mkdir()
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cfssl bench CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    (directory / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (directory / "ca-key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    (directory / "config.json").write_text(
        json.dumps(
            {
                "signing": {
                    "default": {
                        "expiry": "2160h",
                        "usages": ["signing", "digital signature", "server auth"],
                    }
                }
            }
        )
    )
    port = _free_port()
    server = subprocess.Popen(
        [cfssl, "serve", "-address", "127.0.0.1", "-port", str(port),
         "-ca", str(directory / "ca.pem"), "-ca-key", str(directory / "ca-key.pem"),
         "-config", str(directory / "config.json"), "-loglevel", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    results = []
    try:
        _wait_port(port, server)
        body = json.dumps({"certificate_request": csr.decode()}).encode()
        request = _http_post("/api/v1/cfssl/sign", body, {"Content-Type": "application/json"})
        for concurrency in args.concurrency:
            results.append(
                load(
                    port,
                    request,
                    concurrency=concurrency,
                    seconds=args.duration,
                    expected=200,
                    label="cfssl serve (no records kept)",
                    server_pids=lambda: _children(server.pid),
                )
            )
    finally:
        _stop(server)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--workers", default="1,2", help="albca serve --workers values")
    parser.add_argument("--sync", default="full,normal", help="ALBCA_SQLITE_SYNCHRONOUS values")
    parser.add_argument("--concurrency", default="1,4", help="concurrent connections")
    args = parser.parse_args()
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    csr = make_csr()
    print(f"machine: {os.cpu_count()} cores; {args.duration:g} s per figure; P-256 CSR signing")
    with tempfile.TemporaryDirectory(prefix="albca-bench-") as temporary:
        workdir = Path(temporary)
        results = []
        for sync in args.sync.split(","):
            for workers in (int(w) for w in args.workers.split(",")):
                print(f"albca serve --workers {workers}, ALBCA_SQLITE_SYNCHRONOUS={sync} ...")
                results += bench_albca(workdir, csr, workers=workers, sync=sync, args=args)
        print("cfssl serve ...")
        results += bench_cfssl(workdir, csr, args)
    print()
    for result in results:
        print(result.line())


if __name__ == "__main__":
    main()
