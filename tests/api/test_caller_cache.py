"""A token verified once is not hashed again on the next request (``tokens._VERIFIED``),
yet every request still meets every refusal: a wrong secret for a known token id, an
expiry reached while the token is remembered, a revocation
(``test_group_commit_http.py``: the next request after it is refused)."""

from __future__ import annotations

from datetime import timedelta

from tests.api.helpers import auth, csr_pem


def post_csr(client, token: str):
    return client.post(
        "/v1/certificates", json={"profile": "server", "csr": csr_pem()}, headers=auth(token)
    )


def test_a_wrong_secret_for_a_remembered_token_is_refused(ca, client):
    token = ca.token("remembered")
    assert post_csr(client, token).status_code == 201
    prefix, _, secret = token.rpartition("_")
    forged = f"{prefix}_{'A' if secret[0] != 'A' else 'B'}{secret[1:]}"
    response = post_csr(client, forged)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Authorization: unknown API token"
    assert post_csr(client, token).status_code == 201


def test_a_remembered_token_is_refused_once_it_expires(ca, client):
    token = ca.token("short-lived", ttl=timedelta(hours=1))
    assert post_csr(client, token).status_code == 201
    assert post_csr(client, token).status_code == 201
    ca.clock.now += timedelta(hours=1)
    response = post_csr(client, token)
    assert response.status_code == 401
    assert response.json()["error"]["message"].endswith("is expired")
