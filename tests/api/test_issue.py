"""Issuing through the API: from a CSR and with a generated key, and every refusal."""

from __future__ import annotations

import base64
import json
import logging
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.verification import PolicyBuilder, Store

from albca.api.tokens import Scope
from tests.api.helpers import auth, csr_pem
from tests.factories import ec_key, make_csr


def assert_chains_to_ca(body, ca, *, dns_name: str) -> x509.Certificate:
    """The returned certificate verifies against the CA bundle as a TLS server would."""
    from cryptography.x509 import DNSName

    leaf = x509.load_pem_x509_certificate(body["certificate_pem"].encode())
    chain = x509.load_pem_x509_certificates(body["chain_pem"].encode())
    roots = [c for c in ca.authority.trusted_certificates() if c.issuer == c.subject]
    verifier = (
        PolicyBuilder()
        .store(Store(roots))
        .time(ca.clock())
        .build_server_verifier(DNSName(dns_name))
    )
    verifier.verify(leaf, chain)
    return leaf


def test_issue_from_csr_returns_a_certificate_that_verifies(ca, client):
    token = ca.token("deploy")
    key = ec_key()
    response = client.post(
        "/v1/certificates",
        json={"profile": "server", "csr": csr_pem(key)},
        headers=auth(token),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    leaf = assert_chains_to_ca(body, ca, dns_name="a.svc.internal")
    assert leaf.public_key() == key.public_key()
    assert body["certificate"]["requested_by"] == "api:deploy"
    assert body["private_key_pem"] is None
    assert response.headers["cache-control"] == "no-store"
    issued = ca.audit("issue")[0]
    assert issued.actor == "api:deploy"
    assert issued.serial == int(body["certificate"]["serial"], 16)


def test_the_issuing_answer_is_written_as_fastapi_writes_json(ca, client):
    # POST /v1/certificates takes the lean path (api.fast_issue, orjson); its bytes must be
    # the ones FastAPI's JSONResponse writes for the same body, as every other route's are.
    from starlette.responses import JSONResponse

    response = client.post(
        "/v1/certificates",
        json={"profile": "server", "csr": csr_pem()},
        headers=auth(ca.token("j")),
    )
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.content == JSONResponse(response.json()).body


def test_issue_accepts_a_shorter_lifetime(ca, client):
    response = client.post(
        "/v1/certificates",
        json={"profile": "server", "csr": csr_pem(), "lifetime_seconds": 3600},
        headers=auth(ca.token()),
    )
    assert response.status_code == 201
    leaf = x509.load_pem_x509_certificate(response.json()["certificate_pem"].encode())
    assert leaf.not_valid_after_utc - ca.clock() == timedelta(hours=1)


def test_issue_with_generated_key_returns_key_chain_and_pkcs12(ca, client):
    response = client.post(
        "/v1/certificates/generate",
        json={
            "profile": "client",
            "common_name": "worker-1.svc.internal",
            "key_type": "ec-p384",
            "pkcs12_password": "correct horse",
        },
        headers=auth(ca.token()),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    key = serialization.load_pem_private_key(body["private_key_pem"].encode(), None)
    leaf = x509.load_pem_x509_certificate(body["certificate_pem"].encode())
    assert leaf.public_key() == key.public_key()
    assert key.curve.name == "secp384r1"
    loaded = pkcs12.load_pkcs12(base64.b64decode(body["pkcs12"]), b"correct horse")
    assert loaded.cert.certificate == leaf
    assert [c.certificate for c in loaded.additional_certs] == x509.load_pem_x509_certificates(
        body["chain_pem"].encode()
    )


@pytest.mark.parametrize(
    ("scopes", "path"),
    [
        ({Scope.READ}, "/v1/certificates"),
        ({Scope.RENEW, Scope.REVOKE}, "/v1/certificates/generate"),
    ],
)
def test_issue_without_issue_scope_is_refused_and_audited(ca, client, scopes, path):
    token = ca.token("reader", scopes=scopes)
    body = (
        {"profile": "server", "csr": csr_pem()}
        if path == "/v1/certificates"
        else {"profile": "server", "dns_names": ["a.svc.internal"]}
    )
    response = client.post(path, json=body, headers=auth(token))
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "scope_required",
        "message": "token reader lacks the issue scope needed to issue certificates",
        "field": "scope",
    }
    refused = ca.audit("api.refused")[0]
    assert refused.actor == "api:reader"
    assert refused.detail["code"] == "scope_required"
    assert ca.audit("issue") == []


def test_token_for_svc_internal_cannot_get_db_prod_internal(ca, client):
    token = ca.token("svc", names=("*.svc.internal",))
    response = client.post(
        "/v1/certificates",
        json={
            "profile": "server",
            "csr": csr_pem(common_name=None, dns_names=("db.prod.internal",)),
        },
        headers=auth(token),
    )
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "policy_violation"
    assert error["field"] == "dns_names"
    assert "token svc" in error["message"]
    assert ca.audit("api.refused")[0].detail["code"] == "policy_violation"


def test_token_policy_is_checked_for_generated_keys_too(ca, client):
    token = ca.token(names=("*.svc.internal",))
    response = client.post(
        "/v1/certificates/generate",
        json={"profile": "server", "dns_names": ["a.svc.internal", "b.other.internal"]},
        headers=auth(token),
    )
    assert response.status_code == 403
    assert "b.other.internal" in response.json()["error"]["message"]


def test_ip_outside_token_networks_is_refused(ca, client):
    response = client.post(
        "/v1/certificates/generate",
        json={"profile": "server", "ip_addresses": ["192.168.1.1"]},
        headers=auth(ca.token(names=("*.svc.internal", "10.0.0.0/8"))),
    )
    assert response.status_code == 403
    assert response.json()["error"]["field"] == "ip_addresses"


def test_profile_outside_token_profiles_is_refused(ca, client):
    response = client.post(
        "/v1/certificates",
        json={"profile": "server", "csr": csr_pem()},
        headers=auth(ca.token(profiles=("client",))),
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "profile_not_allowed"


def test_unknown_profile_is_a_400_naming_the_field(ca, client):
    token = ca.token(profiles=("client", "server", "nope"))
    response = client.post(
        "/v1/certificates", json={"profile": "nope", "csr": csr_pem()}, headers=auth(token)
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_profile"
    assert response.json()["error"]["field"] == "profile"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_credential"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "missing_credential"),
        ({"Authorization": "Bearer nonsense"}, "invalid_token"),
        ({"Authorization": "Bearer albca_0123456789abcdef_" + "A" * 43}, "invalid_token"),
    ],
)
def test_requests_without_a_valid_token_are_401(ca, client, headers, code):
    response = client.post(
        "/v1/certificates", json={"profile": "server", "csr": csr_pem()}, headers=headers
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_token_with_a_wrong_secret_is_refused(ca, client):
    token = ca.token()
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = client.get("/v1/certificates", headers=auth(forged))
    assert response.status_code == 401
    # Without a valid token nothing is stored (see test_refusals_without_a_valid_token_...).
    assert ca.audit("api.refused") == []


def test_revoked_and_expired_tokens_are_refused(ca, client):
    revoked = ca.token("gone")
    ca.api.tokens.revoke("gone", ca.clock())
    expired = ca.token("old", ttl=timedelta(minutes=1))
    ca.clock.advance(timedelta(minutes=2))
    for token, status in ((revoked, "revoked"), (expired, "expired")):
        response = client.post(
            "/v1/certificates", json={"profile": "server", "csr": csr_pem()}, headers=auth(token)
        )
        assert response.status_code == 401
        assert response.json()["error"]["message"].endswith(f"is {status}")


def test_a_csr_of_more_than_a_hundred_names_is_a_400_and_writes_nothing(ca, client):
    names = tuple(f"h{n}.svc.internal" for n in range(101))  # every one inside the policy
    csr = make_csr(ec_key(), common_name=None, dns_names=names).decode()
    response = client.post(
        "/v1/certificates", json={"profile": "server", "csr": csr}, headers=auth(ca.token())
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == "dns_names"
    assert "at most 100" in response.json()["error"]["message"]
    assert ca.audit("issue") == []


@pytest.mark.parametrize(
    ("csr", "code"),
    [
        ("not a csr", "invalid_csr"),
        ("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
         "invalid_csr"),
    ],
)  # fmt: skip
def test_bad_csr_is_a_400(ca, client, csr, code):
    response = client.post(
        "/v1/certificates", json={"profile": "server", "csr": csr}, headers=auth(ca.token())
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["field"] == "csr"


def test_csr_with_a_tampered_signature_is_refused(ca, client):
    der = bytearray(
        make_csr(ec_key(), encoding=serialization.Encoding.DER, dns_names=("a.svc.internal",))
    )
    der[-5] ^= 0x01
    pem = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()
    response = client.post(
        "/v1/certificates", json={"profile": "server", "csr": pem}, headers=auth(ca.token())
    )
    assert response.status_code == 400
    assert "signature" in response.json()["error"]["message"]


def test_malformed_and_unexpected_bodies_are_400(ca, client):
    token = ca.token()
    headers = {**auth(token), "Content-Type": "application/json"}
    cases = [
        b"{not json",
        b"[]",
        json.dumps({"profile": "server"}).encode(),
        json.dumps({"profile": "server", "csr": csr_pem(), "admin": True}).encode(),
        json.dumps({"profile": "server", "csr": csr_pem(), "lifetime_seconds": -1}).encode(),
    ]
    for content in cases:
        response = client.post("/v1/certificates", content=content, headers=headers)
        assert response.status_code == 400, content
        assert response.json()["error"]["code"] == "invalid_request"


def test_missing_field_is_named(ca, client):
    response = client.post("/v1/certificates", json={"profile": "server"}, headers=auth(ca.token()))
    assert response.json()["error"]["field"] == "csr"


def test_wrong_content_type_is_415(ca, client):
    response = client.post(
        "/v1/certificates",
        content=csr_pem().encode(),
        headers={**auth(ca.token()), "Content-Type": "application/pkcs10"},
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_oversized_body_is_413_with_or_without_content_length(ca, client):
    big = json.dumps({"profile": "server", "csr": "A" * 200_000}).encode()
    headers = {**auth(ca.token()), "Content-Type": "application/json"}
    response = client.post("/v1/certificates", content=big, headers=headers)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"

    def chunks():
        for start in range(0, len(big), 10_000):
            yield big[start : start + 10_000]

    chunked = client.post("/v1/certificates", content=chunks(), headers=headers)
    assert chunked.status_code == 413


def test_unknown_path_and_wrong_method_are_json_errors(client):
    assert client.get("/v1/nothing").json()["error"]["code"] == "not_found"
    response = client.delete("/v1/certificates")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        # GET lists, POST issues: two routes on one path, and Allow names both.
        ("DELETE", "/v1/certificates", "GET, POST"),
        ("PUT", "/v1/ca/crl", "GET"),
        ("GET", "/v1/certificates/0a/revoke", "POST"),
    ],
)
def test_a_405_names_the_allowed_methods(client, method, path, allow):
    # RFC 9110 section 15.5.6: "MUST generate an Allow header field in a 405 response".
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow


@pytest.mark.parametrize(
    ("common_name", "code"),
    [
        ("admin.evil.svc.internal", "policy_violation"),
        ("*.svc.internal", "policy_violation"),
        ("web\u202egpj.svc.internal", "invalid_name"),
        ("w\u200bb.svc.internal", "invalid_name"),
        ("\u0430dmin.svc.internal", "invalid_name"),
    ],
)
def test_a_token_for_svc_internal_gets_no_disguised_or_deeper_common_name(
    ca, client, common_name, code
):
    token = ca.token("svc", names=("*.svc.internal",))
    response = client.post(
        "/v1/certificates/generate",
        json={"profile": "server", "common_name": common_name, "dns_names": ["a.svc.internal"]},
        headers=auth(token),
    )
    assert response.json()["error"]["code"] == code
    assert response.status_code in (400, 403)
    assert ca.audit("issue") == []


def test_refusals_without_a_valid_token_are_counted_in_memory_not_stored(ca, client, caplog):
    store = ca.settings.sqlite_path
    rows_before = len(ca.audit())
    size_before = store.stat().st_size
    caplog.set_level(logging.INFO, logger="albca.api")
    unknown = "Bearer albca_0123456789abcdef_" + "A" * 43
    for index in range(150):
        headers = {"Authorization": unknown} if index % 2 else {}
        path = "/v1/certificates/" + "f" * 2000 if index % 3 else "/v1/certificates"
        assert client.get(path, headers=headers).status_code == 401
    assert len(ca.audit()) == rows_before
    assert store.stat().st_size == size_before
    # One line for the window, not one per request.
    lines = [r.getMessage() for r in caplog.records if "without a valid credential" in r.message]
    assert len(lines) == 1
    assert len(lines[0]) < 1000


def test_the_refusal_log_gives_the_previous_windows_counts():
    from albca.api.audit import UnauthenticatedRefusals

    now = [0.0]
    refusals = UnauthenticatedRefusals(window_seconds=60, clock=lambda: now[0])
    records = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("albca.api")
    logger.addHandler(handler)
    try:
        for _ in range(5):
            refusals.note(actor="unauthenticated", route="GET /v1/x", code="missing_credential")
        refusals.note(actor="token-id:0123456789abcdef", route="GET /v1/x", code="invalid_token")
        now[0] = 61.0
        refusals.note(actor="unauthenticated", route="GET /v1/x", code="missing_credential")
    finally:
        logger.removeHandler(handler)
    assert len(records) == 2
    assert "Previous window: none" in records[0].getMessage()
    assert (
        "6 refused (invalid_token=1, missing_credential=5); tried token-id:0123456789abcdef=1"
        in records[1].getMessage()
    )


def test_a_stored_refusal_is_bounded_and_says_it_was_cut(ca, client):
    token = ca.token("reader", scopes={Scope.ISSUE})
    response = client.get("/v1/certificates/" + "f" * 5000, headers=auth(token))
    assert response.status_code in (400, 404)
    refused = ca.audit("api.refused")[0]
    assert refused.actor == "api:reader"
    assert len(refused.detail["route"]) == 256
    assert refused.detail["truncated"] == ["route"]
