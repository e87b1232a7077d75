"""``Authority.issue_async`` commits on the event loop when it is the only issuance in
flight and the store can be written at once, and otherwise on the committer thread: the
loop never waits for another process's writer. The other writers are real processes
(``tests.lock_holders``); nothing is timed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from albca.ca.authority import _LOOP_COMMITS_AFTER as LOOP_COMMITS_AFTER
from albca.ca.authority import IssueRequest
from albca.ca.csr import parse_csr
from albca.ca.errors import StoreUnavailable
from albca.ca.records import AuditEvent, CertificateQuery, CertificateRecord
from albca.ca.stores.sqlite import OpenWrite, SqliteStore
from tests.authorities import build_authority
from tests.factories import ec_key, make_csr
from tests.lock_holders import LockHolder
from tests.loops import on_new_loop, until
from tests.open_writes import commit_through


class ThreadRecordingStore(SqliteStore):
    """The real store, noting the thread of every certificate commit (the thread that runs
    the COMMIT: for ``try_write_certificates``, the one that ends it); can fail them."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, synchronous="normal")
        self.committed_on: list[str] = []
        self.fail_with: Exception | None = None

    def add_certificates(self, entries: Sequence[tuple[CertificateRecord, AuditEvent]]) -> None:
        self.committed_on.append(threading.current_thread().name)
        if self.fail_with is not None:
            raise self.fail_with
        super().add_certificates(entries)

    def try_write_certificates(
        self, entries: Sequence[tuple[CertificateRecord, AuditEvent]]
    ) -> OpenWrite | None:
        written = super().try_write_certificates(entries)
        if written is None:
            return None
        return commit_through(written, self._before_commit)

    def _before_commit(self) -> Exception | None:
        self.committed_on.append(threading.current_thread().name)
        return self.fail_with


@pytest.fixture
def authority(tmp_path):
    store = ThreadRecordingStore(tmp_path / "albca.db")
    authority = build_authority(tmp_path, store=store)
    yield authority
    authority.close()
    store.close()


def request() -> IssueRequest:
    parsed = parse_csr(
        make_csr(ec_key(), common_name="a.svc.internal", dns_names=("a.svc.internal",))
    )
    return IssueRequest(
        profile="server", public_key=parsed.public_key, names=parsed.names, requested_by="test"
    )


def read_back(path: Path, serial: int) -> CertificateRecord:
    """The record as another process would read it: through a store of its own."""
    store = SqliteStore(path)
    try:
        return store.get_certificate(serial)
    finally:
        store.close()


def test_lone_issuances_commit_on_the_loop_after_a_streak_of_them(authority, tmp_path):
    async def scenario():
        issued = [await authority.issue_async(request()) for _ in range(LOOP_COMMITS_AFTER + 2)]
        return threading.current_thread().name, issued[-1]

    loop_thread, issued = on_new_loop(scenario)
    # The first ones go to the committer thread: one alone may be the first of many.
    threads = authority.store.committed_on
    assert all(name.startswith("albca-commit") for name in threads[:LOOP_COMMITS_AFTER])
    assert threads[LOOP_COMMITS_AFTER:] == [loop_thread, loop_thread]
    assert read_back(tmp_path / "albca.db", issued.serial).certificate_pem == (
        issued.certificate_pem.decode()
    )


def test_concurrent_issuances_commit_on_the_committer_thread(authority):
    async def scenario():
        for _ in range(LOOP_COMMITS_AFTER + 1):
            await authority.issue_async(request())  # lone ones: the loop commits them now
        authority.store.committed_on.clear()
        return await asyncio.gather(*(authority.issue_async(request()) for _ in range(3)))

    issued = on_new_loop(scenario)
    assert len({each.serial for each in issued}) == 3
    # Three in flight at once: none commits on the loop, which signs the others meanwhile.
    assert authority.store.committed_on
    assert all(name.startswith("albca-commit") for name in authority.store.committed_on)


def test_one_issuance_alone_among_concurrent_ones_does_not_commit_on_the_loop(authority):
    """Under load a request can find itself alone (the others not read yet): the streak
    of concurrent ones before it sends it to the committer thread."""

    async def scenario():
        for _ in range(LOOP_COMMITS_AFTER + 1):
            await authority.issue_async(request())
        await asyncio.gather(*(authority.issue_async(request()) for _ in range(3)))
        authority.store.committed_on.clear()
        await authority.issue_async(request())

    on_new_loop(scenario)
    assert len(authority.store.committed_on) == 1
    assert authority.store.committed_on[0].startswith("albca-commit")


@pytest.mark.parametrize("kind", ["lock-file", "sqlite"])
def test_the_loop_answers_while_another_process_holds_the_store(authority, tmp_path, kind):
    """The writer is held by another process (``albca crl``, ``issue batch``, the sqlite3
    shell): the issuance waits on the committer thread, the loop answers another request
    meanwhile, and the certificate is committed, and only then returned, once the store
    is free."""
    earlier = authority.issue(request())
    path = tmp_path / "albca.db"
    held = path.with_name("albca.db.lock") if kind == "lock-file" else path

    async def scenario():
        for _ in range(LOOP_COMMITS_AFTER):
            await authority.issue_async(request())  # lone ones: the next tries the loop
        with LockHolder(kind, held) as holder:
            task = asyncio.ensure_future(authority.issue_async(request()))
            # Its record waits: in line while the committer thread waits for the lock file,
            # or in a commit on that thread that waits for SQLite's lock.
            await until(
                lambda: (
                    authority.group_commit.queued() == 1
                    or any(n.startswith("albca-commit") for n in committers())
                )
            )
            # The loop runs: another request is answered while the store is held. Had the
            # loop blocked on the lock, this would run only after the holder gave up.
            assert authority.get(earlier.serial).serial == earlier.serial
            assert not task.done()
            holder.release()
            return await asyncio.wait_for(task, 30)

    def committers() -> list[str]:
        return authority.store.committed_on[LOOP_COMMITS_AFTER + 1 :]  # after the warm-up

    issued = on_new_loop(scenario)
    assert read_back(path, issued.serial).serial == issued.serial
    assert committers()[-1].startswith("albca-commit")


def test_a_failed_commit_on_the_loop_hands_out_nothing(authority, tmp_path):
    async def scenario():
        for _ in range(LOOP_COMMITS_AFTER):
            await authority.issue_async(request())
        committed = authority.list_certificates(CertificateQuery(limit=100)).records
        authority.store.committed_on.clear()
        authority.store.fail_with = StoreUnavailable("certificate store failed to write: disk full")
        with pytest.raises(StoreUnavailable, match="disk full"):
            await authority.issue_async(request())
        return committed

    committed = on_new_loop(scenario)
    assert authority.store.committed_on == [threading.current_thread().name]
    authority.store.fail_with = None
    assert authority.list_certificates(CertificateQuery(limit=100)).records == committed
