"""Request bodies and tokens never reach the logs, whatever the outcome."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from albca.api.app import create_app
from tests.api.helpers import auth, csr_pem

MARKER = "Sekrit-Marker-7d1f"


@pytest.fixture
def all_logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def test_tokens_and_bodies_stay_out_of_logs(ca, all_logs):
    token = ca.token("logged")
    secret_part = token.split("_")[2]
    csr = csr_pem()
    with TestClient(create_app(ca.api)) as client:
        client.post(
            "/v1/certificates/generate",
            json={"profile": "client", "common_name": "a.svc.internal", "pkcs12_password": MARKER},
            headers=auth(token),
        )
        client.post(
            "/v1/certificates",
            json={"profile": "server", "csr": csr, "lifetime_seconds": MARKER},
            headers=auth(token),
        )
        client.post("/v1/certificates", json={"profile": MARKER, "csr": csr}, headers=auth(token))
        client.post(
            "/v1/certificates",
            content=MARKER,
            headers={**auth(token), "Content-Type": "text/plain"},
        )
        client.post("/v1/certificates", json={"csr": MARKER * 20_000}, headers=auth(token))
        client.get("/v1/certificates", headers=auth(token[:-1] + "x"))
        # A defect deep inside: the store fails with an unexpected error.
        store = ca.authority.store

        def broken(*_):
            raise RuntimeError(f"{MARKER} {token}")

        # Whichever way the commit goes: on the committer thread, or written by the loop.
        store.add_certificate = store.try_write_certificates = broken
        try:
            response = client.post(
                "/v1/certificates", json={"profile": "server", "csr": csr}, headers=auth(token)
            )
        finally:
            del store.add_certificate, store.try_write_certificates
        assert response.status_code == 500
        assert MARKER not in response.text
    text = all_logs.text
    assert "refused" in text  # the refusals were logged...
    assert "unexpected RuntimeError" in text
    assert "broken" in text  # the stack frames are logged
    assert MARKER not in text  # ...without the bodies
    assert secret_part not in text
    assert "BEGIN CERTIFICATE REQUEST" not in text
    for record in all_logs.records:
        if record.exc_info:
            # Starlette logs the traceback itself; it must not carry the message either.
            assert record.exc_info[1] is None or MARKER not in str(record.exc_info[1])
