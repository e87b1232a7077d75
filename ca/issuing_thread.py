"""Concurrent library callers' certificates checked, signed and written by one thread.

``Authority.issue`` from several threads at once (a library caller's pool, the API's
Idempotency-Key requests) used to check and sign on each caller's own thread and commit
together (``ca.group_commit``). Measured (issue 17, ``bench/library_issuance.py``, 2
cores): four callers made 46-52% of the raw cryptography rate, no more than one caller.
The four threads took turns on the GIL at every call into OpenSSL and SQLite (each
releases it), and a batch's commit of four records took 0.9 ms instead of 0.3: the
committing thread waited for the GIL after each statement while the others signed.

Here a caller that finds another issuance in flight hands its request to one issuing
thread and parks on a lock of its own. That thread drains every request handed to it,
checks and signs them one after the other (as ``issue_batches`` does), queues their
records and writes their rows in a transaction left open, then hands only the COMMIT, the
fsync, to the committer thread and goes on with the requests that came meanwhile. The
committer releases each parked caller once its record is committed (or its batch failed).
So signing overlaps the fsync, and the GIL changes hands a few times per batch instead of
at every step. The hand-offs are C-level (``queue.SimpleQueue``, a ``threading.Lock`` per
caller): a ``threading.Event`` or a ``Condition`` costs Python code on both sides, which
measured 63% where these measured 72-74% in a prototype (``bench/library_flat_combining.py``
and its variants).

A caller alone keeps the direct path (``Authority._issue``): the hand-off to this thread
and back costs more than it saves with nothing to overlap.

What it keeps, as the direct path does: a caller returns only once its record is
committed, or raises; a refusal (a check that fails) is raised to its own caller only;
a batch whose commit fails fails every caller in it (``GroupCommit``); a taken serial
fails only its caller, who then signs again on its own thread (``Authority._issue``).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, Generic, Protocol, TypeVar

from albca.ca.group_commit import GroupCommit, Pending
from albca.ca.records import AuditEvent, CertificateRecord

__all__ = ["IDLE_EXIT_S", "IssuingThread", "Signed"]

#: An issuing thread with nothing handed over for this long ends; the next concurrent
#: caller starts another. It holds its authority (the store, its connections) while it
#: runs, so an authority never closed is freed this long after its last concurrent use.
IDLE_EXIT_S = 5.0

_log = logging.getLogger(__name__)


class Signed(Protocol):
    """What a request becomes on the issuing thread: a record to commit (``_Signed``)."""

    @property
    def record(self) -> CertificateRecord: ...

    @property
    def event(self) -> AuditEvent: ...

    @property
    def weight(self) -> int: ...


S = TypeVar("S", bound=Signed)


class _Handed(Generic[S]):
    """One caller's request, and what the issuing thread hands back."""

    __slots__ = ("error", "parked", "pending", "sign", "signed")

    def __init__(self, sign: Callable[[Any], S]) -> None:
        self.sign = sign
        self.signed: S | None = None
        self.pending: Pending | None = None
        self.error: BaseException | None = None
        # Acquired here, released by the issuing thread when ``sign`` fails, else by the
        # commit of the record (``group_commit._finish``): the caller blocks on it in C.
        self.parked = threading.Lock()
        self.parked.acquire()


_WAKE = None  # put in the requests: a parked record waits for a batch (or: stop)


class IssuingThread:
    """The thread; started at once, stopped by ``stop``."""

    def __init__(
        self,
        group_commit: GroupCommit,
        committer: Callable[[], Executor],
        context: Callable[[], object],
    ) -> None:
        self._group = group_commit
        # Asked for at each batch, not kept: ``Authority.close`` shuts the committer down
        # and a later commit makes a new one (``Authority._commit_thread``).
        self._committer = committer
        # Made once for every request signed together, and passed to each ``sign``: the
        # issuing CA (``Authority._leaf_template``), read once a batch as ``issue_batches``
        # reads it, not once a request (a read of the store, and a release of the GIL).
        self._context = context
        self._requests: queue.SimpleQueue[_Handed[Signed] | None] = queue.SimpleQueue()
        # Taken around handing a request over and around stopping: whatever was handed
        # over before the stop's wake-up is signed and committed before the thread ends.
        self._accepting = threading.Lock()
        self._stopping = False
        group_commit.parked_waiting = self._wake
        self._thread = threading.Thread(target=self._run, name="albca-issue", daemon=True)
        self._thread.start()

    def issue(self, sign: Callable[[Any], S]) -> tuple[S, Pending] | None:
        """Run ``sign`` (check and sign one certificate, given the ``context`` of its batch)
        on the issuing thread, queue its record and return once that record's batch is
        done: the signed result and its ``Pending`` (``done``; its ``error`` set when the
        commit failed). Raises what ``sign`` raised. None, with nothing done, once the
        thread is stopping or gone: the caller then issues on its own thread."""
        handed: _Handed[S] = _Handed(sign)
        with self._accepting:
            # Not alive: in a child of ``os.fork`` (only the forking thread goes on there),
            # a request handed over would wait for ever.
            if self._stopping or not self._thread.is_alive():
                return None
            self._requests.put(handed)  # type: ignore[arg-type]  # the queue holds any S
        handed.parked.acquire()
        if handed.error is not None:
            raise handed.error
        assert handed.signed is not None
        assert handed.pending is not None
        return handed.signed, handed.pending

    @property
    def stopped(self) -> bool:
        """Whether it takes no more requests (stopped, idle too long, or gone)."""
        return self._stopping or not self._thread.is_alive()

    def stop(self) -> None:
        """Stop after the requests already handed over."""
        with self._accepting:
            self._stopping = True
            self._requests.put(_WAKE)
        self._thread.join()
        if self._group.parked_waiting == self._wake:
            self._group.parked_waiting = None

    def _wake(self) -> None:
        self._requests.put(_WAKE)

    def _run(self) -> None:
        requests = self._requests
        while True:
            try:
                first = requests.get(timeout=IDLE_EXIT_S)
            except queue.Empty:
                if self._ended_idle():
                    return
                continue
            handed = [] if first is None else [first]
            while True:  # every request handed over by now goes in this batch
                try:
                    more = requests.get_nowait()
                except queue.Empty:
                    break
                if more is not None:
                    handed.append(more)
            if handed:
                with self._group.signing():
                    self._sign_and_queue_all(handed)
            stopping = self._stopping and requests.empty()
            try:
                # While a commit runs, this thread goes on signing what is handed over;
                # the commit's end wakes it (``parked_waiting``) to start the next batch.
                self._group.start_parked_batch(self._committer())
                while stopping and self._group.parked_queued():  # none left behind
                    self._group.start_parked_batch(self._committer(), wait=True)
            except Exception:  # a defect: the batch's callers were released with it
                _log.exception("the issuing thread failed to start a commit")
            if stopping:
                return

    def _ended_idle(self) -> bool:
        """After ``IDLE_EXIT_S`` with nothing handed over: stop taking requests and end,
        unless one came meanwhile or a parked record still waits for a batch."""
        with self._accepting:
            if not self._requests.empty() or self._group.parked_queued():
                return False
            self._stopping = True
        if self._group.parked_waiting == self._wake:
            self._group.parked_waiting = None
        return True

    def _sign_and_queue_all(self, requests: list[_Handed[Signed]]) -> None:
        try:
            context = self._context()
        except BaseException as exc:  # no active CA, the store down: each caller raises it
            for request in requests:
                request.error = exc
                request.parked.release()
            return
        for request in requests:
            self._sign_and_queue(request, context)

    def _sign_and_queue(self, request: _Handed[Signed], context: object) -> None:
        try:
            signed = request.sign(context)
            pending = Pending(signed.record, signed.event, signed.weight, parked=request.parked)
        except BaseException as exc:  # a refusal, or a defect: its caller raises it
            request.error = exc
            request.parked.release()
            return
        # Both set before the record is queued: its commit may release the caller at once.
        request.signed, request.pending = signed, pending
        self._group.enqueue(pending)
