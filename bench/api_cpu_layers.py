"""Where `albca serve` spends its CPU per issued certificate, by layer (issue 17).

    .venv/bin/pip install py-spy   # not a dependency of albca: only this bench uses it
    .venv/bin/python bench/api_cpu_layers.py [--seconds 10] [--concurrency 1]

One `albca serve` worker (sync=full) under `bench/api_issuance.py`'s load generator, while
py-spy samples it with ``--gil``: only the thread holding the GIL is sampled, so each
sample is Python-side CPU, never a thread waiting in epoll, a queue or fsync. Each sample
goes to the layer of its innermost frame that belongs to one (table below); the server's
CPU per request (from /proc, like api_issuance.py) is split in those proportions. Work
done with the GIL released (OpenSSL's signing and signature checks, SQLite's own C code
after it drops the GIL) is not sampled: the split is of the sampled share, and the CPU
total is the whole. Run it on a quiet machine; sampling itself costs the server a little.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import api_issuance as load  # the bench next to this one

# The innermost frame matching one of these decides the sample's layer (py-spy prints
# frames as "function (path/inside/site-packages.py:line)").
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "store: SQLite records, tokens, commit",
        ("sqlite3", "ca/stores/", "group_commit", "api/stores/"),
    ),
    ("cryptography: CSR load and verify, sign", ("cryptography/",)),
    ("CA core: names, policy, profiles, DER", ("albca/ca/",)),
    ("pydantic: request model", ("pydantic",)),
    ("albca API: auth, issuing, response", ("albca/api/",)),
    ("starlette/fastapi", ("fastapi/", "starlette/")),
    ("uvicorn (HTTP protocol)", ("uvicorn/", "httptools", "h11/", "http_limits")),
    ("json", ("json/",)),
    (
        "asyncio loop, thread hand-offs",
        ("asyncio/", "concurrent/futures", "threading", "selectors"),
    ),
]


def layer_of(stack: str) -> str:
    for frame in reversed(stack.split(";")):
        for name, needles in LAYERS:
            if any(needle in frame for needle in needles):
                return name
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument(
        "--frames", type=int, default=0, help="also print the N most sampled innermost frames"
    )
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        sys.exit("py-spy is not installed: .venv/bin/pip install py-spy")
    csr = load.make_csr()
    with tempfile.TemporaryDirectory(prefix="albca-layers-") as temporary:
        server = load.start_albca(Path(temporary), csr, workers=1, sync="full")
        try:
            load.load(server, concurrency=args.concurrency, seconds=2)  # warm up
            samples = Path(temporary) / "samples.txt"
            sampler = subprocess.Popen(
                [spy, "record", "--pid", str(server.process.pid), "--gil", "--nonblocking",
                 "--format", "raw", "--rate", "400", "--output", str(samples),
                 "--duration", str(int(args.seconds))],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(0.3)
            result = load.load(server, concurrency=args.concurrency, seconds=args.seconds - 1)
            sampler.wait()
            lines = samples.read_text().splitlines()
        finally:
            load._stop(server.process)
    counts: collections.Counter[str] = collections.Counter()
    frames: collections.Counter[str] = collections.Counter()
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if count.isdigit():
            counts[layer_of(stack)] += int(count)
            frames[stack.split(";")[-1]] += int(count)
    total = sum(counts.values())
    per_request = result.server_cpu / max(result.requests, 1) * 1e6
    print(result.line())
    print(f"server CPU per request: {per_request:.0f} us; {total} GIL samples split it:")
    for name, count in counts.most_common():
        share = count / total
        print(f"  {name:<42} {share * 100:5.1f}%  ~{per_request * share:5.0f} us")
    if args.frames:
        print(f"the {args.frames} most sampled innermost frames:")
        for frame, count in frames.most_common(args.frames):
            print(f"  {count / total * 100:5.1f}%  ~{per_request * count / total:5.0f} us  {frame}")


if __name__ == "__main__":
    main()
