"""Group commit: the records of concurrent issuers committed together, in one transaction.

One commit costs more than signing a certificate (an fsync under ``synchronous=full``:
0.2-4 ms here, against about 0.25 ms of crypto), so callers that commit one by one queue
behind each other's fsyncs. Here each caller queues its record; a caller that finds no
commit running commits *every* record queued by then (up to the store's ``batch_limit``
and ``batch_bytes``) and then wakes every waiting caller; a caller whose record it
committed returns, the others start the next batch. With one caller nothing changes: it
commits its own record itself, with no hand-off. It is the leader/follower scheme of
database logs (MySQL's binary log group commit), without any added delay: a batch is
whatever queued while the previous commit ran.

What it keeps:
- a caller returns only once its record is committed, or raises: no certificate is handed
  out without its record;
- a batch that fails to commit fails every caller in it with the same error (nothing of it
  was written: ``add_certificates`` is all or nothing);
- a duplicate serial in a batch (a chosen serial already held, or two callers retrying one
  Idempotency-Key in the same batch) fails only the caller whose serial it is: the batch is
  committed again without that record, and exactly that caller gets ``DuplicateSerial``;
  so does an Idempotency-Key claimed already (``IdempotencyKeyTaken``: a retry of the same
  request, committed before it or earlier in the batch, or another request's).

Callers announce themselves while they sign (``signing``): a caller about to commit waits
for those, bounded by their signing and not by a timer, so that concurrent callers' records
share one commit. Without it a commit that is quick next to signing (``synchronous=normal``,
a fast disk) took one record at a time, and each record paid for its own transaction's
pages: measured, four concurrent callers were no faster than one.

Not waiting for callers that began signing after the last commit ended, so that they sign
while the next one fsyncs (a pipeline), was measured and not kept (issue 17): four threads
of one process take turns on the GIL, and the committing thread then waits for it after
each SQLite statement while the others sign; its commits took 1.0-1.4 ms instead of
0.8-0.9, the batches were smaller, and the rate was the same (a median of 1,470 a second
for both, five interleaved runs, ``synchronous=full``) at more CPU per certificate. Nor
did waking each caller on a lock of its own instead of ``notify_all`` change the rate.

Concurrent callers on threads no longer sign on their own threads and ``wait``: the
second and later go through the issuing thread (``ca.issuing_thread``), which signs for
them all and starts their batches as an event loop does (``start_parked_batch``); their
records are parked (``Pending.parked``), each caller blocked on a lock of its own that the
commit releases. ``wait`` remains for a lone caller and for whatever it finds queued.

``try_commit`` is the same commit for an event loop, where waiting is not allowed: it
commits the queue there and then when no commit is running and the store can start writing
at once (``try_add_certificates``: the SQLite store's writer lock is free), and otherwise
leaves the records queued for ``wait`` on a thread. A lone request so skips the hand-off
to a thread and back, the largest cost after the crypto at one client (issue 17).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Protocol

from albca.ca.errors import DuplicateSerial, IdempotencyKeyTaken
from albca.ca.records import AuditEvent, CertificateRecord
from albca.ca.stores.protocol import CertificateStore

__all__ = ["GroupCommit", "Pending"]

TryAdd = Callable[[Sequence[tuple[CertificateRecord, AuditEvent]]], bool]
"""A store's ``try_add_certificates``: writes and returns True, or writes nothing and
returns False when it would have to wait for another writer."""

# A write refused for one record of a batch: nothing of the batch was written, and the
# batch is written again without that record, so that only its caller fails (``_commit``).
_ONE_RECORD_CONFLICTS = (DuplicateSerial, IdempotencyKeyTaken)


class OpenWrite(Protocol):
    """Records written in a transaction not yet committed (``SqliteStore.OpenWrite``)."""

    def commit(self) -> None: ...

    def roll_back(self) -> None: ...


TryWrite = Callable[[Sequence[tuple[CertificateRecord, AuditEvent]]], OpenWrite | None]
"""A store's ``try_write_certificates``: the rows written in an open transaction, or None
with nothing written when it would have to wait for another writer."""


@dataclass(eq=False)
class Pending:
    """A record in line for a commit; ``done`` once its batch committed or failed."""

    record: CertificateRecord
    event: AuditEvent
    weight: int  # about the bytes the record takes in the store (``batch_bytes``)
    done: bool = False
    error: BaseException | None = field(default=None, repr=False)
    # Set by ``commit_async`` (under the queue lock) while a task of an event loop awaits
    # it; settled on that loop once the record's batch is done.
    future: asyncio.Future[None] | None = field(default=None, repr=False)
    # Held (acquired) by a caller parked on it (``ca.issuing_thread``); released once done.
    parked: threading.Lock | None = field(default=None, repr=False)

    @property
    def committed_elsewhere(self) -> bool:
        """Whether no thread of its own waits in ``wait`` to commit it: a task of an event
        loop or a parked caller awaits it, and ``start_batch`` must take it."""
        return self.future is not None or self.parked is not None


class GroupCommit:
    def __init__(self, store: CertificateStore) -> None:
        self._store = store
        self._queue: deque[Pending] = deque()
        self._queue_lock = threading.Lock()
        # Notified when a batch is done: every caller waiting wakes at once and sees whether
        # its record was in it (rather than waking one by one through a lock).
        self._batch_done = threading.Condition(self._queue_lock)
        self._committing = False
        self._signing = 0  # callers inside ``signing``: about to queue a record
        self._signing_context = _Signing(self)
        self._committer: Executor | None = None  # the thread of ``start_batch``'s COMMITs
        # Called when a parked record (``Pending.parked``) waits in the queue with no
        # batch started for it: the issuing thread then starts one (``ca.issuing_thread``).
        self.parked_waiting: Callable[[], None] | None = None

    def signing(self) -> _Signing:
        """Around a caller's checks and signing, ending once it has queued its record (or
        failed): commits wait for it meanwhile. Never ``wait`` inside: a caller counted
        here would wait for itself."""
        return self._signing_context

    def _signing_started(self) -> None:
        with self._queue_lock:
            self._signing += 1

    def _signing_ended(self) -> None:
        with self._queue_lock:
            self._signing -= 1
            if self._signing == 0:
                self._batch_done.notify_all()  # a caller may be waiting to commit

    def commit(self, record: CertificateRecord, event: AuditEvent, weight: int) -> None:
        """Commit ``record`` with its ``event``, alone or with others' records queued now."""
        self.wait(self.queue(record, event, weight))

    def queue(self, record: CertificateRecord, event: AuditEvent, weight: int) -> Pending:
        """Put a record in line for the next commit; ``wait`` for it then."""
        return self.enqueue(Pending(record, event, weight))

    def enqueue(self, pending: Pending) -> Pending:
        """``queue`` for a record already made a ``Pending`` (a parked one, whose caller
        must hold it before a commit can release it)."""
        with self._queue_lock:
            self._queue.append(pending)
        return pending

    def wait(self, pending: Pending) -> None:
        """Return once ``pending`` is committed, committing the queue if no one else is;
        raise what its batch's commit raised (``DuplicateSerial`` when its serial is
        taken)."""
        with self._batch_done:
            while not pending.done:
                if self._committing or self._others_coming():
                    self._batch_done.wait()
                    continue
                self._committing = True
                batch = self._take_batch()
                self._queue_lock.release()
                try:
                    self._commit(batch)
                except BaseException as exc:  # not a store's error (``_commit`` keeps those)
                    _finish(batch, exc)  # its callers must not wait for a commit never made
                    raise
                finally:
                    self._queue_lock.acquire()
                    self._committing = False
                    self._batch_done.notify_all()
                    self._settle_elsewhere(batch)
        if pending.error is not None:
            raise pending.error

    def try_commit(self, pending: Pending) -> bool:
        """Commit the queue (``pending`` with it) here, without waiting for anything: True
        once ``pending`` is done (``wait`` then returns at once, or raises its error).
        False, with everything still queued, when a commit is running, the store has no
        ``try_add_certificates``, or another writer holds the store."""
        try_add: TryAdd | None = getattr(self._store, "try_add_certificates", None)
        if try_add is None:
            return False  # a store whose writes wait on the network (DynamoDB)
        with self._queue_lock:
            if pending.done:
                return True
            if self._committing or self._others_coming():
                return False
            self._committing = True
            batch = self._take_batch()
        handled = False
        try:
            handled = self._try_commit(batch, try_add)
        finally:
            with self._queue_lock:
                if not handled:
                    self._queue.extendleft(reversed(batch))  # in line again, in order
                self._committing = False
                self._batch_done.notify_all()
                self._settle_elsewhere(batch if handled else [])
        return pending.done

    # -- for an event loop ---------------------------------------------------------------
    async def commit_async(self, pending: Pending, committer: Executor) -> None:
        """``wait`` for a task of an event loop: return once ``pending`` is committed, or
        raise what its batch's commit raised, without blocking the loop.

        The loop drives the commits: when none is running it takes the queue as a batch,
        writes its rows itself (``try_write_certificates``: never waiting for another
        writer) and hands only the COMMIT, the fsync, to ``committer`` (one thread). That
        thread then posts one callback back to the loop, which settles every task of the
        batch and starts the next batch from what queued during the fsync. One hand-off to
        the thread and one back per batch, not per request, and the thread runs one SQLite
        call instead of each of the batch's statements. Before, each request's wait went
        to the thread on its own, and the thread took the GIL back from the loop after
        every statement (issue 17). When the store has no ``try_write_certificates``
        (DynamoDB: its writes wait on the network) or another writer holds it, the whole
        commit runs on the thread, waiting there as ``wait`` does."""
        loop = asyncio.get_running_loop()
        with self._queue_lock:
            if not pending.done:
                future = pending.future = loop.create_future()
        if pending.done:
            if pending.error is not None:
                raise pending.error
            return
        self._committer = committer
        self.start_batch()
        await future

    def start_parked_batch(self, committer: Executor, *, wait: bool = False) -> None:
        """For the issuing thread (``ca.issuing_thread``), once it has queued parked
        records: ``start_batch``, after the commit running when ``wait``. Without ``wait``
        a running commit leaves them queued, and its end calls ``parked_waiting``."""
        with self._batch_done:
            while wait and self._committing:
                self._batch_done.wait()
            self._committer = committer
        self.start_batch()

    def start_batch(self) -> None:
        """Take the queue as the next batch, unless a commit is running (its end calls this
        again) or the queue holds no record committed elsewhere (threads in ``wait`` commit
        their own); write its rows here, on the event loop or the issuing thread, and hand
        its COMMIT to the committer thread. When the store cannot be written at once
        (another process holds it), the committer runs the whole commit, waiting as
        ``wait`` does.

        The thread never holds the writers' lock on the loop's behalf while waiting for
        the loop: the loop may itself wait for that lock (a refusal's audit event is
        written there), and would then wait for itself. (A first version had the thread
        wait for another process's turn and hand it to the loop; it deadlocked so, and
        measured no faster at two workers.)"""
        with self._queue_lock:
            if self._committing or not any(p.committed_elsewhere for p in self._queue):
                return
            self._committing = True
            batch = self._take_batch()
        try:
            written = self._write_open(batch)
            if batch[0].done:  # failed on the loop already
                self._batch_ended(batch)
                return
            assert self._committer is not None  # set before by whoever calls this
            try:
                self._committer.submit(self._commit_on_thread, batch, written)
            except RuntimeError as exc:  # the committer is shut down (``Authority.close``)
                if written is not None:
                    written.roll_back()
                _finish(batch, exc)
                self._batch_ended(batch)
        except BaseException as exc:  # a defect: its callers must not wait forever
            if not batch[0].done:
                _finish(batch, exc)
                self._batch_ended(batch)
            raise

    def _write_open(self, batch: list[Pending]) -> OpenWrite | None:
        """The batch's rows written in a transaction left open; None, with nothing
        written, when the store cannot (another writer holds it, it has no such write,
        or a serial is taken: the thread then writes the batch one record at a time)."""
        try_write: TryWrite | None = getattr(self._store, "try_write_certificates", None)
        if try_write is None:
            return None
        try:
            return try_write([(p.record, p.event) for p in batch])
        except _ONE_RECORD_CONFLICTS as conflict:
            if len(batch) == 1:
                _finish(batch, conflict)
        except Exception as exc:
            _finish(batch, exc)  # rolled back: nothing of it was written
        return None

    def _commit_on_thread(self, batch: list[Pending], written: OpenWrite | None) -> None:
        try:
            if written is None:
                self._commit(batch)  # the whole commit, waiting for the writers' lock
            else:
                try:
                    written.commit()
                except Exception as exc:
                    _finish(batch, exc)  # rolled back: nothing of it was written
                else:
                    _finish(batch, None)
        except BaseException as exc:
            _finish(batch, exc)  # its callers must not wait for a commit never made
            raise
        finally:
            self._batch_ended(batch)

    def _batch_ended(self, batch: list[Pending]) -> None:
        """After a batch of ``start_batch``, on whichever thread: let the next
        commit start, settle the batch's tasks and start the next batch on their loop."""
        with self._queue_lock:
            self._committing = False
            self._batch_done.notify_all()
            by_loop: dict[asyncio.AbstractEventLoop, list[Pending]] = {}
            for pending in batch:
                if pending.future is not None:
                    by_loop.setdefault(pending.future.get_loop(), []).append(pending)
            # The batch's loops start the next batch once they settled it (``_settled_on_loop``);
            # without one, wake whoever starts it for a record still queued.
            self._wake_starters(loops=not by_loop)
        for loop, awaited in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody awaits
                loop.call_soon_threadsafe(self._settled_on_loop, awaited)

    def _settled_on_loop(self, batch: list[Pending]) -> None:
        _settle(batch)
        self.start_batch()

    def _settle_elsewhere(self, batch: list[Pending]) -> None:
        """After a commit by ``wait`` or ``try_commit`` (under ``_queue_lock``): settle the
        tasks on event loops whose records were in ``batch``, and wake whoever starts the
        batch of a record still queued and committed elsewhere (its loop, or the issuing
        thread), which waits for a batch nobody else will start."""
        for pending in batch:
            future = pending.future
            if future is not None:
                with contextlib.suppress(RuntimeError):
                    future.get_loop().call_soon_threadsafe(_settle, [pending])
        self._wake_starters()

    def _wake_starters(self, *, loops: bool = True) -> None:
        """After a commit (under ``_queue_lock``): wake whoever starts the batch of a record
        still queued and committed elsewhere, which nobody else will start: the loop of the
        first one awaited on a loop (when ``loops``), and the issuing thread when a parked
        one waits. Either of them starting the batch takes the whole queue."""
        loop_woken, parked_woken = not loops, self.parked_waiting is None
        for pending in self._queue:
            future = pending.future
            if future is not None and not loop_woken:
                with contextlib.suppress(RuntimeError):
                    future.get_loop().call_soon_threadsafe(self.start_batch)
                loop_woken = True
            elif pending.parked is not None and not parked_woken:
                assert self.parked_waiting is not None
                self.parked_waiting()
                parked_woken = True
            if loop_woken and parked_woken:
                return

    def _others_coming(self) -> bool:
        """Callers are signing, and the next batch has room for them. Under ``_queue_lock``."""
        return self._signing > 0 and len(self._queue) < self._store.batch_limit

    def _try_commit(self, batch: list[Pending], try_add: TryAdd) -> bool:
        """``_commit`` through ``try_add``: False when nothing was written and every record
        of ``batch`` is to be committed by ``wait``."""
        try:
            written = try_add([(p.record, p.event) for p in batch])
        except _ONE_RECORD_CONFLICTS as conflict:
            if len(batch) > 1:
                return False  # ``_commit`` writes it again without the record refused
            _finish(batch, conflict)
            return True
        except Exception as exc:
            _finish(batch, exc)  # nothing of it was written, as in ``_commit``
            return True
        if written:
            _finish(batch, None)
        return written

    def parked_queued(self) -> bool:
        """Whether a parked record (``ca.issuing_thread``) waits for a batch."""
        with self._queue_lock:
            return any(p.parked is not None for p in self._queue)

    def queued(self) -> int:
        """Records waiting for a commit (not yet taken into one)."""
        with self._queue_lock:
            return len(self._queue)

    def _take_batch(self) -> list[Pending]:
        """The oldest records queued, within the store's batch limits; a record with a
        serial already in the batch waits for the next one (it is a retry of the same
        Idempotency-Key, and will find its certificate committed). Under ``_queue_lock``."""
        batch: list[Pending] = []
        serials: set[int] = set()
        weight = 0
        deferred: list[Pending] = []
        while self._queue and len(batch) < self._store.batch_limit:
            candidate = self._queue[0]
            if batch and weight + candidate.weight > self._store.batch_bytes:
                break
            self._queue.popleft()
            if candidate.record.serial in serials:
                deferred.append(candidate)
                continue
            batch.append(candidate)
            serials.add(candidate.record.serial)
            weight += candidate.weight
        self._queue.extendleft(reversed(deferred))
        return batch

    def _commit(self, batch: list[Pending]) -> None:
        # Records a conflict refused, answered only once the rest of their batch has its
        # outcome: the claim that beat one may be in that rest, and its caller looks it up.
        refused: list[tuple[Pending, Exception]] = []
        while batch:
            try:
                if len(batch) == 1:
                    self._store.add_certificate(batch[0].record, batch[0].event)
                else:
                    self._store.add_certificates([(p.record, p.event) for p in batch])
            except _ONE_RECORD_CONFLICTS as conflict:
                # Nothing was written. The record it names is refused; the rest of the
                # batch is written again together, not one record at a time: a retry of
                # one Idempotency-Key must not cost every other caller a commit of its own.
                named = [p for p in batch if p.record.serial == conflict.serial]
                if not named and len(batch) > 1:  # no record named: one at a time
                    for pending in batch:
                        self._commit([pending])
                    break
                culprit = named[-1] if named else batch[0]  # the first of a serial stays
                refused.append((culprit, conflict))
                batch = [p for p in batch if p is not culprit]
                continue
            except Exception as exc:
                # Nothing of the batch was written (all or nothing): each caller raises this
                # error, a StoreUnavailable saying why, or a defect's own exception.
                _finish(batch, exc)
                break
            _finish(batch, None)
            break
        for pending, refusal in refused:
            if all(p.error is None for p in batch):
                _finish([pending], refusal)  # what beat it is on record
            else:
                self._commit([pending])  # what beat it may not be: written alone, again


class _Signing:
    """``GroupCommit.signing``: a plain class, as it runs three times per certificate
    (``contextlib.contextmanager`` costs a generator each time). It holds no state of its
    own, so one serves every thread."""

    def __init__(self, group: GroupCommit) -> None:
        self._group = group

    def __enter__(self) -> None:
        self._group._signing_started()

    def __exit__(self, *_: object) -> None:
        self._group._signing_ended()


def _finish(batch: list[Pending], error: BaseException | None) -> None:
    for pending in batch:
        if pending.done:
            # Settled already (``wait`` fails a batch it was committing one record at a time
            # with what interrupted it): its outcome stands, its parked lock is released.
            continue
        pending.error = error
        pending.done = True
        if pending.parked is not None:
            pending.parked.release()  # its caller returns (``ca.issuing_thread``)


def _settle(batch: list[Pending]) -> None:
    """On the futures' loop: each task of ``batch`` returns, or raises its batch's error. A
    task no longer waiting (cancelled: its client left) has nothing to settle; its record
    is committed all the same."""
    for pending in batch:
        future = pending.future
        if future is None or future.done():
            continue
        if pending.error is None:
            future.set_result(None)
        else:
            future.set_exception(pending.error)
