"""``POST /v1/certificates`` with an Idempotency-Key on SQLite: the key is claimed in the
transaction that commits its certificate (issue 17), one commit per request shared with
concurrent ones, instead of a claim committed in the API's store before it."""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from albca.api import issuing
from albca.api.tokens import Caller, Scope
from albca.ca.errors import StoreUnavailable
from tests.api.helpers import auth, csr_pem, open_api_ca, renewal_token
from tests.api.test_group_commit_http import (
    Gate,
    hold_then_queue,
    in_threads,
    join,
    records,
    wait_until,
)

# spawn, not fork: each process opens the CA itself, as `albca serve` workers do.
_CONTEXT = multiprocessing.get_context("spawn")


def api_claims(ca) -> int:
    connection = sqlite3.connect(ca.settings.api_store_path)
    try:
        return int(connection.execute("SELECT count(*) FROM idempotency").fetchone()[0])
    finally:
        connection.close()


def token_id(token: str) -> str:
    return token.split("_")[1]


def post_keyed(client, token: str, key: str, body: dict | None = None) -> Any:
    headers = {**auth(token), "Idempotency-Key": key}
    body = body or {"profile": "server", "csr": csr_pem()}
    return client.post("/v1/certificates", json=body, headers=headers)


def plain_and_retry(client, token: str, key: str) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """A request without a key (a new CSR each time), and a retry of one keyed request."""
    body = {"profile": "server", "csr": csr_pem()}

    def plain() -> Any:
        return client.post(
            "/v1/certificates", json={"profile": "server", "csr": csr_pem()}, headers=auth(token)
        )

    return plain, lambda: post_keyed(client, token, key, body)


def test_the_claim_is_committed_with_the_certificate_not_in_the_api_store(ca, client):
    token = ca.token()
    response = post_keyed(client, token, "one-commit")
    assert response.status_code == 201
    serial = int(response.json()["certificate"]["serial"], 16)
    claimed = ca.authority.store.find_key_claim(token_id(token), "one-commit", ca.clock())
    assert claimed is not None
    assert claimed.serial == serial
    assert api_claims(ca) == 0


def test_a_failed_commit_leaves_no_claim_and_the_retry_issues(ca, client):
    token = ca.token()
    body = {"profile": "server", "csr": csr_pem()}
    with Gate(ca.authority.store) as gate:
        gate.fail_with = StoreUnavailable("certificate store failed to write: disk I/O error")
        gate.opened.set()
        failed = post_keyed(client, token, "failed", body)
    assert failed.status_code == 503
    assert ca.authority.store.find_key_claim(token_id(token), "failed", ca.clock()) is None
    retried = post_keyed(client, token, "failed", body)
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    assert len(records(ca)) == 1


def test_retries_in_one_batch_are_written_again_one_by_one_and_share_one_certificate(ca, client):
    other, retry = plain_and_retry(client, ca.token(), "same-batch")

    with Gate(ca.authority.store) as gate:
        _, answers = hold_then_queue(ca, gate, other, [retry, retry, retry])
    # The batch of three met the key claimed inside it: written again without the record
    # refused, twice, until the first retry's certificate and claim went in alone.
    assert gate.batches == [1, 3, 2, 1]
    assert [r.status_code for r in answers] == [201, 201, 201]
    assert len({r.json()["certificate"]["serial"] for r in answers}) == 1
    assert sorted(r.headers.get("Idempotent-Replayed", "") for r in answers) == [
        "",
        "true",
        "true",
    ]
    assert len(records(ca)) == 2


def test_other_callers_in_the_batch_of_a_refused_retry_still_share_one_commit(ca, client):
    other, retry = plain_and_retry(client, ca.token(), "in-a-crowd")

    with Gate(ca.authority.store) as gate:
        _, answers = hold_then_queue(ca, gate, other, [other] * 10 + [retry, retry])
    assert gate.batches == [1, 12, 11]
    assert all(r.status_code == 201 for r in answers)
    assert len(records(ca)) == 12


def test_a_generated_key_racing_a_csr_for_one_key_leaves_one_certificate(ca, client):
    """The CSR's claim goes with its certificate; the generated key's is claimed first, in
    the same table: whichever commits first holds the key, the other is refused."""
    token = ca.token()

    def generate() -> Any:
        return client.post(
            "/v1/certificates/generate",
            json={"profile": "client", "common_name": "job.svc.internal"},
            headers={**auth(token), "Idempotency-Key": "two-routes"},
        )

    claims = ca.authority.store
    with Gate(claims) as gate:
        from_csr, csr_answers = in_threads([lambda: post_keyed(client, token, "two-routes")])
        assert gate.held.wait(30)  # the CSR's certificate and claim, not yet written
        generating, generate_answers = in_threads([generate])
        wait_until(lambda: claims.find_key_claim(token_id(token), "two-routes", ca.clock()))
        gate.opened.set()  # the generated key's claim is in: now the CSR's write
        join(from_csr + generating)
    refused, generated = csr_answers[0], generate_answers[0]
    assert generated.status_code == 201
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "idempotency_key_reused"
    assert [r.serial for r in records(ca)] == [int(generated.json()["certificate"]["serial"], 16)]


def test_a_key_that_answers_a_csr_is_refused_for_a_generated_key(ca, client):
    token = ca.token()
    assert post_keyed(client, token, "one-request").status_code == 201
    generated = client.post(
        "/v1/certificates/generate",
        json={"profile": "client", "common_name": "job.svc.internal"},
        headers={**auth(token), "Idempotency-Key": "one-request"},
    )
    assert generated.status_code == 422
    assert generated.json()["error"]["code"] == "idempotency_key_reused"
    assert len(records(ca)) == 1


def test_renewals_claim_their_key_with_the_new_certificate(ca, client, holder):
    certificate, key = holder
    token = ca.token("renewer", scopes={Scope.RENEW_ANY})
    by_token = client.post(
        f"/v1/certificates/{certificate.serial_number:x}/renew",
        headers={**auth(token), "Idempotency-Key": "renew-by-serial"},
    )
    by_holder = client.post(
        "/v1/certificates/renew",
        headers={
            **auth(renewal_token(certificate, key, issued_at=ca.clock())),
            "Idempotency-Key": "renew-as-holder",
        },
    )
    assert by_token.status_code == by_holder.status_code == 201
    claims = ca.authority.store
    for caller, claimed_key, answer in (
        (token_id(token), "renew-by-serial", by_token),
        (f"holder:{certificate.serial_number:x}", "renew-as-holder", by_holder),
    ):
        claimed = claims.find_key_claim(caller, claimed_key, ca.clock())
        assert claimed is not None, caller
        assert claimed.serial == int(answer.json()["certificate"]["serial"], 16)
    assert api_claims(ca) == 0


def test_a_renewal_whose_commit_fails_leaves_no_claim_and_its_retry_renews(ca, client, holder):
    certificate, _ = holder
    token = ca.token(scopes={Scope.RENEW_ANY})

    def renew() -> Any:
        return client.post(
            f"/v1/certificates/{certificate.serial_number:x}/renew",
            headers={**auth(token), "Idempotency-Key": "renew-failed"},
        )

    with Gate(ca.authority.store) as gate:
        gate.fail_with = StoreUnavailable("certificate store failed to write: disk I/O error")
        gate.opened.set()
        assert renew().status_code == 503
    # Claimed with the certificate: neither is on record (a claim written first would
    # hold the key, with the serial the failed attempt chose).
    assert ca.authority.store.find_key_claim(token_id(token), "renew-failed", ca.clock()) is None
    retried = renew()
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    assert len(records(ca)) == 2  # the holder's certificate and its renewal


def _issue_in_process(directory: str, token: str, csr: str, start: Any, out: Any) -> None:
    """One process's attempt: its own services over the CA home, the sync path the API's
    threads take, the same key and body as every other process's."""
    ca = open_api_ca(Path(directory))
    try:
        caller = Caller.authenticate(ca.api.tokens.find(token_id(token)), token, ca.clock())
        start.wait()
        outcome = issuing.issue_from_csr(
            ca.api, caller, profile="server", csr=csr, lifetime_seconds=None,
            idempotency_key="across-processes",
        )  # fmt: skip
        out.put((outcome.issued.record.serial, outcome.replayed))
    finally:
        ca.close()


def test_processes_racing_one_key_issue_one_certificate(tmp_path):
    ca = open_api_ca(tmp_path)
    try:
        token = ca.token()
        csr = csr_pem()
        start, out = _CONTEXT.Event(), _CONTEXT.Queue()
        processes = [
            _CONTEXT.Process(target=_issue_in_process, args=(str(tmp_path), token, csr, start, out))
            for _ in range(4)
        ]
        for process in processes:
            process.start()
        start.set()
        answers = [out.get(timeout=120) for _ in processes]
        for process in processes:
            process.join(timeout=60)
            assert process.exitcode == 0
        assert len({serial for serial, _ in answers}) == 1
        assert sorted(replayed for _, replayed in answers) == [False, True, True, True]
        assert len(records(ca)) == 1
    finally:
        ca.close()
