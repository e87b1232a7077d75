"""Idempotency-Key: a retry returns the same certificate and never issues a second one."""

from __future__ import annotations

import threading
from datetime import timedelta

from cryptography.hazmat.primitives import serialization

from albca.api.idempotency import fingerprint
from albca.api.stores.protocols import IdempotencyEntry
from albca.api.tokens import Caller
from albca.ca.records import CertificateQuery
from tests.api.helpers import auth, csr_pem


def issued_count(ca) -> int:
    return len(ca.authority.list_certificates(CertificateQuery(limit=1000)).records)


def test_retry_with_same_key_returns_the_same_certificate(ca, client):
    token = ca.token("retry")
    body = {"profile": "server", "csr": csr_pem()}
    headers = {**auth(token), "Idempotency-Key": "order-42"}
    first = client.post("/v1/certificates", json=body, headers=headers)
    second = client.post("/v1/certificates", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["certificate_pem"] == second.json()["certificate_pem"]
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert issued_count(ca) == 1
    assert [e.actor for e in ca.audit("api.replay")] == ["api:retry"]


def test_same_key_with_a_different_body_is_422_and_issues_nothing(ca, client):
    token = ca.token()
    headers = {**auth(token), "Idempotency-Key": "k"}
    assert (
        client.post(
            "/v1/certificates", json={"profile": "server", "csr": csr_pem()}, headers=headers
        ).status_code
        == 201
    )
    response = client.post(
        "/v1/certificates", json={"profile": "server", "csr": csr_pem()}, headers=headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert issued_count(ca) == 1


def test_keys_are_per_caller(ca, client):
    body = {"profile": "server", "csr": csr_pem()}
    one = client.post(
        "/v1/certificates", json=body, headers={**auth(ca.token()), "Idempotency-Key": "same"}
    )
    two = client.post(
        "/v1/certificates", json=body, headers={**auth(ca.token()), "Idempotency-Key": "same"}
    )
    assert one.json()["certificate"]["serial"] != two.json()["certificate"]["serial"]
    assert issued_count(ca) == 2


def test_generated_key_retry_returns_the_same_key(ca, client):
    token = ca.token()
    body = {"profile": "client", "common_name": "job.svc.internal", "pkcs12_password": "s3cret-pw"}
    headers = {**auth(token), "Idempotency-Key": "gen-1"}
    first = client.post("/v1/certificates/generate", json=body, headers=headers).json()
    second = client.post("/v1/certificates/generate", json=body, headers=headers).json()
    assert first["private_key_pem"] == second["private_key_pem"]
    assert first["certificate_pem"] == second["certificate_pem"]
    assert second["pkcs12"] is not None
    assert issued_count(ca) == 1


def test_generated_key_is_not_stored_in_the_clear(ca, client):
    token = ca.token()
    response = client.post(
        "/v1/certificates/generate",
        json={"profile": "client", "common_name": "job.svc.internal"},
        headers={**auth(token), "Idempotency-Key": "gen-2"},
    )
    key = serialization.load_pem_private_key(response.json()["private_key_pem"].encode(), None)
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    raw = ca.settings.api_store_path.read_bytes()
    wal = ca.settings.api_store_path.with_name(ca.settings.api_store_path.name + "-wal")
    raw += wal.read_bytes() if wal.exists() else b""
    # The scalar of the key (its last 32 bytes of PKCS#8 private part) appears nowhere.
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    assert scalar not in raw
    assert der not in raw


def test_concurrent_retries_issue_exactly_one_certificate(ca, client):
    token = ca.token()
    body = {"profile": "server", "csr": csr_pem()}
    headers = {**auth(token), "Idempotency-Key": "race"}
    serials: list[str] = []
    barrier = threading.Barrier(6)

    def attempt():
        barrier.wait()
        response = client.post("/v1/certificates", json=body, headers=headers)
        assert response.status_code == 201, response.text
        serials.append(response.json()["certificate"]["serial"])

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(serials) == 6
    assert len(set(serials)) == 1
    assert issued_count(ca) == 1


def test_a_claimed_key_whose_first_attempt_died_issues_with_the_claimed_serial(ca, client):
    """A crash between claim and commit leaves a claim without a certificate; the retry
    issues it, with the serial the claim reserved."""
    token = ca.token()
    csr = csr_pem()
    token_record = ca.api.tokens.find(token.split("_")[1])
    caller = Caller.authenticate(token_record, token, ca.clock())
    body = {"profile": "server", "csr": csr, "lifetime_seconds": None}
    ca.api.idempotency.claim(
        IdempotencyEntry(
            caller=token_record.token_id,
            key="crashed",
            fingerprint=fingerprint(caller, "issue-csr", body),
            serial=0xABCDEF,
            created_at=ca.clock(),
            expires_at=ca.clock() + timedelta(hours=1),
        )
    )
    response = client.post(
        "/v1/certificates",
        json={"profile": "server", "csr": csr},
        headers={**auth(token), "Idempotency-Key": "crashed"},
    )
    assert response.status_code == 201
    assert response.json()["certificate"]["serial"] == "abcdef"


def test_keys_expire_after_the_retention_window(ca, client):
    token = ca.token(ttl=timedelta(days=3))
    body = {"profile": "server", "csr": csr_pem()}
    headers = {**auth(token), "Idempotency-Key": "daily"}
    first = client.post("/v1/certificates", json=body, headers=headers).json()
    ca.clock.advance(timedelta(hours=25))
    later = client.post("/v1/certificates", json=body, headers=headers)
    assert later.status_code == 201
    assert "idempotent-replayed" not in later.headers
    assert later.json()["certificate"]["serial"] != first["certificate"]["serial"]


def test_malformed_idempotency_key_is_400(ca, client):
    response = client.post(
        "/v1/certificates",
        json={"profile": "server", "csr": csr_pem()},
        headers={**auth(ca.token()), "Idempotency-Key": "x" * 300},
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "Idempotency-Key"
