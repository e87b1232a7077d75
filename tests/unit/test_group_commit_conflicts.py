"""A batch the store refuses for one record (``IdempotencyKeyTaken``, ``DuplicateSerial``):
that record is refused alone, the rest written again together, and the refused record is
answered only once the rest has its outcome (issue 17; a review found it answered before,
while the claim that beat it was still being written)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta

from albca.ca.errors import IdempotencyKeyTaken, StoreUnavailable
from albca.ca.group_commit import GroupCommit, Pending
from albca.ca.records import AuditEvent, CertificateRecord, KeyClaim
from tests.factories import T0, issue_event, make_record

Entries = Sequence[tuple[CertificateRecord, AuditEvent]]


class ClaimingStore:
    """A store holding each (caller, key) claim once, as the SQLite store's rule is stated
    in ``CertificateStore``: a write whose record claims a key held already (or claimed
    earlier in the same write) writes nothing and raises ``IdempotencyKeyTaken`` naming
    that record. ``before_write`` sees each write first; ``fail_write`` fails the write
    of that index (0 = the first) with a store error, nothing written."""

    batch_limit = 500
    batch_bytes = 1 << 30

    def __init__(self) -> None:
        self.claimed: dict[tuple[str, str], int] = {}
        self.written: list[int] = []
        self.writes: list[list[int]] = []
        self.before_write: Callable[[Entries], None] = lambda entries: None
        self.fail_write: int | None = None

    def add_certificate(self, record: CertificateRecord, event: AuditEvent) -> None:
        self.add_certificates([(record, event)])

    def add_certificates(self, entries: Entries) -> None:
        self.before_write(entries)
        self.writes.append([record.serial for record, _ in entries])
        claims: dict[tuple[str, str], int] = {}
        for record, _ in entries:
            claim = record.idempotency
            if claim is not None:
                key = (claim.caller, claim.key)
                if key in self.claimed or key in claims:
                    raise IdempotencyKeyTaken(record.serial, claim.key)
                claims[key] = record.serial
        if self.fail_write == len(self.writes) - 1:
            raise StoreUnavailable("certificate store failed to write: disk I/O error")
        self.claimed.update(claims)
        self.written += [record.serial for record, _ in entries]


def keyed(serial: int, key: str | None = "k") -> Pending:
    record = make_record(serial)
    if key is not None:
        record = replace(record, idempotency=KeyClaim("tok", key, "f", T0 + timedelta(days=1)))
    return Pending(record, issue_event(record), 1)


def commit_together(store: ClaimingStore, pendings: list[Pending]) -> None:
    """Queue ``pendings``, then commit them as one batch on this thread; every one is done
    after it (each test reads their ``error``)."""
    group = GroupCommit(store)
    for pending in pendings:
        group.enqueue(pending)
    with contextlib.suppress(IdempotencyKeyTaken, StoreUnavailable):  # the first one's
        group.wait(pendings[0])
    assert all(pending.done for pending in pendings)


def test_the_refused_record_is_answered_after_the_claim_that_beat_it_is_written():
    store = ClaimingStore()
    first, retry, other = keyed(1), keyed(2), keyed(3, key=None)
    seen_at_rewrite: list[bool] = []

    def note_retry(entries: Entries) -> None:
        if len(store.writes) == 1:  # the batch written again without the retry
            seen_at_rewrite.append(retry.done)

    store.before_write = note_retry
    commit_together(store, [first, retry, other])
    assert store.writes == [[1, 2, 3], [1, 3]]
    assert seen_at_rewrite == [False]  # not answered while its winner was unwritten
    assert (first.error, other.error) == (None, None)
    assert isinstance(retry.error, IdempotencyKeyTaken)
    assert store.claimed == {("tok", "k"): 1}


def test_when_the_rest_fails_the_refused_record_is_written_again_alone():
    store = ClaimingStore()
    store.fail_write = 1  # the rewrite of the rest: a disk error, nothing written
    first, retry, other = keyed(1), keyed(2), keyed(3, key=None)
    commit_together(store, [first, retry, other])
    assert store.writes == [[1, 2, 3], [1, 3], [2]]
    assert isinstance(first.error, StoreUnavailable)
    assert isinstance(other.error, StoreUnavailable)
    # What beat it was never written: the key is free, and the retry holds it now.
    assert retry.done
    assert retry.error is None
    assert store.claimed == {("tok", "k"): 2}


def test_a_key_held_before_the_batch_refuses_only_its_record():
    store = ClaimingStore()
    store.claimed[("tok", "k")] = 99
    retry, others = keyed(1), [keyed(2, key=None), keyed(3, key=None)]
    commit_together(store, [*others, retry])
    assert store.writes == [[2, 3, 1], [2, 3]]
    assert isinstance(retry.error, IdempotencyKeyTaken)
    assert store.written == [2, 3]
