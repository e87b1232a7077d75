"""Issuance over HTTP with group commit and cached token look-ups.

Concurrent requests through the real app (TestClient runs it on its own event loop) while
the store is held at its first commit (a gate), so that the others queue into one batch;
nothing is timed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from albca.api.schemas import IssuedOut
from albca.api.stores.sqlite import SqliteApiDatabase, SqliteTokenStore
from albca.ca.errors import StoreUnavailable
from albca.ca.records import CertificateQuery
from tests.api.helpers import auth, csr_pem


class Gate:
    """Holds the store's first certificate commit until opened; can fail commits."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.opened = threading.Event()
        self.held = threading.Event()
        self.batches: list[int] = []
        self.fail_with: Exception | None = None
        self._add_certificates = store.add_certificates

    def __enter__(self) -> Gate:
        def add_certificates(entries):
            self.held.set()
            assert self.opened.wait(30), "the test never opened the gate"
            self.batches.append(len(entries))
            if self.fail_with is not None:
                raise self.fail_with
            self._add_certificates(entries)

        self.store.add_certificates = add_certificates
        self.store.add_certificate = lambda record, event: add_certificates([(record, event)])
        # As if another process held the writer lock: every commit goes to the committer
        # thread, where the gate can hold it without holding the event loop.
        self.store.try_add_certificates = lambda entries: False
        self.store.try_write_certificates = self._never_at_once
        return self

    @staticmethod
    def _never_at_once(entries: Any) -> None:
        return  # as if another process held the store: the commit goes to the thread

    def __exit__(self, *_: object) -> None:
        del self.store.add_certificates
        del self.store.add_certificate
        del self.store.try_add_certificates
        del self.store.try_write_certificates


def in_threads(calls: list[Callable[[], Any]]) -> tuple[list[threading.Thread], list[Any]]:
    results: list[Any] = []

    def run(call: Callable[[], Any]) -> None:
        results.append(call())

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    return threads, results


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "the requests never queued"
        time.sleep(0.005)


def join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()


def hold_then_queue(
    ca, gate: Gate, first: Callable[[], Any], queued: list[Callable[[], Any]]
) -> tuple[list[Any], list[Any]]:
    """``first`` commits and is held at the gate while ``queued`` queue behind it; then
    the gate opens. The answers of each, once every request is done."""
    held, first_answers = in_threads([first])
    assert gate.held.wait(30)
    behind, answers = in_threads(queued)
    wait_until(lambda: ca.authority.group_commit.queued() == len(queued))
    gate.opened.set()
    join(held + behind)
    return first_answers, answers


def post_csr(client, token: str) -> Any:
    return client.post(
        "/v1/certificates", json={"profile": "server", "csr": csr_pem()}, headers=auth(token)
    )


def records(ca) -> list:
    return list(ca.authority.list_certificates(CertificateQuery(limit=1000)).records)


def test_a_failed_batch_commit_fails_every_request_of_it_and_hands_out_nothing(ca, client):
    token = ca.token()

    def post() -> Any:
        return post_csr(client, token)

    with Gate(ca.authority.store) as gate:
        gate.fail_with = StoreUnavailable("certificate store failed to write: disk I/O error")
        answers, more = hold_then_queue(ca, gate, post, [post] * 4)
    assert gate.batches == [1, 4]
    for response in answers + more:
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "store_unavailable"
        assert "disk I/O error" in response.json()["error"]["message"]
        assert "BEGIN CERTIFICATE" not in response.text
    assert records(ca) == []


def test_requests_queued_during_a_commit_are_committed_together(ca, client):
    token = ca.token()

    def post() -> Any:
        return post_csr(client, token)

    with Gate(ca.authority.store) as gate:
        answers, more = hold_then_queue(ca, gate, post, [post] * 3)
    assert gate.batches == [1, 3]
    served = {r.json()["certificate"]["serial"] for r in answers + more}
    assert all(r.status_code == 201 for r in answers + more)
    assert served == {f"{record.serial:x}" for record in records(ca)}
    IssuedOut.model_validate(more[0].json())  # the lean path answers in the documented shape


def test_idempotency_key_retries_in_one_batch_get_the_same_certificate(ca, client):
    token = ca.token()
    body = {"profile": "server", "csr": csr_pem()}

    def other() -> Any:
        return post_csr(client, token)

    def retry() -> Any:
        headers = {**auth(token), "Idempotency-Key": "one-batch"}
        return client.post("/v1/certificates", json=body, headers=headers)

    with Gate(ca.authority.store) as gate:
        _, answers = hold_then_queue(ca, gate, other, [retry, retry])
    assert [r.status_code for r in answers] == [201, 201]
    assert len({r.json()["certificate"]["serial"] for r in answers}) == 1
    assert sorted(r.headers.get("Idempotent-Replayed", "") for r in answers) == ["", "true"]
    assert len(records(ca)) == 2


@pytest.mark.parametrize("revoked_by", ["this process", "another connection"])
def test_a_revoked_token_is_refused_on_the_next_request_despite_the_cache(ca, client, revoked_by):
    token = ca.token("cached")
    assert post_csr(client, token).status_code == 201
    assert post_csr(client, token).status_code == 201  # now read from the cache
    if revoked_by == "this process":
        ca.api.tokens.revoke("cached", ca.clock() - timedelta(seconds=1))
    else:  # as `albca token revoke` in another process does: its own connection
        database = SqliteApiDatabase(ca.settings.api_store_path)
        try:
            SqliteTokenStore(database).revoke("cached", ca.clock() - timedelta(seconds=1))
        finally:
            database.close()
    response = post_csr(client, token)
    assert response.status_code == 401
    assert response.json()["error"]["message"].endswith("is revoked")
