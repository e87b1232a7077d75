from __future__ import annotations

import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from albca.api.app import create_app
from tests.api.helpers import auth, csr_pem, open_api_ca
from tests.factories import ec_key


@pytest.fixture
def ca(tmp_path):
    opened = open_api_ca(tmp_path)
    yield opened
    opened.close()


@pytest.fixture
def client(ca):
    with TestClient(create_app(ca.api), base_url="https://testserver") as test_client:
        yield test_client


@pytest.fixture
def holder(ca, client):
    """A client certificate obtained through the API (by token "issuer"), and its key."""
    key = ec_key()
    response = client.post(
        "/v1/certificates",
        json={
            "profile": "client",
            "csr": csr_pem(key, common_name="w1.svc.internal", dns_names=()),
        },
        headers=auth(ca.token("issuer")),
    )
    assert response.status_code == 201
    certificate = x509.load_pem_x509_certificate(response.json()["certificate_pem"].encode())
    return certificate, key
