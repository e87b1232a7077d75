"""``GroupCommit.commit_async``: an event loop writes each batch's rows itself and hands
only the COMMIT to the committer thread, which answers the whole batch with one callback.

The store is the real SQLite one; its COMMITs are held at a gate while the test queues
more records, so that batches are formed deterministically. Nothing is timed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from albca.ca.clock import system_clock
from albca.ca.errors import DuplicateSerial, StoreUnavailable
from albca.ca.group_commit import GroupCommit, Pending
from albca.ca.records import AuditEvent, CertificateQuery, CertificateRecord
from albca.ca.stores.sqlite import OpenWrite, SqliteStore
from tests.factories import issue_event, make_record
from tests.lock_holders import LockHolder
from tests.loops import on_new_loop, until
from tests.open_writes import commit_through


class HeldCommits(SqliteStore):
    """The real store. Each ``try_write_certificates`` notes the thread that wrote the rows
    and the serials; the COMMIT then waits for ``gate``, notes its own thread, and fails
    with ``fail_with`` (rolled back) when that is set."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, synchronous="normal")
        self.gate = threading.Event()
        self.held = threading.Event()  # a COMMIT waits at the gate
        self.written_on: list[str] = []
        self.committed_on: list[str] = []
        self.batches: list[list[int]] = []
        self.fail_with: Exception | None = None

    def try_write_certificates(
        self, entries: Sequence[tuple[CertificateRecord, AuditEvent]]
    ) -> OpenWrite | None:
        written = super().try_write_certificates(entries)
        if written is None:
            return None
        self.written_on.append(threading.current_thread().name)
        self.batches.append([record.serial for record, _ in entries])
        return commit_through(written, self._before_commit)

    def _before_commit(self) -> Exception | None:
        self.held.set()
        assert self.gate.wait(30), "the test never opened the gate"
        self.committed_on.append(threading.current_thread().name)
        return self.fail_with


@pytest.fixture
def store(tmp_path):
    store = HeldCommits(tmp_path / "albca.db")
    yield store
    store.close()


@pytest.fixture
def committer():
    executor = ThreadPoolExecutor(1, thread_name_prefix="albca-commit")
    yield executor
    executor.shutdown(wait=True)


def queue(group: GroupCommit, serial: int) -> Pending:
    record = make_record(serial)
    return group.queue(record, issue_event(record), 1)


async def commit(group: GroupCommit, serial: int, committer: ThreadPoolExecutor) -> int:
    await group.commit_async(queue(group, serial), committer)
    return serial


def stored(store: SqliteStore) -> set[int]:
    page = store.query_certificates(CertificateQuery(limit=1000), system_clock())
    return {record.serial for record in page.records}


def test_the_loop_writes_the_rows_and_the_thread_only_commits(store, committer):
    group = GroupCommit(store)

    async def scenario() -> tuple[list[int], str]:
        first = asyncio.ensure_future(commit(group, 0x11, committer))
        await until(store.held.is_set)  # its COMMIT waits on the thread
        later = [asyncio.ensure_future(commit(group, serial, committer)) for serial in (0x12, 0x13)]
        # The loop keeps running meanwhile: these tasks queue, and nothing is answered
        # before its commit.
        await until(lambda: group.queued() == 2)
        assert not any(task.done() for task in [first, *later])
        assert stored(store) == set()
        store.gate.set()
        return list(await asyncio.gather(first, *later)), threading.current_thread().name

    serials, loop_thread = on_new_loop(scenario)
    assert serials == [0x11, 0x12, 0x13]
    assert store.batches == [[0x11], [0x12, 0x13]]  # the second queued during the first
    assert store.written_on == [loop_thread, loop_thread]
    assert all(name.startswith("albca-commit") for name in store.committed_on)
    assert stored(store) == {0x11, 0x12, 0x13}


def test_a_failed_commit_fails_every_task_of_its_batch_and_frees_the_store(store, committer):
    group = GroupCommit(store)
    store.fail_with = StoreUnavailable("certificate store failed to write: disk I/O error")

    async def scenario() -> list[Any]:
        first = asyncio.ensure_future(commit(group, 0x21, committer))
        await until(store.held.is_set)
        later = [asyncio.ensure_future(commit(group, serial, committer)) for serial in (0x22, 0x23)]
        await until(lambda: group.queued() == 2)
        store.gate.set()
        return list(await asyncio.gather(first, *later, return_exceptions=True))

    outcomes = on_new_loop(scenario)
    assert [type(each) for each in outcomes] == [StoreUnavailable] * 3
    assert all("disk I/O error" in str(each) for each in outcomes)
    assert stored(store) == set()
    # Rolled back and unlocked: the next write goes through at once.
    store.fail_with = None
    assert store.try_add_certificates([(make_record(0x24), issue_event(make_record(0x24)))])
    assert stored(store) == {0x24}


def test_a_taken_serial_in_a_batch_fails_only_its_task(store, committer):
    store.add_certificate(make_record(0x32), issue_event(make_record(0x32)))
    group = GroupCommit(store)
    store.gate.set()

    async def scenario() -> list[Any]:
        pendings = [queue(group, serial) for serial in (0x31, 0x32, 0x33)]
        return list(
            await asyncio.gather(
                *(group.commit_async(p, committer) for p in pendings), return_exceptions=True
            )
        )

    outcomes = on_new_loop(scenario)
    assert outcomes[0] is None
    assert outcomes[2] is None
    assert isinstance(outcomes[1], DuplicateSerial)
    # The batch of three was refused whole on the loop (nothing of it written), then
    # written one at a time on the thread.
    assert store.batches == []
    assert stored(store) == {0x31, 0x32, 0x33}
    assert len(store.audit_events(serial=0x32)) == 1


def test_a_task_queued_behind_a_threads_commit_is_committed_after_it(tmp_path, committer):
    """A thread in ``wait`` (a library caller, an Idempotency-Key request) commits while a
    task of the loop queues: when that commit ends, the loop is woken to commit the task's
    record, which no thread will."""
    inner = SqliteStore(tmp_path / "albca.db", synchronous="normal")
    thread_commits = threading.Event()
    release = threading.Event()

    class HeldAdd:
        batch_limit = inner.batch_limit
        batch_bytes = inner.batch_bytes

        def add_certificates(self, entries: Sequence[tuple[CertificateRecord, AuditEvent]]):
            thread_commits.set()
            assert release.wait(30)
            inner.add_certificates(entries)

        def add_certificate(self, record: CertificateRecord, event: AuditEvent) -> None:
            self.add_certificates([(record, event)])

        def try_write_certificates(self, entries):
            return inner.try_write_certificates(entries)

    group = GroupCommit(HeldAdd())  # type: ignore[arg-type]

    async def scenario() -> int:
        thread = threading.Thread(target=group.wait, args=(queue(group, 0x41),))
        thread.start()
        await until(thread_commits.is_set)  # the thread's commit is running
        task = asyncio.ensure_future(commit(group, 0x42, committer))
        await until(lambda: group.queued() == 1)
        assert not task.done()
        release.set()
        serial = await asyncio.wait_for(task, 30)
        thread.join(30)
        return serial

    try:
        assert on_new_loop(scenario) == 0x42
        assert stored(inner) == {0x41, 0x42}
    finally:
        inner.close()


def test_a_store_with_no_split_write_commits_on_the_thread(tmp_path, committer):
    """DynamoDB's store has no ``try_write_certificates``: the whole commit runs on the
    committer thread."""
    inner = SqliteStore(tmp_path / "albca.db", synchronous="normal")
    threads: list[str] = []

    class WholeCommits:
        batch_limit = inner.batch_limit
        batch_bytes = inner.batch_bytes

        def add_certificates(self, entries: Sequence[tuple[CertificateRecord, AuditEvent]]):
            threads.append(threading.current_thread().name)
            inner.add_certificates(entries)

        def add_certificate(self, record: CertificateRecord, event: AuditEvent) -> None:
            self.add_certificates([(record, event)])

    group = GroupCommit(WholeCommits())  # type: ignore[arg-type]

    async def scenario() -> list[int]:
        return list(await asyncio.gather(*(commit(group, s, committer) for s in (0x51, 0x52))))

    try:
        assert on_new_loop(scenario) == [0x51, 0x52]
        assert threads
        assert all(name.startswith("albca-commit") for name in threads)
        assert stored(inner) == {0x51, 0x52}
    finally:
        inner.close()


def test_while_another_process_writes_the_thread_waits_and_commits_the_whole_batch(
    store, committer
):
    """Another process (a second ``serve`` worker, ``albca crl``) holds the store: the loop
    cannot write, the thread runs the whole commit, waiting for the store, while the loop
    keeps running; tasks that queue meanwhile go in the next batch."""
    group = GroupCommit(store)
    store.gate.set()
    threads: list[str] = []
    add_certificates = store.add_certificates

    def noted_add(entries: Sequence[tuple[CertificateRecord, AuditEvent]]) -> None:
        threads.append(threading.current_thread().name)
        add_certificates(entries)

    store.add_certificates = noted_add  # type: ignore[method-assign]

    async def scenario() -> list[int]:
        with LockHolder("lock-file", store.path.with_name("albca.db.lock")) as holder:
            first = asyncio.ensure_future(commit(group, 0x61, committer))
            await until(lambda: group.queued() == 0 and not first.done())  # on the thread
            later = [asyncio.ensure_future(commit(group, s, committer)) for s in (0x62, 0x63)]
            await until(lambda: group.queued() == 2)
            assert not any(task.done() for task in [first, *later])
            assert stored(store) == set()
            holder.release()
            return list(await asyncio.wait_for(asyncio.gather(first, *later), 30))

    assert on_new_loop(scenario) == [0x61, 0x62, 0x63]
    assert threads
    assert all(name.startswith("albca-commit") for name in threads)  # the first batch
    assert stored(store) == {0x61, 0x62, 0x63}
