"""Issuance requests per second through `albca serve`, and through `cfssl serve` with and
without its records, with the same load generator and the same CSR, in one interleaved run.

    .venv/bin/python bench/api_issuance.py [--duration 5] [--rounds 3] [--workers 1,2]
        [--sync full] [--concurrency 1,4] [--idempotency-key] [--baseline ALBCA]

`--idempotency-key`: each of albca's requests carries an Idempotency-Key of its own (as a
client that retries safely sends), so that every one issues and is committed with its
claim; cfssl has no such header and is measured as always.

albca: a fresh P-256 CA (`albca init`), an API token, `albca serve` on 127.0.0.1 (plain
HTTP for every server, so that TLS cost is not measured for one and not the other), POST
/v1/certificates with a CSR; every 201 is a record committed to SQLite before the answer.
cfssl (Debian's golang-cfssl 1.2.0): a P-256 CA, `cfssl serve`, POST /api/v1/cfssl/sign
with the same CSR, once keeping no records and once with its SQLite certdb opened with
`_sync=FULL` (every record fsynced before the answer, like albca's default; see
../shared/PEERS.md). A missing cfssl is skipped with a line saying so.

`--workers 1,2` measures `albca serve --workers 1` and `--workers 2` side by side (each
its own CA home); cfssl's Go runtime uses every core of the machine, as `--workers 2` does
here. The ratios are printed for each.

All servers run at once and are measured in turns (albca, cfssl+certdb, cfssl, then
cfssl+certdb, cfssl, albca, ...: each round starts one server later), `--rounds` times at
each concurrency, so that a slow spell of the shared machine hits each of them; the
figures are the median round. After every run the records each server
committed are counted: they must equal its 201/200 answers (warm-up included).

The load generator is one Python process with asyncio and hand-written HTTP/1.1 on
keep-alive connections (about 30 us of CPU per request), 1 or 4 connections each sending
its next request when the previous answer arrives. It shares the machine's cores with the
servers; its own CPU use is printed beside every figure.
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
    successes_with_warmup: int = 0
    records_checked: int | None = None

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def line(self) -> str:
        ordered = sorted(self.latencies)
        p50 = statistics.median(ordered) * 1000 if ordered else float("nan")
        p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000 if ordered else float("nan")
        return (
            f"{self.label:<34} c={self.concurrency}  {self.requests / self.seconds:7.1f} req/s  "
            f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  errors {self.errors:<3} "
            f"cpu: server {self.server_cpu / self.seconds * 100:5.1f}%  "
            f"loadgen {self.client_cpu / self.seconds * 100:5.1f}%"
            + (
                f"  records = 201s: {self.records_checked}"
                if self.records_checked is not None
                else ""
            )
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


async def _connection(port, request, until, latencies, failures, expected, keyed=False):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head, _, body = request.partition(b"\r\n\r\n")
    key_prefix = b"Idempotency-Key: bench-" + os.urandom(6).hex().encode()
    sent = 0
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            if keyed:  # a new key each time: every request issues, none is a replay
                sent += 1
                writer.write(b"%s\r\n%s-%d\r\n\r\n%s" % (head, key_prefix, sent, body))
            else:
                writer.write(request)
            status = await _read_response(reader)
            latencies.append(time.perf_counter() - started)
            if status != expected:
                failures.append(status)
    finally:
        writer.close()


def load(server: Server, *, concurrency: int, seconds: float) -> Result:
    # Warm up (connections, caches), then measure; the warm-up's answers are counted too,
    # so that the records committed can be checked against every success.
    warm_latencies: list[float] = []
    warm_failures: list[int] = []
    asyncio.run(_run(server.port, server.request, concurrency, 0.5, server.expected,
                     warm_latencies, warm_failures, server.keyed))  # fmt: skip
    latencies: list[float] = []
    failures: list[int] = []
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    server_before = _cpu_of(_children(server.process.pid))
    started = time.perf_counter()
    asyncio.run(_run(server.port, server.request, concurrency, seconds, server.expected,
                     latencies, failures, server.keyed))  # fmt: skip
    elapsed = time.perf_counter() - started
    usage_after = resource.getrusage(resource.RUSAGE_SELF)
    server_after = _cpu_of(_children(server.process.pid))
    client_cpu = (usage_after.ru_utime - usage_before.ru_utime) + (
        usage_after.ru_stime - usage_before.ru_stime
    )
    return Result(
        label=server.label,
        concurrency=concurrency,
        requests=len(latencies),
        errors=len(failures),
        seconds=elapsed,
        latencies=latencies,
        client_cpu=client_cpu,
        server_cpu=server_after - server_before,
        successes_with_warmup=len(latencies)
        - len(failures)
        + len(warm_latencies)
        - len(warm_failures),
    )


async def _run(port, request, concurrency, seconds, expected, latencies, failures, keyed=False):
    until = time.perf_counter() + seconds
    await asyncio.gather(
        *(
            _connection(port, request, until, latencies, failures, expected, keyed)
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


# -- servers ---------------------------------------------------------------------------------
@dataclass
class Server:
    label: str
    key: str  # "albca", "cfssl-db", "cfssl"
    port: int
    request: bytes
    expected: int
    process: subprocess.Popen
    records: Path | None  # the SQLite file whose `certificates` rows are its records
    keyed: bool = False  # each request with an Idempotency-Key of its own

    def committed(self) -> int | None:
        if self.records is None:
            return None
        with sqlite3.connect(self.records) as db:
            return int(db.execute("SELECT count(*) FROM certificates").fetchone()[0])


def start_albca(
    workdir: Path,
    csr: bytes,
    *,
    workers: int,
    sync: str,
    albca: str = ALBCA,
    key: str = "albca",
    keyed: bool = False,
) -> Server:
    home = workdir / f"{key}-{sync}-{workers}"
    env = {
        **os.environ,
        "ALBCA_HOME": str(home),
        "ALBCA_KEY_PASSPHRASE": "bench-passphrase-0123",
        "ALBCA_SQLITE_SYNCHRONOUS": sync,
    }
    subprocess.run([albca, "init"], env=env, check=True, capture_output=True)
    created = subprocess.run(
        [albca, "token", "create", "bench", "--profile", "server", "--names",
         "*.svc.internal", "--json"],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    token = json.loads(created.stdout)["token"]
    port = _free_port()
    process = subprocess.Popen(
        [albca, "serve", "--port", str(port), "--workers", str(workers), "--no-access-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_port(port, process)
    time.sleep(1.0 if workers > 1 else 0.2)  # every worker up
    body = json.dumps({"profile": "server", "csr": csr.decode()}).encode()
    request = _http_post(
        "/v1/certificates",
        body,
        {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    return Server(
        label=f"albca serve --workers {workers} sync={sync}"
        + ("" if key.startswith("albca") else f" ({key})")
        + (" +key" if keyed else ""),
        key=key,
        port=port,
        request=request,
        expected=201,
        process=process,
        records=home / "albca.db",
        keyed=keyed,
    )


# cfssl's certdb schema (cfssl certdb/sqlite/migrations/001_CreateCertificates.sql); cfssl
# does not create it. WAL, like albca's store.
_CFSSL_SCHEMA = """
CREATE TABLE certificates (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  ca_label                 blob,
  status                   blob NOT NULL,
  reason                   int,
  expiry                   timestamp,
  revoked_at               timestamp,
  pem                      blob NOT NULL,
  PRIMARY KEY(serial_number, authority_key_identifier)
);
CREATE TABLE ocsp_responses (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  body                     blob NOT NULL,
  expiry                   timestamp,
  PRIMARY KEY(serial_number, authority_key_identifier),
  FOREIGN KEY(serial_number, authority_key_identifier)
    REFERENCES certificates(serial_number, authority_key_identifier)
);
"""


def _cfssl_ca(directory: Path) -> None:
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
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


def start_cfssl(cfssl: str, workdir: Path, csr: bytes, *, with_records: bool) -> Server:
    directory = workdir / ("cfssl-db" if with_records else "cfssl")
    directory.mkdir()
    _cfssl_ca(directory)
    command = [cfssl, "serve", "-address", "127.0.0.1",
               "-ca", str(directory / "ca.pem"), "-ca-key", str(directory / "ca-key.pem"),
               "-config", str(directory / "config.json"), "-loglevel", "5"]  # fmt: skip
    records = None
    if with_records:
        records = directory / "certs.db"
        with sqlite3.connect(records) as db:
            db.execute("PRAGMA journal_mode = WAL")
            db.executescript(_CFSSL_SCHEMA)
        (directory / "db.json").write_text(
            json.dumps({"driver": "sqlite3", "data_source": f"file:{records}?_sync=FULL"})
        )
        command += ["-db-config", str(directory / "db.json")]
    port = _free_port()
    process = subprocess.Popen(
        [*command, "-port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _wait_port(port, process)
    body = json.dumps({"certificate_request": csr.decode()}).encode()
    return Server(
        label="cfssl serve, certdb _sync=FULL" if with_records else "cfssl serve, no records",
        key="cfssl-db" if with_records else "cfssl",
        port=port,
        request=_http_post("/api/v1/cfssl/sign", body, {"Content-Type": "application/json"}),
        expected=200,
        process=process,
        records=records,
    )


def measure(servers: list[Server], concurrency: int, args) -> dict[str, list[Result]]:
    """``args.rounds`` turns of every server at ``concurrency``, checking records."""
    results: dict[str, list[Result]] = {server.key: [] for server in servers}
    for turn in range(args.rounds):
        # Each round starts with the next server: whoever follows the busiest one (cfssl
        # without records leaves the machine warm, and its Go runtime tidying up) changes.
        for server in servers[turn % len(servers) :] + servers[: turn % len(servers)]:
            before = server.committed()
            result = load(server, concurrency=concurrency, seconds=args.duration)
            after = server.committed()
            if before is not None and after is not None:
                committed = after - before
                assert committed == result.successes_with_warmup, (
                    f"{server.label}: {committed} records committed for "
                    f"{result.successes_with_warmup} successful answers"
                )
                result.records_checked = committed
            results[server.key].append(result)
            print("  " + result.line(), flush=True)
    return results


def _albca_key(workers: int) -> str:
    # "albca" for one worker, the key the other benches use; "albca-w2" and so on beside it.
    return "albca" if workers == 1 else f"albca-w{workers}"


def _baseline_key(workers: int) -> str:
    return "baseline" if workers == 1 else f"baseline-w{workers}"


def median_run(runs: list[Result]) -> Result:
    return sorted(runs, key=lambda r: r.rate)[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved turns per figure")
    parser.add_argument(
        "--workers", default="1", help="albca serve --workers; a list (1,2) measures each"
    )
    parser.add_argument("--sync", default="full", help="ALBCA_SQLITE_SYNCHRONOUS")
    parser.add_argument("--concurrency", default="1,4", help="concurrent connections")
    parser.add_argument(
        "--baseline",
        metavar="ALBCA",
        help="another `albca` executable (e.g. main's checkout's venv) measured in the same "
        "interleaved turns at each --workers count, so that a change is compared with what "
        "it changes",
    )
    parser.add_argument(
        "--idempotency-key",
        action="store_true",
        help="albca's requests each carry an Idempotency-Key of their own (cfssl has none)",
    )
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    worker_counts = [int(count) for count in args.workers.split(",")]
    csr = make_csr()
    print(
        f"machine: {os.cpu_count()} cores; {args.rounds} interleaved rounds of "
        f"{args.duration:g} s per figure (median shown); P-256 CSR signing"
    )
    cfssl = shutil.which("cfssl")
    if cfssl is None:
        print("cfssl: SKIPPED, not installed (apt-get install -y golang-cfssl); albca alone")
    with tempfile.TemporaryDirectory(prefix="albca-bench-") as temporary:
        workdir = Path(temporary)
        servers = [
            start_albca(
                workdir,
                csr,
                workers=count,
                sync=args.sync,
                key=_albca_key(count),
                keyed=args.idempotency_key,
            )
            for count in worker_counts
        ]
        try:
            if args.baseline:
                servers += [
                    start_albca(workdir, csr, workers=count, sync=args.sync,
                                albca=args.baseline, key=_baseline_key(count),
                                keyed=args.idempotency_key)
                    for count in worker_counts
                ]  # fmt: skip
            if cfssl is not None:
                servers.append(start_cfssl(cfssl, workdir, csr, with_records=True))
                servers.append(start_cfssl(cfssl, workdir, csr, with_records=False))
            figures = {}
            for concurrency in levels:
                print(f"c={concurrency}:")
                figures[concurrency] = {
                    key: median_run(runs)
                    for key, runs in measure(servers, concurrency, args).items()
                }
        finally:
            for server in servers:
                _stop(server.process)
    print()
    print("median of the rounds:")
    for concurrency in levels:
        for result in figures[concurrency].values():
            print(result.line())
    print()
    print("ratios (req/s, median rounds):")
    for concurrency in levels:
        got = figures[concurrency]
        # Issue 17's goals: 1.0x of cfssl with its certdb at every concurrency, 0.5x of
        # cfssl without records at one client (none set beyond it).
        goals = {"cfssl-db": "goal >= 1.0", "cfssl": "goal >= 0.5" if concurrency == 1 else ""}
        for count in worker_counts:
            albca = got[_albca_key(count)]
            name = f"albca -w{count}"
            for key, goal in goals.items():
                if key in got:
                    print(
                        f"  c={concurrency}: {name} / {got[key].label:<32} "
                        f"{albca.rate / got[key].rate:5.2f}x" + (f"   ({goal})" if goal else "")
                    )
        for count in worker_counts:
            if _baseline_key(count) in got:
                albca = got[_albca_key(count)]
                print(
                    f"  c={concurrency}: albca -w{count} / its baseline{'':<20}"
                    f"{albca.rate / got[_baseline_key(count)].rate:5.2f}x"
                )
        if "cfssl-db" in got and "cfssl" in got:
            print(
                f"  c={concurrency}: cfssl certdb / cfssl no records{'':<13}"
                f"{got['cfssl-db'].rate / got['cfssl'].rate:5.2f}x"
            )


if __name__ == "__main__":
    main()
