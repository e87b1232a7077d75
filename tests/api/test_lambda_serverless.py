"""The API on Lambda with no local state: the handler's own app (``albca.lambda_handler``),
records, tokens, idempotency keys and used renewal tokens in DynamoDB, CA keys in KMS,
no CA home. Each "instance" is a cold start of the handler, as a new Lambda container
would make; what one instance did, the next one sees, because it is all in (moto) AWS."""

from __future__ import annotations

import base64
import json
import logging
import os

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

import albca.lambda_handler as lambda_handler
from albca.cli.app import app as cli_app
from albca.compose.deploy import function_environment
from albca.infra.deploy.spec import DeploySpec
from tests.api.helpers import (
    AUDIENCE,
    LambdaContext,
    alb_event,
    alb_headers,
    http_api_event,
    renewal_token,
)
from tests.aws.kms_standin import kms_stand_in
from tests.aws.moto_support import REGION, clean_aws_environment, mocked_aws

TABLE = "albca-lambda"


def cli(*args: str) -> str:
    result = CliRunner().invoke(cli_app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def serverless(monkeypatch, tmp_path):
    """A bootstrapped account and a CA made by ``albca init --key-store kms``; the
    working directory is an empty one, so that any local file would show."""
    clean_aws_environment(monkeypatch)
    for name in list(os.environ):
        if name.startswith("ALBCA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ALBCA_HOME", str(tmp_path / "no-home"))
    monkeypatch.setenv("ALBCA_STORE", f"dynamodb://{TABLE}")
    monkeypatch.setenv("ALBCA_AWS_REGION", REGION)
    monkeypatch.setenv("ALBCA_API_RENEWAL_AUDIENCE", AUDIENCE)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.setattr(lambda_handler, "_handler", None)
    with mocked_aws(), kms_stand_in():
        cli("aws", "bootstrap", "--no-kms-keys")
        cli("init", "--key-store", "kms")
        yield tmp_path


class Lambda:
    """One Lambda container: its first event is a cold start of the handler module, which
    builds the app from the environment; later events reach that same app."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(lambda_handler, "_handler", None)
        self._warm = None

    def __call__(self, event: dict) -> tuple[int, dict | bytes]:
        if self._warm is None:
            response = lambda_handler.handler(event, LambdaContext())
            self._warm = lambda_handler._handler
        else:
            response = self._warm(event, LambdaContext())
        body = response["body"]
        if response.get("isBase64Encoded"):
            return response["statusCode"], base64.b64decode(body)
        return response["statusCode"], json.loads(body) if body else {}


def post(path: str, bearer: str, body: dict | None = None, **headers: str) -> dict:
    return alb_event(
        "POST",
        path,
        headers={
            "authorization": f"Bearer {bearer}",
            "content-type": "application/json",
            **headers,
        },
        body=json.dumps(body or {}),
    )


def test_token_issue_retry_renew_replay_revoke_all_state_in_aws(serverless, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    made = json.loads(
        cli(
            "token",
            "create",
            "fleet",
            "--profile",
            "client",
            "--names",
            "*.svc.internal",
            "--scopes",
            "issue,revoke,read",
            "--json",
        )
    )
    token = made["token"]
    first = Lambda(monkeypatch)
    generate = post(
        "/v1/certificates/generate",
        token,
        {"profile": "client", "common_name": "w1.svc.internal"},
        **{"idempotency-key": "deploy-42"},
    )
    status, issued = first(generate)
    assert status == 201, issued
    leaf = x509.load_pem_x509_certificate(issued["certificate_pem"].encode())
    (issuing,) = x509.load_pem_x509_certificates(issued["chain_pem"].encode())
    leaf.verify_directly_issued_by(issuing)  # signed in (stand-in) KMS, verified here
    key = serialization.load_pem_private_key(issued["private_key_pem"].encode(), None)
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )

    # A retry lands on another container: same certificate, same key, nothing new issued.
    status, retried = Lambda(monkeypatch)(generate)
    assert status in (200, 201), retried
    assert retried["certificate"]["serial"] == issued["certificate"]["serial"]
    assert retried["private_key_pem"] == issued["private_key_pem"]

    # The holder renews with a renewal token; replaying it on a third container fails.
    proof = renewal_token(leaf, key, issued_at=_now())
    renew = alb_event(
        "POST", "/v1/certificates/renew", headers={"authorization": f"Bearer {proof}"}
    )
    status, renewed = first(renew)
    assert status == 201, renewed
    renewed_leaf = x509.load_pem_x509_certificate(renewed["certificate_pem"].encode())
    assert renewed_leaf.public_key() == leaf.public_key()
    renewed_leaf.verify_directly_issued_by(issuing)
    status, replayed = Lambda(monkeypatch)(renew)
    assert status == 401
    assert replayed["error"]["code"] == "renewal_token_replayed"

    # Revoke the first certificate; the CRL any container serves lists it.
    serial = issued["certificate"]["serial"]
    status, revoked = first(
        post(f"/v1/certificates/{serial}/revoke", token, {"reason": "superseded"})
    )
    assert status == 200, revoked
    assert revoked["status"] == "revoked"
    status, crl_der = Lambda(monkeypatch)(http_api_event("GET", "/v1/ca/crl.der"))
    assert status == 200
    crl = x509.load_der_x509_crl(crl_der)
    assert crl.is_signature_valid(issuing.public_key())
    assert crl.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None

    # Revoking the API token from the CLI stops it on a warm container at once.
    cli("token", "revoke", "fleet")
    status, refused = first(post("/v1/certificates/generate", token, {"profile": "client"}))
    assert status == 401
    assert refused["error"]["code"] == "invalid_token"

    # All of it is in DynamoDB; nothing was written locally.
    kinds = _item_kinds()
    assert {"TOKEN", "TOKENNAMES", "IDEMPOTENCY", "USEDTOKEN", "CERT", "AUDIT"} <= kinds
    assert [p.name for p in serverless.rglob("*")] == ["cwd"]
    # The generated key is kept sealed, and never logged in any form.
    (sealed,) = _items("IDEMPOTENCY#")
    assert der not in sealed["sealed_private_key"]["B"]
    for text in (issued["private_key_pem"], base64.b64encode(der).decode()[:64], token):
        assert text not in caplog.text
    assert token.split("_")[2] not in caplog.text


def _now():
    from albca.ca.clock import system_clock

    return system_clock()


def _items(prefix: str = "") -> list[dict]:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    items = dynamodb.scan(TableName=TABLE)["Items"]  # a test's look; albca never scans
    return [item for item in items if item["pk"]["S"].startswith(prefix)]


def _item_kinds() -> set[str]:
    return {item["pk"]["S"].split("#", 1)[0] for item in _items()}


LISTENER = (
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
    "listener/app/ca/50dc6c495c0c9188/f2f7dc8efc522ab2"
)


@pytest.mark.parametrize("verify_mode", [True, False], ids=["verify", "not-verify"])
def test_an_alb_door_renews_by_the_listeners_client_certificate_headers(
    serverless, monkeypatch, verify_mode
):
    """The API function as ``albca aws deploy --front-door alb`` configures it: its
    environment is the one deploy computes (the headers are believed only when the
    listener verifies client certificates), and the holder's certificate reaches it the
    way an ALB in verify mode forwards it (AWS: "Mutual authentication with TLS in
    Application Load Balancer", HTTP headers; URL-encoded PEM)."""
    spec = DeploySpec(
        name="ca", region=REGION, table=TABLE, version="0", front_door="alb", listener_arn=LISTENER
    )
    api_environment = function_environment(spec, topic_arn=None, behind_alb_mtls=verify_mode)
    for name, value in api_environment["api"].items():
        monkeypatch.setenv(name, value)
    token = json.loads(
        cli(
            "token",
            "create",
            "holders",
            "--profile",
            "client",
            "--names",
            "*.svc.internal",
            "--json",
        )
    )["token"]
    container = Lambda(monkeypatch)
    status, issued = container(
        post(
            "/v1/certificates/generate",
            token,
            {"profile": "client", "common_name": "h.svc.internal"},
        )
    )
    assert status == 201, issued
    leaf = x509.load_pem_x509_certificate(issued["certificate_pem"].encode())

    # An ALB lower-cases header names in the events it sends a Lambda target.
    headers = {name.lower(): value for name, value in alb_headers(leaf).items()}
    status, renewed = container(alb_event("POST", "/v1/certificates/renew", headers=headers))
    if verify_mode:
        assert status == 201, renewed
        renewed_leaf = x509.load_pem_x509_certificate(renewed["certificate_pem"].encode())
        assert renewed_leaf.public_key() == leaf.public_key()
        assert renewed_leaf.subject == leaf.subject
        assert renewed_leaf.serial_number != leaf.serial_number
    else:
        assert status == 400, renewed
        assert renewed["error"]["code"] == "untrusted_mtls_headers"
