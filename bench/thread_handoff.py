"""Can one request's work use the second core? A prototype of overlapping the CSR's
signature check (OpenSSL, which releases the GIL) with the rest of the request's Python
work on the event loop (issue 17, point 1 at one client).

    .venv/bin/python bench/thread_handoff.py [--number 2000]

At one client nothing else is in flight, so the only way to answer sooner is to split a
request across both cores. cryptography releases the GIL while it verifies and signs
(two threads verifying run in parallel: printed below), so the check could run on a
thread while the loop checks names and policy, plans and builds the certificate body.
What decides it is the cost of the hand-off to a thread and back, on uvloop as
``albca serve`` runs: ``run_in_executor`` of a function that does nothing, in a loop.
Then the check plus a stretch of Python work of 50, 100 and 150 us (a busy loop standing
in for the rest of the request), inline one after the other, against overlapped: the
check on a thread while the loop does the work, then awaited.

Measured here (2 cores, Python 3.11, uvloop): the check 62 us, two threads 1.1-1.2x one
(parallel); the hand-off 33-36 us; overlapped 1.4-2.0x slower than inline, never faster.
The thread needs the GIL to start the call into cryptography and again to return from
it, and the loop holds the GIL for as long as it runs Python: the check starts only when
the loop stops to wait for it, so nothing overlaps and the hand-off is paid on top. The
same holds for any part of one request moved to a thread (``Authority._commit_here``
commits on the loop at one client for this reason).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, str(Path(__file__).parent))
from api_issuance import make_csr  # the bench's CSR: P-256, ECDSA with SHA-256

_ECDSA = ec.ECDSA(hashes.SHA256())


def _python_work(microseconds: float) -> None:
    until = time.perf_counter() + microseconds / 1e6
    while time.perf_counter() < until:
        pass


def _per_call(calls: int, started: float) -> float:
    return (time.perf_counter() - started) / calls * 1e6


async def measure(calls: int) -> None:
    request = x509.load_pem_x509_csr(make_csr())
    public_key = request.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    signature, signed = request.signature, request.tbs_certrequest_bytes

    def verify() -> None:
        public_key.verify(signature, signed, _ECDSA)

    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1) as thread:
        await loop.run_in_executor(thread, verify)  # the thread started
        started = time.perf_counter()
        for _ in range(calls):
            verify()
        alone = _per_call(calls, started)

        def verify_many() -> None:
            for _ in range(calls):
                verify()

        pair = [threading.Thread(target=verify_many) for _ in range(2)]
        started = time.perf_counter()
        for each in pair:
            each.start()
        for each in pair:
            each.join()
        both = _per_call(calls, started)
        print(f"signature check: {alone:.0f} us; two threads, {calls} each: {both:.0f} us "
              f"per pair ({both / alone:.2f}x one: 1.0 is fully parallel)")  # fmt: skip

        started = time.perf_counter()
        for _ in range(calls):
            await loop.run_in_executor(thread, lambda: None)
        handoff = _per_call(calls, started)
        print(f"hand-off to a thread and back (nothing done there): {handoff:.0f} us")

        for work in (50, 100, 150):
            started = time.perf_counter()
            for _ in range(calls):
                verify()
                _python_work(work)
            inline = _per_call(calls, started)
            started = time.perf_counter()
            for _ in range(calls):
                checked = loop.run_in_executor(thread, verify)
                _python_work(work)
                await checked
            overlapped = _per_call(calls, started)
            print(
                f"check + {work:3d} us of Python: inline {inline:4.0f} us, overlapped "
                f"{overlapped:4.0f} us ({overlapped / inline:.2f}x)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=2000)
    uvloop.run(measure(parser.parse_args().number))


if __name__ == "__main__":
    main()
