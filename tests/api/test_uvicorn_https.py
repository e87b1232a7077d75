"""The API under a real uvicorn on 127.0.0.1, over HTTPS with a server certificate from the
CA itself, driven by httpx verifying against the CA bundle: every endpoint end to end."""

from __future__ import annotations

import logging
import ssl
import threading
import time

import httpx
import pytest
import uvicorn
from cryptography import x509

from albca.api.app import create_app
from albca.api.tokens import Scope
from albca.server import server_credentials_from_ca
from albca.trust_bundle.bundle import TrustBundle
from tests.api.helpers import auth, csr_pem, renewal_token
from tests.factories import ec_key


@pytest.fixture
def https_api(ca, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    credentials = server_credentials_from_ca(ca.authority, tmp_path / "tls", host="127.0.0.1")
    config = uvicorn.Config(
        create_app(ca.api),
        host="127.0.0.1",
        port=0,
        ssl_certfile=str(credentials.certificate_chain),
        ssl_keyfile=str(credentials.private_key),
        log_level="info",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    bundle = tmp_path / "ca-bundle.pem"
    bundle.write_bytes(TrustBundle.of(ca.authority.trusted_certificates()).pem)
    context = ssl.create_default_context(cafile=str(bundle))
    with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=context, timeout=10) as client:
        yield client
    server.should_exit = True
    thread.join(timeout=10)


def test_every_endpoint_over_https(ca, https_api, caplog):
    client = https_api
    token = ca.token("e2e", scopes=set(Scope), names=("*.svc.internal",))
    assert client.get("/v1/health").json()["status"] == "ok"
    assert b"BEGIN CERTIFICATE" in client.get("/v1/ca/bundle").content

    key = ec_key()
    issued = client.post(
        "/v1/certificates",
        json={"profile": "client", "csr": csr_pem(key, common_name="e.svc.internal", dns_names=())},
        headers={**auth(token), "Idempotency-Key": "e2e-1"},
    )
    assert issued.status_code == 201
    again = client.post(
        "/v1/certificates",
        json={"profile": "client", "csr": csr_pem(key, common_name="e.svc.internal", dns_names=())},
        headers={**auth(token), "Idempotency-Key": "e2e-1"},
    )
    assert again.status_code == 422  # a new CSR (new signature) is another request
    serial = issued.json()["certificate"]["serial"]

    generated = client.post(
        "/v1/certificates/generate",
        json={"profile": "server", "dns_names": ["g.svc.internal"]},
        headers=auth(token),
    )
    assert generated.status_code == 201
    assert generated.json()["private_key_pem"].startswith("-----BEGIN PRIVATE KEY-----")

    assert client.get(f"/v1/certificates/{serial}", headers=auth(token)).status_code == 200
    listed = client.get("/v1/certificates", params={"limit": 1}, headers=auth(token)).json()
    assert len(listed["certificates"]) == 1
    assert listed["next_cursor"]

    certificate = x509.load_pem_x509_certificate(issued.json()["certificate_pem"].encode())
    renewed = client.post(
        "/v1/certificates/renew",
        headers=auth(renewal_token(certificate, key, issued_at=ca.clock())),
    )
    assert renewed.status_code == 201
    by_token = client.post(f"/v1/certificates/{serial}/renew", headers=auth(token))
    assert by_token.status_code == 201

    revoked = client.post(
        f"/v1/certificates/{serial}/revoke", json={"reason": "superseded"}, headers=auth(token)
    )
    assert revoked.json()["status"] == "revoked"
    crl = x509.load_der_x509_crl(client.get("/v1/ca/crl.der").content)
    assert crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None
    assert b"BEGIN X509 CRL" in client.get("/v1/ca/crl").content

    refused = client.post(
        "/v1/certificates",
        json={
            "profile": "server",
            "csr": csr_pem(common_name=None, dns_names=("db.prod.internal",)),
        },
        headers=auth(token),
    )
    assert refused.status_code == 403
    # The access log has the requests, never the token.
    assert '"POST /v1/certificates HTTP/1.1" 201' in caplog.text
    assert token.split("_")[2] not in caplog.text
