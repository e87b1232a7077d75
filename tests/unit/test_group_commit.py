"""Group commit (``ca.group_commit``) through ``Authority``: concurrent issuers' records
share one transaction of the real SQLite store, and nothing is handed out uncommitted.

Batches are formed deterministically: the store is held at its first commit (a gate) while
the other callers queue, then released; the test never times anything.
"""

from __future__ import annotations

import asyncio
import signal
import textwrap
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from albca.ca.authority import Authority, IssueRequest
from albca.ca.clock import system_clock
from albca.ca.csr import parse_csr
from albca.ca.errors import CertificateNotFound, DuplicateSerial, StoreUnavailable
from albca.ca.group_commit import GroupCommit
from albca.ca.issued import IssuedCertificate
from albca.ca.records import AuditEvent, CertificateQuery, CertificateRecord
from albca.ca.stores.sqlite import SqliteStore
from tests.authorities import build_authority
from tests.crash_scripts import run_until_killed
from tests.factories import ec_key, issue_event, make_csr, make_record
from tests.loops import wait_until


class GatedStore:
    """The real SQLite store, holding its first certificate commit until ``gate`` is set,
    recording the serials of every commit, and failing commits with ``fail_with``."""

    def __init__(self, inner: SqliteStore, *, batch_limit: int | None = None) -> None:
        self.inner = inner
        self.batch_limit = batch_limit or inner.batch_limit
        self.batch_bytes = inner.batch_bytes
        self.gate = threading.Event()
        self.held = threading.Event()  # set once a commit waits at the gate
        self.commits: list[list[int]] = []
        self.fail_with: Exception | None = None

    def add_certificate(self, record: CertificateRecord, event: AuditEvent) -> None:
        self.add_certificates([(record, event)])

    def add_certificates(self, entries: Sequence[tuple[CertificateRecord, AuditEvent]]) -> None:
        assert len(entries) <= self.batch_limit, "a batch above the store's limit"
        self.held.set()
        assert self.gate.wait(30), "the test never opened the gate"
        self.commits.append([record.serial for record, _ in entries])
        if self.fail_with is not None:
            raise self.fail_with
        self.inner.add_certificates(entries)

    def try_add_certificates(self, entries: Sequence[tuple[CertificateRecord, AuditEvent]]) -> bool:
        # As if another process held the writer lock: ``issue_async`` hands every commit to
        # the committer thread, where the gate can hold it without holding the event loop.
        return False

    def try_write_certificates(
        self, entries: Sequence[tuple[CertificateRecord, AuditEvent]]
    ) -> None:
        return  # the same: the whole commit on the committer thread, at the gate

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def gated(tmp_path) -> tuple[Authority, GatedStore]:
    inner = SqliteStore(tmp_path / "albca.db", synchronous="normal")
    store = GatedStore(inner)
    authority = build_authority(tmp_path, store=store)  # type: ignore[arg-type]
    yield authority, store
    authority.close()
    inner.close()


def request(authority: Authority, *, serial: int | None = None) -> IssueRequest:
    parsed = parse_csr(
        make_csr(ec_key(), common_name="a.svc.internal", dns_names=("a.svc.internal",))
    )
    return IssueRequest(
        profile="server",
        public_key=parsed.public_key,
        names=parsed.names,
        requested_by="test",
        serial=serial,
    )


class Outcomes:
    """What each caller thread got: a certificate or an exception."""

    def __init__(self) -> None:
        self.issued: list[IssuedCertificate] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def start(self, call: Callable[[], IssuedCertificate]) -> None:
        def run() -> None:
            try:
                result = call()
            except BaseException as exc:
                with self._lock:
                    self.errors.append(exc)
            else:
                with self._lock:
                    self.issued.append(result)

        thread = threading.Thread(target=run)
        thread.start()
        self.threads.append(thread)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=60)
            assert not thread.is_alive()


def hold_first_commit_then_queue(
    authority: Authority, store: GatedStore, requests: list[IssueRequest]
) -> Outcomes:
    """One caller commits and is held at the gate; ``requests`` queue behind it."""
    outcomes = Outcomes()
    outcomes.start(lambda: authority.issue(request(authority)))
    assert store.held.wait(30)
    for each in requests:
        outcomes.start(lambda each=each: authority.issue(each))
    wait_until(lambda: authority.group_commit.queued() == len(requests))
    store.gate.set()
    outcomes.join()
    return outcomes


def committed(authority: Authority) -> set[int]:
    return {r.serial for r in authority.list_certificates(CertificateQuery(limit=1000)).records}


def test_records_queued_during_a_commit_share_the_next_transaction(gated):
    authority, store = gated
    outcomes = hold_first_commit_then_queue(
        authority, store, [request(authority) for _ in range(5)]
    )
    assert outcomes.errors == []
    assert [len(serials) for serials in store.commits] == [1, 5]
    assert {issued.serial for issued in outcomes.issued} == committed(authority)
    assert len(committed(authority)) == 6


def test_a_failed_commit_fails_every_caller_of_its_batch_and_hands_out_nothing(gated):
    authority, store = gated
    store.fail_with = StoreUnavailable("certificate store failed to write: disk I/O error")
    outcomes = hold_first_commit_then_queue(
        authority, store, [request(authority) for _ in range(4)]
    )
    assert [len(serials) for serials in store.commits] == [1, 4]
    assert outcomes.issued == []
    assert len(outcomes.errors) == 5
    assert all(isinstance(error, StoreUnavailable) for error in outcomes.errors)
    assert all("disk I/O error" in str(error) for error in outcomes.errors)
    store.fail_with = None
    assert committed(authority) == set()
    for serial in store.commits[1]:
        with pytest.raises(CertificateNotFound):
            authority.get(serial)
        assert authority.audit(serial=serial) == []


def test_batches_above_the_store_limit_are_split(tmp_path):
    inner = SqliteStore(tmp_path / "albca.db", synchronous="normal")
    store = GatedStore(inner, batch_limit=3)
    authority = build_authority(tmp_path, store=store)  # type: ignore[arg-type]
    try:
        outcomes = hold_first_commit_then_queue(
            authority, store, [request(authority) for _ in range(7)]
        )
        assert outcomes.errors == []
        assert [len(serials) for serials in store.commits] == [1, 3, 3, 1]
        assert len(committed(authority)) == 8
    finally:
        authority.close()
        inner.close()


def test_a_serial_queued_twice_in_one_batch_is_issued_once(gated):
    """Two attempts with one chosen serial (two retries of one Idempotency-Key) queued
    together: one certificate is committed, the other attempt hears DuplicateSerial (the
    API then returns the committed certificate), and the batch's other records stand."""
    authority, store = gated
    serial = 0x1234567890ABCDEF
    requests = [request(authority, serial=serial), request(authority)]
    requests.append(request(authority, serial=serial))
    outcomes = hold_first_commit_then_queue(authority, store, requests)
    assert len(outcomes.issued) == 3
    assert [type(error) for error in outcomes.errors] == [DuplicateSerial]
    assert [issued.serial for issued in outcomes.issued].count(serial) == 1
    assert serial in committed(authority)
    assert len(committed(authority)) == 3


def test_a_duplicate_serial_in_a_batch_fails_only_its_caller(gated):
    authority, store = gated
    store.gate.set()
    taken = authority.issue(request(authority)).serial
    store.gate.clear()
    store.held.clear()
    store.commits.clear()
    others = [request(authority), request(authority, serial=taken), request(authority)]
    outcomes = hold_first_commit_then_queue(authority, store, others)
    assert [type(error) for error in outcomes.errors] == [DuplicateSerial]
    assert len(outcomes.issued) == 3
    assert len(committed(authority)) == 4


def test_issue_async_answers_after_the_shared_commit(gated):
    authority, store = gated

    async def many() -> list[IssuedCertificate]:
        tasks = [asyncio.ensure_future(authority.issue_async(request(authority)))]
        while not store.held.is_set():  # the first one is committing, held at the gate
            await asyncio.sleep(0.005)
        tasks += [
            asyncio.ensure_future(authority.issue_async(request(authority))) for _ in range(3)
        ]
        while authority.group_commit.queued() < 3:
            await asyncio.sleep(0.005)
        assert not any(task.done() for task in tasks)  # nothing answered before its commit
        store.gate.set()
        return await asyncio.gather(*tasks)

    # A loop of its own, not asyncio.run: that would also unset this thread's current loop,
    # and an unclosed one an earlier test left there (Mangum's) would be collected mid-run.
    loop = asyncio.new_event_loop()
    try:
        issued = loop.run_until_complete(many())
    finally:
        loop.close()
    assert [len(serials) for serials in store.commits] == [1, 3]
    assert {each.serial for each in issued} == committed(authority)


CRASH_SCRIPT = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from albca.ca.csr import parse_csr
    from albca.ca.authority import IssueRequest
    from albca.ca.stores.sqlite import SqliteStore
    from tests.authorities import build_authority
    from tests.factories import ec_key, make_csr

    def power_cut():
        os.kill(os.getpid(), signal.SIGKILL)

    class DiesAtCommit(SqliteStore):
        armed = False
        def add_certificates(self, entries):
            if self.armed:
                power_cut()  # where the commit runs
            super().add_certificates(entries)
        def try_write_certificates(self, entries):
            written = super().try_write_certificates(entries)
            if written is not None and self.armed:
                written.commit = power_cut  # the rows are written, the COMMIT never runs
            return written

    directory = Path(sys.argv[1])
    store = DiesAtCommit(directory / "albca.db", synchronous="full")
    authority = build_authority(directory, store=store)
    csr = make_csr(ec_key(), common_name="a.svc.internal", dns_names=("a.svc.internal",))
    parsed = parse_csr(csr)
    request = IssueRequest(profile="server", public_key=parsed.public_key, names=parsed.names,
                           requested_by="crash")
    store.armed = True

    async def issue():
        return await asyncio.gather(*(authority.issue_async(request) for _ in range(4)))

    for issued in asyncio.run(issue()):
        print(issued.certificate_pem.decode(), flush=True)
    """
)


def test_a_crash_between_signing_and_commit_hands_out_nothing(tmp_path):
    result = run_until_killed(CRASH_SCRIPT, tmp_path)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert "BEGIN CERTIFICATE" not in result.stdout
    store = SqliteStore(tmp_path / "albca.db")
    try:
        assert store.query_certificates(CertificateQuery(), system_clock()).records == ()
    finally:
        store.close()


class ScriptedStore:
    """The real SQLite store behind a ``GroupCommit`` driven by hand: notes the serials of
    every commit, holds commits while ``gate`` is clear (``held`` says one waits there) and
    fails the commits numbered in ``fail`` (0 is the first)."""

    def __init__(self, inner: SqliteStore) -> None:
        self.inner = inner
        self.batch_limit = inner.batch_limit
        self.batch_bytes = inner.batch_bytes
        self.commits: list[list[int]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.held = threading.Event()
        self.fail: dict[int, Exception] = {}

    def add_certificates(self, entries: Sequence[tuple[CertificateRecord, AuditEvent]]) -> None:
        number = len(self.commits)
        self.commits.append([record.serial for record, _ in entries])
        self.held.set()
        assert self.gate.wait(30), "the test never opened the gate"
        if number in self.fail:
            raise self.fail[number]
        self.inner.add_certificates(entries)

    def add_certificate(self, record: CertificateRecord, event: AuditEvent) -> None:
        self.add_certificates([(record, event)])


@pytest.fixture
def scripted(tmp_path) -> tuple[GroupCommit, ScriptedStore]:
    inner = SqliteStore(tmp_path / "albca.db", synchronous="normal")
    store = ScriptedStore(inner)
    yield GroupCommit(store), store
    inner.close()


class Caller:
    """One caller of a ``GroupCommit`` on a thread of its own: signs (inside ``signing``)
    until ``may_queue`` is set, queues ``record``, waits for its commit. ``fails`` makes
    its signing raise instead of queueing."""

    def __init__(self, group: GroupCommit, serial: int, *, fails: bool = False) -> None:
        self.record = make_record(serial)
        self.signing = threading.Event()
        self.may_queue = threading.Event()
        self.returned = threading.Event()  # its commit is done (or it failed)
        self.error: BaseException | None = None
        self._group, self._fails = group, fails
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        try:
            with self._group.signing():
                self.signing.set()
                assert self.may_queue.wait(30)
                if self._fails:
                    raise ValueError("the name policy refuses this request")
                pending = self._group.queue(self.record, issue_event(self.record), 1)
            self._group.wait(pending)
        except BaseException as exc:
            self.error = exc
        finally:
            self.returned.set()

    def queue_now(self) -> Caller:
        self.may_queue.set()
        return self

    def join(self) -> None:
        self._thread.join(timeout=60)
        assert not self._thread.is_alive()


def stored(store: ScriptedStore) -> set[int]:
    page = store.inner.query_certificates(CertificateQuery(limit=1000), system_clock())
    return {record.serial for record in page.records}


def test_a_commit_waits_for_a_caller_still_signing_and_takes_its_record_too(scripted):
    """Caller A has queued; caller B is still signing (inside ``signing``). A does not
    commit alone: it waits until B has queued, and one transaction holds both."""
    group, store = scripted
    b = Caller(group, 0xB2)
    assert b.signing.wait(30)
    a = Caller(group, 0xA1).queue_now()
    wait_until(lambda: group.queued() == 1)  # A's record is in line, B's not yet
    assert store.commits == []  # A waits for B rather than committing alone
    b.queue_now()
    a.join()
    b.join()
    assert (a.error, b.error) == (None, None)
    assert store.commits == [[0xA1, 0xB2]]
    assert stored(store) == {0xA1, 0xB2}


def test_a_caller_that_signs_during_a_commit_waits_for_the_next_one(scripted):
    """A commits; B signs and queues meanwhile: B's record goes in the next transaction,
    and neither returns before its own commit."""
    group, store = scripted
    store.gate.clear()
    a = Caller(group, 0xA1).queue_now()
    assert store.held.wait(30)
    b = Caller(group, 0xB2).queue_now()
    wait_until(lambda: group.queued() == 1)  # B's record is in line behind A's commit
    assert not a.returned.is_set()  # A's commit is held: nothing returned before it
    assert not b.returned.is_set()
    store.gate.set()
    a.join()
    b.join()
    assert (a.error, b.error) == (None, None)
    assert store.commits == [[0xA1], [0xB2]]
    assert stored(store) == {0xA1, 0xB2}


def test_a_caller_whose_signing_fails_does_not_leave_the_commit_waiting_for_it(scripted):
    group, store = scripted
    b = Caller(group, 0xB2, fails=True)
    assert b.signing.wait(30)
    a = Caller(group, 0xA1).queue_now()
    wait_until(lambda: group.queued() == 1)
    assert store.commits == []  # A waits for B
    b.queue_now()  # B raises inside ``signing``: A must commit without it
    b.join()
    a.join()
    assert isinstance(b.error, ValueError)
    assert a.error is None
    assert store.commits == [[0xA1]]
    assert stored(store) == {0xA1}


def test_a_failure_between_two_commits_fails_exactly_its_batch(scripted):
    """Three batches in a row; the second fails: its callers get the error and nothing of
    it is stored, the first and third stand."""
    group, store = scripted
    store.fail[1] = StoreUnavailable("certificate store failed to write: disk I/O error")
    store.gate.clear()
    a = Caller(group, 0xA1).queue_now()
    assert store.held.wait(30)
    second = [Caller(group, serial).queue_now() for serial in (0xB1, 0xB2)]
    wait_until(lambda: group.queued() == 2)
    store.gate.set()
    a.join()
    for caller in second:
        caller.join()
    third = Caller(group, 0xC1).queue_now()
    third.join()
    assert store.commits == [[0xA1], [0xB1, 0xB2], [0xC1]]
    assert (a.error, third.error) == (None, None)
    assert all(isinstance(caller.error, StoreUnavailable) for caller in second)
    assert all("disk I/O error" in str(caller.error) for caller in second)
    assert stored(store) == {0xA1, 0xC1}


def test_callers_queued_behind_a_commit_are_woken_to_commit_the_next_batch(scripted):
    """Four callers queue while a commit is held; once it ends, one of them commits all
    four (woken to lead, not left asleep), and each returns once that commit is done."""
    group, store = scripted
    store.gate.clear()
    a = Caller(group, 0xA1).queue_now()
    assert store.held.wait(30)
    others = [Caller(group, 0xB0 + n).queue_now() for n in range(4)]
    wait_until(lambda: group.queued() == 4)
    store.gate.set()
    for caller in [a, *others]:
        caller.join()
    assert [caller.error for caller in others] == [None] * 4
    assert [sorted(serials) for serials in store.commits] == [[0xA1], [0xB0, 0xB1, 0xB2, 0xB3]]
