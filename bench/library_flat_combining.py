"""Prototype for issue 17 point 2: would "flat combining" bring concurrent library callers
to 75% of the raw cryptography rate?

What landed after it (``ca.issuing_thread``) is its "checks, signs" combiner with two
changes this prototype lacks: the combiner only writes the rows and hands the COMMIT alone
to the committer thread (``SqliteStore.try_write_certificates``), so it takes the GIL back
once per batch instead of after every statement; and callers park on a ``threading.Lock``
each and hand over through a ``queue.SimpleQueue`` (C code) instead of an ``Event`` and a
``Condition`` (Python code on both sides). ``bench/library_issuance.py`` measures it.

    .venv/bin/python bench/library_flat_combining.py [--seconds 2] [--threads 4] [--runs 3]

Today each of N threads checks, signs and queues its own certificate, and one of them
commits the queue (``ca.group_commit``). Four threads then take turns on the GIL, and
nobody signs while a commit waits for its fsync. They reach no more than one caller's rate
(``bench/library_issuance.py``).

The prototype: each caller parses and verifies its CSR and runs every check
(``Authority._plan``) in its own thread, queues the plan, and waits. One combining thread
takes everything queued (up to the store's batch limit), signs each certificate
(``Authority._sign``) and commits them in one transaction (``store.add_certificates``), as
``issue_batches`` does, then wakes each caller. Signing thus happens on one thread, in a
tight loop, as in a batch. It keeps the guarantees that matter for the measurement: no
certificate goes back before its record is committed, and a failed commit fails every
caller of that batch. It leaves out what a product needs beyond that: the
duplicate-serial fallback (it signs again with new serials and retries, once), caller
policies, chosen serials and Idempotency-Keys.

Three variants: the combiner signs and commits (callers check); it checks too (all the
work on one thread, as in ``issue_batches``); and it also hands each signed batch to a
committer thread, taking half of what is queued, so that it signs the next batch during
the fsync.

Raw (load and verify the CSR, build and sign with cryptography, keep nothing; as in
``library_issuance.py``), today's ``Authority.issue_from_csr`` and the prototype are
measured with the same number of threads, in interleaved turns; best of ``--runs`` each.

Measured here (2 cores, quiet, 4 threads; 8 and 16 alike): today 42-46% of raw; the
combiner signing 48-52%; checking too 51-55%; with a committer thread 37-40%. The committer
thread loses: it must take the GIL back from the combiner after each SQLite call, as the
threads of today's group commit must (``ca.group_commit``). Four callers never have more
than four certificates in flight, and each waits for its fsync, so at best the one thread
works while nobody commits and idles while the commit runs: about 1.6 ms of work and
fsync per four certificates. None of these reaches the 75% of issue 17.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import library_issuance as bench  # the bench next to this one

from albca.ca.authority import Authority, IssueRequest
from albca.ca.certificates import random_serial
from albca.ca.csr import parse_csr
from albca.ca.errors import DuplicateSerial
from tests.authorities import build_authority


class _Waiting:
    """One caller's request in line, and what the combiner hands back."""

    __slots__ = ("done", "error", "issued", "plan", "plan_of")

    def __init__(self, plan_of: Callable[[], Any]) -> None:
        self.plan_of = plan_of  # the checked plan, or how to check and make it
        self.plan: Any = None
        self.done = threading.Event()
        self.issued: Any = None
        self.error: BaseException | None = None


class FlatCombiner:
    """Callers queue requests; one thread signs and commits whatever is queued, after the
    checks too when ``checks_on_combiner`` (else each caller checks its own first)."""

    def __init__(
        self, authority: Authority, *, checks_on_combiner: bool, committer: bool = False
    ) -> None:
        self.authority = authority
        self.checks_on_combiner = checks_on_combiner
        # With a committer thread the combiner hands each signed batch over and goes on
        # checking and signing the next one while that one fsyncs (half of what is queued
        # a batch, so that there is a next one).
        self.committer = ThreadPoolExecutor(1) if committer else None
        self.queue: deque[_Waiting] = deque()
        self.ready = threading.Condition()
        self.stopped = False
        self.thread = threading.Thread(target=self._combine, daemon=True)
        self.thread.start()

    def issue_from_csr(self, csr: bytes, *, profile: str, requested_by: str) -> Any:
        def plan() -> Any:
            parsed = parse_csr(csr)
            request = IssueRequest(
                profile=profile, public_key=parsed.public_key, names=parsed.names,
                requested_by=requested_by,
            )  # fmt: skip
            return self.authority._plan(request, None)

        if self.checks_on_combiner:
            waiting = _Waiting(plan)
        else:
            checked = plan()
            waiting = _Waiting(lambda: checked)
        with self.ready:
            self.queue.append(waiting)
            self.ready.notify()
        waiting.done.wait()
        if waiting.error is not None:
            raise waiting.error
        return waiting.issued

    def stop(self) -> None:
        with self.ready:
            self.stopped = True
            self.ready.notify()
        self.thread.join()
        if self.committer is not None:
            self.committer.shutdown()

    def _combine(self) -> None:
        limit = self.authority.store.batch_limit
        while True:
            with self.ready:
                while not self.queue and not self.stopped:
                    self.ready.wait()
                if self.stopped:
                    return
                size = len(self.queue)
                if self.committer is not None:
                    size = max(1, size // 2)
                batch = [self.queue.popleft() for _ in range(min(limit, size))]
            checked = self._checked(batch)
            if self.committer is None:
                self._sign_and_commit(checked)
            else:
                self.committer.submit(self._sign_and_commit, checked)

    @staticmethod
    def _checked(batch: list[_Waiting]) -> list[_Waiting]:
        """Those of ``batch`` whose checks pass; each refused caller gets its own error."""
        kept = []
        for waiting in batch:
            try:
                waiting.plan = waiting.plan_of()
            except Exception as exc:  # a refusal concerns its caller only
                waiting.error = exc
                waiting.done.set()
                continue
            kept.append(waiting)
        return kept

    def _sign_and_commit(self, batch: list[_Waiting]) -> None:
        error: BaseException | None = None
        for _attempt in range(2):
            signed = [Authority._sign(w.plan, random_serial()) for w in batch]
            try:
                self.authority.store.add_certificates([(s.record, s.event) for s in signed])
            except DuplicateSerial as exc:
                error = exc
                continue  # nothing written: new serials
            except Exception as exc:
                error = exc
                break
            for waiting, result in zip(batch, signed, strict=True):
                waiting.issued = result.issued
                waiting.done.set()
            return
        for waiting in batch:
            waiting.error = error
            waiting.done.set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    n = args.threads
    csr = bench.bench_csr()
    with tempfile.TemporaryDirectory() as directory:
        authority = build_authority(Path(directory), synchronous="full")
        signing_only = FlatCombiner(authority, checks_on_combiner=False)
        everything = FlatCombiner(authority, checks_on_combiner=True)
        pipelined = FlatCombiner(authority, checks_on_combiner=True, committer=True)

        def today() -> None:
            authority.issue_from_csr(csr, profile="server", requested_by="bench")

        def on(combiner: FlatCombiner) -> Callable[[], None]:
            return lambda: combiner.issue_from_csr(csr, profile="server", requested_by="bench")

        paths = {
            f"raw, {n} threads": bench.raw_operation(csr, authority),
            f"today, {n} callers": today,
            "combiner signs and commits": on(signing_only),
            "combiner checks, signs, commits": on(everything),
            "... and a committer thread": on(pipelined),
        }
        best = dict.fromkeys(paths, 0.0)
        try:
            for _run in range(args.runs):
                for label, operation in paths.items():
                    best[label] = max(best[label], bench.run(operation, 1, n, args.seconds))
        finally:
            signing_only.stop()
            everything.stop()
            pipelined.stop()
            authority.close()
            authority.store.close()
    raw_rate = best[f"raw, {n} threads"]
    print(f"best of {args.runs} x {args.seconds:g} s, sqlite full, P-256 CA and CSR")
    for label, rate in best.items():
        print(f"  {label:<32} {rate:8,.0f}/s  {rate / raw_rate:5.0%} of raw with {n} threads")


if __name__ == "__main__":
    main()
