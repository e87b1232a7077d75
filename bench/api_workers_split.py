"""Does the kernel's split of connections across `albca serve --workers 2` cost rate at four
clients? (issue 17: "--workers N that spreads connections across workers").

    .venv/bin/python bench/api_workers_split.py [--duration 3] [--rounds 3]

Each worker listens on a socket of its own (SO_REUSEPORT), so the kernel hashes each
connection to one: four connections split 2-2 only 6 times in 16, and 3-1 or 4-0
otherwise. This measures, in interleaved turns at four clients, `albca serve --workers 2`
as it is beside a perfect 2-2 split: two `albca serve --workers 1` processes on one CA home
(two workers in all that matter: two processes, one store), the load generator sending two
connections to each. cfssl with its certdb is the peer. If the perfect split is not faster,
spreading connections better is not the lever.
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

sys.path.insert(0, str(Path(__file__).parent))
import api_issuance as bench  # the bench next to this one


def split_load(servers: list[bench.Server], seconds: float) -> tuple[float, float]:
    """Two connections to each server for ``seconds``: (requests a second, server CPU
    microseconds a request); after a warm-up, as ``bench.load`` does."""
    ports = [server.port for server in servers for _ in range(2)]
    request = servers[0].request

    def run(duration: float, latencies: list[float], failures: list[int]) -> None:
        async def connections() -> None:
            until = time.perf_counter() + duration
            await asyncio.gather(
                *(bench._connection(port, request, until, latencies, failures, 201)
                  for port in ports)
            )  # fmt: skip

        asyncio.run(connections())

    run(0.5, [], [])
    latencies: list[float] = []
    failures: list[int] = []
    before = sum(bench._cpu_of(bench._children(s.process.pid)) for s in servers)
    started = time.perf_counter()
    run(seconds, latencies, failures)
    elapsed = time.perf_counter() - started
    after = sum(bench._cpu_of(bench._children(s.process.pid)) for s in servers)
    if failures:
        raise SystemExit(f"{len(failures)} requests failed: {sorted(set(failures))}")
    return len(latencies) / elapsed, (after - before) / max(len(latencies), 1) * 1e6


def second_server(first: bench.Server) -> bench.Server:
    """Another `albca serve --workers 1` on ``first``'s CA home, on a port of its own."""
    env = {
        **os.environ,
        "ALBCA_HOME": str(first.records.parent),  # type: ignore[union-attr]
        "ALBCA_KEY_PASSPHRASE": "bench-passphrase-0123",
        "ALBCA_SQLITE_SYNCHRONOUS": "full",
    }
    port = bench._free_port()
    process = subprocess.Popen(
        [bench.ALBCA, "serve", "--port", str(port), "--workers", "1", "--no-access-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bench._wait_port(port, process)
    time.sleep(0.3)
    return bench.Server("second", "second", port, first.request, 201, process, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cfssl = shutil.which("cfssl")
    csr = bench.make_csr()
    with tempfile.TemporaryDirectory(prefix="albca-split-") as temporary:
        workdir = Path(temporary)
        first = bench.start_albca(workdir, csr, workers=1, sync="full", key="split")
        servers = [
            first,
            second_server(first),
            bench.start_albca(workdir, csr, workers=2, sync="full"),
        ]
        if cfssl is not None:
            servers.append(bench.start_cfssl(cfssl, workdir, csr, with_records=True))
        else:
            print("cfssl: SKIPPED, not installed (apt-get install -y golang-cfssl)")
        rates: dict[str, list[float]] = {"split": [], "reuseport": [], "cfssl": []}
        try:
            for turn in range(args.rounds):
                rate, cpu = split_load(servers[:2], args.duration)
                rates["split"].append(rate)
                print(f"round {turn}: 2-2 by construction (two processes, one store) "
                      f"{rate:7.1f} req/s  server CPU/request {cpu:4.0f} us")  # fmt: skip
                for key, server in zip(("reuseport", "cfssl"), servers[2:], strict=False):
                    got = bench.load(server, concurrency=4, seconds=args.duration)
                    rates[key].append(got.rate)
                    cpu = got.server_cpu / max(got.requests, 1) * 1e6
                    print(f"round {turn}: {server.label:<44} {got.rate:7.1f} req/s  "
                          f"server CPU/request {cpu:4.0f} us")  # fmt: skip
        finally:
            for server in servers:
                bench._stop(server.process)
    median = {key: sorted(values)[len(values) // 2] for key, values in rates.items() if values}
    print("\nratios (req/s, median rounds, c=4):")
    ratio = median["split"] / median["reuseport"]
    print(f"  2-2 by construction / --workers 2 (SO_REUSEPORT) {ratio:5.2f}x")
    if "cfssl" in median:
        for key in ("split", "reuseport"):
            ratio = median[key] / median["cfssl"]
            print(f"  {key:<9} / cfssl serve, certdb _sync=FULL      {ratio:5.2f}x")


if __name__ == "__main__":
    main()
