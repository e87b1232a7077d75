"""Concurrent ``Authority.issue`` callers through the issuing thread (``ca.issuing_thread``):
their requests are checked and signed on that one thread, their rows written there, the
COMMIT run on the committer thread, and each parked caller released with its own result.

The store is the real SQLite one. Every commit waits at a gate until the test opens it: a
first caller is held there, in flight, so that the callers started next are concurrent
and go to the issuing thread, where they queue behind that commit. Nothing is timed.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import textwrap
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from albca.ca import issuing_thread
from albca.ca.authority import Authority, IssueRequest
from albca.ca.clock import system_clock
from albca.ca.csr import parse_csr
from albca.ca.errors import CertificateNotFound, DuplicateSerial, PolicyViolation, StoreUnavailable
from albca.ca.group_commit import Pending, _finish
from albca.ca.issued import IssuedCertificate
from albca.ca.issuing_thread import IssuingThread
from albca.ca.policy import NamePolicy
from albca.ca.records import AuditEvent, CertificateQuery, CertificateRecord
from albca.ca.stores.sqlite import OpenWrite, SqliteStore
from tests.authorities import build_authority
from tests.crash_scripts import run_until_killed
from tests.factories import ec_key, issue_event, make_csr, make_record
from tests.loops import on_new_loop, until, wait_until
from tests.open_writes import commit_through

ISSUING_THREAD = "albca-issue"


class Held(SqliteStore):
    """The real store; every commit waits for ``gate`` and fails with ``fail_with`` (rolled
    back) when that is set. It notes the thread and serials of each direct commit
    (``add_certificates``), and of each split one: the thread that wrote the rows
    (``try_write_certificates``) and the one that ran its COMMIT."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, synchronous="normal")
        self.gate = threading.Event()
        self.held = threading.Event()  # a commit waits at the gate
        self.direct: list[tuple[str, list[int]]] = []
        self.written: list[tuple[str, list[int]]] = []
        self.committed_on: list[str] = []
        self.fail_with: Exception | None = None

    def _at_gate(self) -> None:
        self.held.set()
        assert self.gate.wait(30), "the test never opened the gate"

    def add_certificates(self, entries: Sequence[tuple[CertificateRecord, AuditEvent]]) -> None:
        self._at_gate()
        self.direct.append((_thread(), [record.serial for record, _ in entries]))
        if self.fail_with is not None:
            raise self.fail_with
        super().add_certificates(entries)

    def try_write_certificates(
        self, entries: Sequence[tuple[CertificateRecord, AuditEvent]]
    ) -> OpenWrite | None:
        written = super().try_write_certificates(entries)
        if written is None:
            return None
        self.written.append((_thread(), [record.serial for record, _ in entries]))
        return commit_through(written, self._before_commit)

    def _before_commit(self) -> Exception | None:
        self._at_gate()
        self.committed_on.append(_thread())
        return self.fail_with


def _thread() -> str:
    return threading.current_thread().name


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Authority, Held]]:
    store = Held(tmp_path / "albca.db")
    authority = build_authority(tmp_path, store=store)
    yield authority, store
    store.gate.set()
    authority.close()
    store.close()


class Callers:
    """Caller threads, and what each got: its certificate or its exception, by name."""

    def __init__(self) -> None:
        self.results: dict[str, IssuedCertificate | BaseException] = {}
        self._threads: list[threading.Thread] = []

    def start(self, name: str, call: Callable[[], IssuedCertificate]) -> None:
        def run() -> None:
            try:
                self.results[name] = call()
            except BaseException as exc:
                self.results[name] = exc

        thread = threading.Thread(target=run, name=f"caller-{name}")
        thread.start()
        self._threads.append(thread)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=60)
            assert not thread.is_alive(), f"{thread.name} never returned"

    def issued(self, name: str) -> IssuedCertificate:
        result = self.results[name]
        assert isinstance(result, IssuedCertificate), f"{name}: {result!r}"
        return result


def issue(authority: Authority, name: str, **options: Any) -> Callable[[], IssuedCertificate]:
    csr = make_csr(ec_key(), common_name=name, dns_names=(name,))
    return lambda: authority.issue_from_csr(
        csr, profile="server", requested_by=f"test {name}", **options
    )


def first_caller_held(authority: Authority, store: Held, callers: Callers) -> None:
    """A lone caller, committing on its own thread, held at the gate: in flight."""
    callers.start("first.svc.internal", issue(authority, "first.svc.internal"))
    assert store.held.wait(30)


def queued_behind_held_commit(
    authority: Authority, store: Held, calls: dict[str, Callable[[], IssuedCertificate]]
) -> Callers:
    """``first_caller_held``, then ``calls`` started: concurrent, so on the issuing thread,
    which signs them and queues their records behind the held commit."""
    callers = Callers()
    first_caller_held(authority, store, callers)
    for name, call in calls.items():
        callers.start(name, call)
    wait_until(lambda: authority.group_commit.queued() == len(calls))
    return callers


def issued_concurrently(authority: Authority, store: Held, dns_names: list[str]) -> Callers:
    """Callers of ``dns_names`` queued behind a held commit, so that they are concurrent
    (through the issuing thread) whatever the machine's load, then let through."""
    store.gate.clear()
    store.held.clear()
    callers = queued_behind_held_commit(
        authority, store, {name: issue(authority, name) for name in dns_names}
    )
    store.gate.set()
    callers.join()
    return callers


def stored(store: SqliteStore) -> set[int]:
    page = store.query_certificates(CertificateQuery(limit=1000), system_clock())
    return {record.serial for record in page.records}


def names(count: int) -> list[str]:
    return [f"c{index}.svc.internal" for index in range(count)]


def test_concurrent_callers_are_signed_on_the_issuing_thread_and_share_a_commit(held):
    authority, store = held
    callers = queued_behind_held_commit(
        authority, store, {name: issue(authority, name) for name in names(5)}
    )
    store.gate.set()
    callers.join()

    first = callers.issued("first.svc.internal")
    assert store.direct == [("caller-first.svc.internal", [first.serial])]
    # The five: their rows written by the issuing thread, one COMMIT on the committer.
    assert [thread for thread, _ in store.written] == [ISSUING_THREAD]
    assert store.committed_on == ["albca-commit_0"]
    batch = set(store.written[0][1])
    assert batch == {callers.issued(name).serial for name in names(5)}
    # Each parked caller got its own certificate, for its own names, and it is on record.
    for name in names(5):
        issued = callers.issued(name)
        assert issued.record.dns_names == (name,)
        assert authority.get(issued.serial).dns_names == (name,)
    assert stored(store) == batch | {first.serial}


def test_a_lone_caller_signs_and_commits_on_its_own_thread(held):
    authority, store = held
    store.gate.set()
    issued = issue(authority, "alone.svc.internal")()
    assert store.direct == [("MainThread", [issued.serial])]
    assert store.written == []
    assert authority._issuing is None  # never started


def test_a_refusal_on_the_issuing_thread_is_raised_to_its_caller_only(held):
    authority, store = held
    policy = NamePolicy.build(dns=["*.svc.internal"], common_names=["*"], name="team-a")
    callers = Callers()
    first_caller_held(authority, store, callers)
    callers.start("c0.svc.internal", issue(authority, "c0.svc.internal", caller_policy=policy))
    callers.start("evil.example.com", issue(authority, "evil.example.com", caller_policy=policy))
    callers.start("c1.svc.internal", issue(authority, "c1.svc.internal", caller_policy=policy))
    wait_until(lambda: "evil.example.com" in callers.results)  # refused before any commit
    wait_until(lambda: authority.group_commit.queued() == 2)
    store.gate.set()
    callers.join()

    refused = callers.results["evil.example.com"]
    assert isinstance(refused, PolicyViolation)
    assert "team-a" in str(refused)
    assert "evil.example.com" in str(refused)
    assert {callers.issued(name).serial for name in names(2)} == set(store.written[0][1])


def test_a_failed_commit_releases_every_parked_caller_with_its_error(held):
    authority, store = held
    callers = queued_behind_held_commit(
        authority, store, {name: issue(authority, name) for name in names(3)}
    )
    store.fail_with = StoreUnavailable("certificate store failed to write: disk I/O error")
    store.gate.set()
    callers.join()

    assert [thread for thread, _ in store.written] == [ISSUING_THREAD]
    for name in ["first.svc.internal", *names(3)]:
        error = callers.results[name]
        assert isinstance(error, StoreUnavailable)
        assert "disk I/O error" in str(error)
    store.fail_with = None
    assert stored(store) == set()
    for serial in store.written[0][1]:
        with pytest.raises(CertificateNotFound):
            authority.get(serial)


def test_a_chosen_serial_already_taken_fails_only_its_parked_caller(held):
    authority, store = held
    store.gate.set()
    taken = issue(authority, "owner.svc.internal", serial=0x7A11)().serial
    store.gate.clear()
    store.held.clear()
    callers = queued_behind_held_commit(
        authority,
        store,
        {
            "c0.svc.internal": issue(authority, "c0.svc.internal"),
            "copy.svc.internal": issue(authority, "copy.svc.internal", serial=taken),
            "c1.svc.internal": issue(authority, "c1.svc.internal"),
        },
    )
    store.gate.set()
    callers.join()

    duplicate = callers.results["copy.svc.internal"]
    assert isinstance(duplicate, DuplicateSerial)
    assert authority.get(taken).dns_names == ("owner.svc.internal",)  # untouched
    for name in names(2):
        assert authority.get(callers.issued(name).serial).dns_names == (name,)


def test_close_finishes_the_requests_handed_over_and_issuing_goes_on_after_it(held):
    authority, store = held
    callers = queued_behind_held_commit(
        authority, store, {name: issue(authority, name) for name in names(3)}
    )
    closing = threading.Thread(target=authority.close)
    closing.start()  # waits for the issuing thread, which waits for the held commit
    store.gate.set()
    closing.join(timeout=60)
    assert not closing.is_alive()
    callers.join()

    issued = {callers.issued(name).serial for name in ["first.svc.internal", *names(3)]}
    assert stored(store) == issued
    after = issue(authority, "after.svc.internal")()
    assert authority.get(after.serial).dns_names == ("after.svc.internal",)


def test_many_callers_issuing_at_once_each_get_a_committed_certificate(held):
    """Without a gate: callers come and go while batches commit, so every hand-over (a
    request arriving during a commit, a commit's end waking the issuing thread) happens
    in every order. None may hang, none may get a certificate that is not on record."""
    authority, store = held
    store.gate.set()
    callers = Callers()
    each = 25

    def many(prefix: str) -> Callable[[], IssuedCertificate]:
        def run() -> IssuedCertificate:
            last = None
            for index in range(each):
                name = f"{prefix}-{index}.svc.internal"
                last = issue(authority, name)()
                assert authority.get(last.serial).dns_names == (name,)
            assert last is not None
            return last

        return run

    for caller in range(6):
        callers.start(f"t{caller}", many(f"t{caller}"))
    callers.join()

    assert all(isinstance(result, IssuedCertificate) for result in callers.results.values())
    assert len(stored(store)) == 6 * each
    assert any(thread == ISSUING_THREAD for thread, _ in store.written)


def test_when_the_issuing_ca_cannot_be_read_each_parked_caller_gets_the_error(held, monkeypatch):
    """The issuing thread reads the active CA once for the requests it signs together; when
    that read fails, every one of them raises it, and nothing of theirs is queued."""
    authority, store = held
    callers = Callers()
    first_caller_held(authority, store, callers)  # read the CA before the failure
    down = StoreUnavailable("certificate store failed to read: disk I/O error")

    def unreadable(key_id: str | None = None) -> Any:
        raise down

    monkeypatch.setattr(authority, "_leaf_template", unreadable)
    for name in names(3):
        callers.start(name, issue(authority, name))
    wait_until(lambda: all(name in callers.results for name in names(3)))
    assert authority.group_commit.queued() == 0
    store.gate.set()
    callers.join()

    assert all(callers.results[name] is down for name in names(3))
    first = callers.issued("first.svc.internal")
    assert stored(store) == {first.serial}


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, threading
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from albca.ca.stores.sqlite import SqliteStore
    from tests.authorities import build_authority
    from tests.factories import ec_key, make_csr

    def power_cut():
        os.kill(os.getpid(), signal.SIGKILL)

    class DiesAtSplitCommit(SqliteStore):
        def add_certificates(self, entries):
            # The lone caller's commit, on its own thread: once the three others are in
            # flight (so handed to the issuing thread), and it commits for real.
            while authority._issuing_threads < 4:
                threading.Event().wait(0.001)
            super().add_certificates(entries)
        def try_write_certificates(self, entries):
            written = super().try_write_certificates(entries)
            if written is not None:
                written.commit = power_cut  # rows written by the issuing thread, no COMMIT
            return written

    directory = Path(sys.argv[1])
    store = DiesAtSplitCommit(directory / "albca.db", synchronous="full")
    authority = build_authority(directory, store=store)

    def issue(index):
        csr = make_csr(ec_key(), common_name=f"c{{index}}.svc.internal")
        issued = authority.issue_from_csr(csr, profile="client", requested_by="crash")
        print(f"{{issued.serial:x}}", flush=True)

    callers = [threading.Thread(target=issue, args=(i,)) for i in range(4)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    """
)


def test_a_crash_between_the_issuing_threads_write_and_its_commit_hands_out_nothing(tmp_path):
    """A real process: three callers' rows are written by the issuing thread and the
    process dies where their COMMIT would run. Whatever a caller printed (was handed) is
    on record, and nothing else but the lone caller's record can be: its own commit may
    have run first, or the issuing thread may have taken its record into the batch that
    died (it finds it queued once its signing ends)."""
    result = run_until_killed(CRASH_SCRIPT, tmp_path)
    assert result.returncode == -signal.SIGKILL, result.stderr
    handed = {int(line, 16) for line in result.stdout.split()}
    store = SqliteStore(tmp_path / "albca.db")
    try:
        on_record = stored(store)
    finally:
        store.close()
    assert handed <= on_record
    assert len(on_record) <= 1  # the three handed over died uncommitted


def test_a_forked_child_issues_without_the_parents_issuing_thread(held):
    """Only the forking thread goes on in a child of ``os.fork``: concurrent callers there
    issue on their own threads instead of handing requests to a thread that is not there."""
    authority, store = held
    issued_concurrently(authority, store, names(3))
    assert authority._issuing is not None  # started in this process

    pid = os.fork()
    if pid == 0:  # the child: exit status 0 only if every caller got its certificate
        status = 1
        try:
            callers = Callers()
            for name in ("d0.svc.internal", "d1.svc.internal", "d2.svc.internal"):
                callers.start(name, issue(authority, name))
            callers.join()
            if all(isinstance(r, IssuedCertificate) for r in callers.results.values()):
                status = 0
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_parked_records_and_an_event_loops_task_share_one_batch(held):
    """Two callers parked by the issuing thread and a task of an event loop
    (``issue_async``) queue behind the same held commit; its end wakes both starters, and
    whichever starts the next batch takes all three."""
    authority, store = held
    callers = queued_behind_held_commit(
        authority, store, {name: issue(authority, name) for name in names(2)}
    )
    parsed = parse_csr(
        make_csr(ec_key(), common_name="loop.svc.internal", dns_names=("loop.svc.internal",))
    )
    request = IssueRequest(
        profile="server", public_key=parsed.public_key, names=parsed.names, requested_by="loop"
    )

    async def scenario() -> IssuedCertificate:
        task = asyncio.ensure_future(authority.issue_async(request))
        await until(lambda: authority.group_commit.queued() == 3)
        store.gate.set()
        return await asyncio.wait_for(task, 30)

    on_loop = on_new_loop(scenario)
    callers.join()

    parked = {callers.issued(name).serial for name in names(2)}
    assert [set(serials) for _, serials in store.written] == [parked | {on_loop.serial}]
    assert store.committed_on == ["albca-commit_0"]
    assert authority.get(on_loop.serial).common_name == "loop.svc.internal"


def test_an_issuing_thread_made_while_close_runs_commits_on_a_committer_made_after_it(held):
    """``close`` stops the issuing thread, then shuts the committer down. A concurrent
    caller that starts another issuing thread in between must not tie it to the committer
    being shut down: each batch asks the authority for its committer then."""
    authority, store = held
    issued_concurrently(authority, store, names(2))  # an issuing thread runs

    stop = IssuingThread.stop

    def stop_then_a_concurrent_caller_starts_another(self: IssuingThread) -> None:
        stop(self)
        started = threading.Thread(target=authority._issuing_thread)
        started.start()
        started.join()

    IssuingThread.stop = stop_then_a_concurrent_caller_starts_another  # type: ignore[method-assign]
    try:
        authority.close()
    finally:
        IssuingThread.stop = stop  # type: ignore[method-assign]
    assert authority._issuing is not None  # the one started during close

    store.gate.clear()
    store.held.clear()
    callers = queued_behind_held_commit(
        authority, store, {f"after-{name}": issue(authority, f"after-{name}") for name in names(3)}
    )
    store.gate.set()
    callers.join()
    for name in names(3):
        issued = callers.issued(f"after-{name}")
        assert authority.get(issued.serial).dns_names == (f"after-{name}",)


def test_an_idle_issuing_thread_ends_and_frees_an_authority_never_closed(tmp_path, monkeypatch):
    """The issuing thread holds its authority while it runs. With nothing handed over for
    ``IDLE_EXIT_S`` it ends, so that an authority a program drops without closing it is
    freed; the next concurrent callers start another."""
    monkeypatch.setattr(issuing_thread, "IDLE_EXIT_S", 0.05)
    store = Held(tmp_path / "albca.db")
    store.gate.set()
    authority = build_authority(tmp_path, store=store)
    callers = queued_behind_held_commit(authority, store, {})  # a lone one: no thread yet
    callers.join()
    both = issued_concurrently(authority, store, names(4))
    first = authority._issuing
    assert first is not None
    wait_until(lambda ended=first: ended.stopped)  # idle: ended

    again = issued_concurrently(
        authority, store, ["again-0.svc.internal", "again-1.svc.internal", "again-2.svc.internal"]
    )
    assert all(isinstance(result, IssuedCertificate) for result in again.results.values())
    second = authority._issuing
    assert second is not None
    assert second is not first
    wait_until(lambda ended=second: ended.stopped)

    dropped = weakref.ref(authority)
    del authority, first, second, callers, both, again
    gc.collect()
    assert dropped() is None
    store.close()


def test_a_record_settled_twice_keeps_its_first_outcome_and_frees_its_caller_once():
    """``wait`` fails a whole batch with what interrupted it, even records of it already
    committed one by one: those keep their outcome, and their parked lock (released once
    already) is not released again, which would raise and leave the rest of the batch
    unsettled."""
    parked = [threading.Lock(), threading.Lock()]
    for lock in parked:
        lock.acquire()
    records = [make_record(serial) for serial in (1, 2)]
    batch = [
        Pending(record, issue_event(record), 1, parked=lock)
        for record, lock in zip(records, parked, strict=True)
    ]
    _finish(batch[:1], None)  # the first committed
    interrupted = KeyboardInterrupt()
    _finish(batch, interrupted)
    assert batch[0].error is None
    assert batch[1].error is interrupted
    assert all(pending.done for pending in batch)
    assert not any(lock.locked() for lock in parked)
