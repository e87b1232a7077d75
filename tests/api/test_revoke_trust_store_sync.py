"""The revoke endpoint brings the ALB trust stores in step (moto S3 and the ELBv2 fake
behind real boto3 clients): inline within the request, or queued and run after it; a sync
that fails leaves the revocation standing and a pending marker an operator can see."""

from __future__ import annotations

import boto3
import pytest
from fastapi.testclient import TestClient
from moto import mock_aws

from albca.api.app import create_app
from albca.api.tokens import Scope
from albca.compose.trust import trust_services
from albca.emulated_aws import install_trust_store_fake
from albca.infra.clients import AwsClients
from albca.trust_bundle.sync_trail import SYNC_PENDING, sync_state
from tests.api.helpers import auth, csr_pem, open_api_ca
from tests.aws.failures import fail

REGION = "us-east-1"
BUCKET = "albca-api-trust"


@pytest.fixture
def emulated_aws(monkeypatch):
    for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        fakes: list = []
        failures: list[tuple[str, str]] = []

        def configure(service: str, client) -> None:
            if service == "elbv2":
                if fakes:
                    install_trust_store_fake(client, fake=fakes[0])
                else:
                    fakes.append(install_trust_store_fake(client, s3, creating_polls=0))
                for operation, code in failures:
                    fail(client, operation, code, calls=set(range(1, 100)))

        def aws_clients(region: str | None):
            return AwsClients(region=region or REGION, configure=configure)

        monkeypatch.setattr("albca.compose.aws.aws_clients", aws_clients)
        yield failures


def open_ca(tmp_path, mode: str):
    ca = open_api_ca(tmp_path, publish_to=f"s3://{BUCKET}/pki", trust_store_sync=mode)
    trust_services(ca.stack.services).manager.create("api-clients", actor="test")
    return ca


def issue_and_revoke(ca, client):
    token = ca.token(scopes={Scope.ISSUE})
    issued = client.post(
        "/v1/certificates", json={"profile": "server", "csr": csr_pem()}, headers=auth(token)
    )
    assert issued.status_code == 201, issued.text
    serial = issued.json()["certificate"]["serial"]
    response = client.post(
        f"/v1/certificates/{serial}/revoke", json={"reason": "key-compromise"}, headers=auth(token)
    )
    assert response.status_code == 200, response.text
    return serial, response.json()


def store_entries(ca) -> int:
    (store,) = trust_services(ca.stack.services).manager.fed()
    return store.revoked_entries


@pytest.mark.parametrize(("mode", "status"), [("inline", "synced"), ("background", "queued")])
def test_a_revocation_reaches_the_trust_stores(tmp_path, emulated_aws, mode, status):
    ca = open_ca(tmp_path, mode)
    try:
        with TestClient(create_app(ca.api), base_url="https://testserver") as client:
            _serial, body = issue_and_revoke(ca, client)
        assert body["status"] == "revoked"
        assert body["trust_store_sync"]["status"] == status
        # Queued or not, once the request (and its background work) is done the store has it.
        assert store_entries(ca) == 1
        assert sync_state(ca.authority.store).in_step
    finally:
        ca.close()


def test_a_failed_inline_sync_leaves_the_revocation_and_a_pending_marker(tmp_path, emulated_aws):
    ca = open_ca(tmp_path, "inline")
    emulated_aws.append(("AddTrustStoreRevocations", "ServiceUnavailable"))
    try:
        with TestClient(create_app(ca.api), base_url="https://testserver") as client:
            serial, body = issue_and_revoke(ca, client)
        assert body["status"] == "revoked"
        sync = body["trust_store_sync"]
        assert sync["status"] == "pending"
        assert "ServiceUnavailable" in sync["error"]
        assert sync["rerun"] == "albca truststore sync"
        state = sync_state(ca.authority.store)
        assert not state.in_step
        assert [e.action for e in state.pending] == [SYNC_PENDING]
        assert f"{state.pending[0].serial:x}" == serial
        emulated_aws.clear()
        trust_services(ca.stack.services).manager.revocation_sync().run(actor="operator")
        assert sync_state(ca.authority.store).in_step
        assert store_entries(ca) == 1
    finally:
        ca.close()


def test_without_a_publish_target_the_api_feeds_no_trust_store(tmp_path):
    ca = open_api_ca(tmp_path)
    try:
        with TestClient(create_app(ca.api), base_url="https://testserver") as client:
            _, body = issue_and_revoke(ca, client)
        assert body["trust_store_sync"] is None
    finally:
        ca.close()
