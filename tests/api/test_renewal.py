"""Renewal by proof of possession (renewal token, ALB mTLS headers) and by API token."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from albca.api.app import create_app
from albca.api.tokens import Scope
from albca.ca.records import RevocationReason
from tests.api.helpers import alb_headers, auth, csr_pem, open_api_ca, renewal_token
from tests.factories import ec_key


def renew(client, token, **kwargs):
    return client.post("/v1/certificates/renew", headers=auth(token), **kwargs)


def test_renewal_token_renews_for_the_same_names_and_key(ca, client, holder):
    certificate, key = holder
    response = renew(client, renewal_token(certificate, key, issued_at=ca.clock()))
    assert response.status_code == 201, response.text
    renewed = x509.load_pem_x509_certificate(response.json()["certificate_pem"].encode())
    assert renewed.serial_number != certificate.serial_number
    assert renewed.subject == certificate.subject
    assert renewed.public_key() == certificate.public_key()
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert renewed.not_valid_after_utc - renewed.not_valid_before_utc == lifetime
    body = response.json()["certificate"]
    assert body["requested_by"] == "api:issuer"  # ownership carries over
    event = ca.audit("api.renew")[0]
    assert event.actor == f"holder:{certificate.serial_number:x}"
    assert event.detail["proof"] == "x5c-token"
    assert ca.audit("issue")[0].detail["renewal_of"] == f"{certificate.serial_number:x}"


def test_renewal_with_a_csr_changes_the_key_but_not_the_names(ca, client, holder):
    certificate, key = holder
    new_key = ec_key()
    response = renew(
        client,
        renewal_token(certificate, key, issued_at=ca.clock()),
        json={"csr": csr_pem(new_key, common_name="evil.example", dns_names=("evil.example",))},
    )
    assert response.status_code == 201
    renewed = x509.load_pem_x509_certificate(response.json()["certificate_pem"].encode())
    assert renewed.public_key() == new_key.public_key()
    assert renewed.subject == certificate.subject


def test_expired_renewal_token_is_refused(ca, client, holder):
    certificate, key = holder
    token = renewal_token(certificate, key, issued_at=ca.clock() - timedelta(minutes=10))
    response = renew(client, token)
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]
    # A code of its own, and the CA's time: a holder can tell clocks that differ.
    assert response.json()["error"]["code"] == "renewal_token_time"
    assert f"the CA's clock reads {ca.clock().isoformat()}" in response.json()["error"]["message"]


def test_renewal_token_for_another_audience_is_refused(ca, client, holder):
    certificate, key = holder
    token = renewal_token(certificate, key, issued_at=ca.clock(), audience="https://other/")
    response = renew(client, token)
    assert response.status_code == 401
    assert "aud" in response.json()["error"]["message"]


def test_replayed_renewal_token_is_refused(ca, client, holder):
    certificate, key = holder
    token = renewal_token(certificate, key, issued_at=ca.clock())
    assert renew(client, token).status_code == 201
    again = renew(client, token)
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "renewal_token_replayed"


def test_a_spent_token_stays_spent_through_the_clock_skew_leeway(ca, client, holder):
    # The token is accepted until exp + leeway (30 s); its jti must be remembered as long,
    # or a replay just after exp would issue a second certificate.
    certificate, key = holder
    token = renewal_token(certificate, key, issued_at=ca.clock(), lifetime=timedelta(seconds=60))
    assert renew(client, token).status_code == 201
    ca.clock.advance(timedelta(seconds=75))  # past exp, inside the leeway
    again = renew(client, token)
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "renewal_token_replayed"


def test_renewal_of_a_revoked_certificate_is_refused(ca, client, holder):
    certificate, key = holder
    client.post(
        f"/v1/certificates/{certificate.serial_number:x}/revoke",
        headers=auth(ca.token(scopes={Scope.REVOKE}, names=("**",))),
    )
    response = renew(client, renewal_token(certificate, key, issued_at=ca.clock()))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_renewable"
    assert "revoked" in response.json()["error"]["message"]


def test_renewal_of_an_expired_certificate_is_refused(ca, client):
    key = ec_key()
    response = client.post(
        "/v1/certificates",
        json={"profile": "client", "csr": csr_pem(key, common_name="w.svc.internal", dns_names=()),
              "lifetime_seconds": 600},
        headers=auth(ca.token()),
    )  # fmt: skip
    certificate = x509.load_pem_x509_certificate(response.json()["certificate_pem"].encode())
    ca.clock.advance(timedelta(minutes=11))
    refused = renew(client, renewal_token(certificate, key, issued_at=ca.clock()))
    assert refused.status_code == 409
    assert "expired" in refused.json()["error"]["message"]


def test_renewal_token_signed_by_another_key_is_refused(ca, client, holder):
    certificate, _ = holder
    response = renew(client, renewal_token(certificate, ec_key(), issued_at=ca.clock()))
    assert response.status_code == 401
    assert "signature" in response.json()["error"]["message"]


def test_renewal_token_with_a_certificate_from_another_ca_is_refused(ca, client, tmp_path):
    other = open_api_ca(tmp_path / "other")
    try:
        key = ec_key()
        foreign = other.authority.issue_from_csr(
            csr_pem(key, common_name="w.svc.internal", dns_names=()),
            profile="client",
            requested_by="t",
        )
    finally:
        other.close()
    response = renew(client, renewal_token(foreign.certificate, key, issued_at=ca.clock()))
    assert response.status_code == 401
    assert "not issued by this CA" in response.json()["error"]["message"]


def with_header(token: str, **changes) -> str:
    """The token with its protected header changed (its signature left as it was)."""
    header_b64, payload, signature = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    header.update(changes)
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return f"{encoded}.{payload}.{signature}"


def test_renewal_token_may_not_outlive_five_minutes(ca, client, holder):
    certificate, key = holder
    token = renewal_token(certificate, key, issued_at=ca.clock(), lifetime=timedelta(hours=1))
    response = renew(client, token)
    assert response.status_code == 401
    assert "longer than" in response.json()["error"]["message"]


@pytest.mark.parametrize("algorithm", ["ES384", "HS256", "none", "RS256"])
def test_renewal_token_algorithm_is_fixed_by_the_certificate_key(ca, client, holder, algorithm):
    certificate, key = holder
    token = with_header(renewal_token(certificate, key, issued_at=ca.clock()), alg=algorithm)
    response = renew(client, token)
    assert response.status_code == 401
    assert "alg" in response.json()["error"]["message"]


def test_renewal_token_without_x5c_is_refused(ca, client, holder):
    certificate, key = holder
    token = with_header(renewal_token(certificate, key, issued_at=ca.clock()), x5c=None)
    response = renew(client, token)
    assert response.status_code == 401
    assert "x5c" in response.json()["error"]["message"]


@pytest.mark.parametrize("bad", ["garbage", "a.b.c", ""])
def test_malformed_renewal_tokens_are_401(client, bad):
    response = client.post("/v1/certificates/renew", headers={"Authorization": f"Bearer {bad}"})
    assert response.status_code == 401


def test_an_api_token_is_not_a_proof_of_possession(ca, client):
    response = renew(client, ca.token(scopes={Scope.RENEW}))
    assert response.status_code == 401
    assert "{serial}/renew" in response.json()["error"]["message"]


# -- ALB mTLS headers -------------------------------------------------------------------
@pytest.fixture
def behind_alb(ca):
    settings = dataclasses.replace(ca.api.settings, behind_alb_mtls=True)
    app = create_app(dataclasses.replace(ca.api, settings=settings))
    with TestClient(app, base_url="https://testserver") as test_client:
        yield test_client


def test_alb_headers_renew_when_the_api_is_behind_an_alb(ca, behind_alb, holder):
    certificate, _ = holder
    token = ca.token()
    # A "+" in the PEM must survive the header's URL encoding. About one certificate in
    # thirty has none (its random bytes decide): issue until one has.
    for _attempt in range(200):
        if "+" in certificate.public_bytes(serialization.Encoding.PEM).decode():
            break
        issued = behind_alb.post(
            "/v1/certificates",
            json={"profile": "client", "csr": csr_pem(common_name="w1.svc.internal", dns_names=())},
            headers=auth(token),
        )
        certificate = x509.load_pem_x509_certificate(issued.json()["certificate_pem"].encode())
    assert "+" in certificate.public_bytes(serialization.Encoding.PEM).decode()
    response = behind_alb.post("/v1/certificates/renew", headers=alb_headers(certificate))
    assert response.status_code == 201, response.text
    assert ca.audit("api.renew")[0].detail["proof"] == "alb-mtls"


def test_spoofed_alb_headers_are_refused_when_not_behind_an_alb(ca, client, holder):
    certificate, key = holder
    response = client.post("/v1/certificates/renew", headers=alb_headers(certificate))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "untrusted_mtls_headers"
    # Even alongside a valid renewal token: the request is not to be believed.
    mixed = client.post(
        "/v1/certificates/renew",
        headers={
            **alb_headers(certificate),
            **auth(renewal_token(certificate, key, issued_at=ca.clock())),
        },
    )
    assert mixed.status_code == 400
    assert ca.audit("issue")[0].detail.get("renewal_of") is None


def test_alb_header_with_a_foreign_certificate_is_refused(ca, behind_alb, tmp_path):
    other = open_api_ca(tmp_path / "other")
    try:
        foreign = other.authority.issue_with_new_key(
            profile="client",
            names=__import__("albca.ca.names").ca.names.RequestedNames.of(common_name="x"),
            requested_by="t",
        )
    finally:
        other.close()
    response = behind_alb.post("/v1/certificates/renew", headers=alb_headers(foreign.certificate))
    assert response.status_code == 401


def test_alb_serial_header_must_match_the_leaf(ca, behind_alb, holder):
    certificate, _ = holder
    headers = {**alb_headers(certificate), "X-Amzn-Mtls-Clientcert-Serial-Number": "01"}
    response = behind_alb.post("/v1/certificates/renew", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["field"] == "X-Amzn-Mtls-Clientcert-Serial-Number"


# -- renewal by API token ---------------------------------------------------------------
def test_renew_any_scope_renews_another_tokens_certificate_by_serial(ca, client, holder):
    certificate, _ = holder
    token = ca.token("renewer", scopes={Scope.RENEW_ANY})
    response = client.post(
        f"/v1/certificates/{certificate.serial_number:x}/renew", headers=auth(token)
    )
    assert response.status_code == 201
    # The renewal keeps the owner (README: "renewals keep the owner"); the audit trail
    # names the token that renewed it.
    renewed = response.json()["certificate"]
    assert renewed["requested_by"] == "api:issuer"
    (event,) = [e for e in ca.audit("issue") if e.serial == int(renewed["serial"], 16)]
    assert event.actor == "api:renewer"
    assert event.detail["renewal_of"] == f"{certificate.serial_number:x}"


def test_the_owner_keeps_its_certificate_after_another_token_renewed_it(ca, client):
    # Before: a renew-any renewal made the renewing token the owner, and the token that
    # obtained the certificate (and holds its key) could neither renew nor revoke it.
    owner = ca.token("owner", scopes={Scope.ISSUE, Scope.RENEW})
    issued = client.post(
        "/v1/certificates",
        json={"profile": "client", "csr": csr_pem(ec_key(), common_name="w2.svc.internal")},
        headers=auth(owner),
    )
    assert issued.status_code == 201, issued.text
    ops = ca.token("ops", scopes={Scope.RENEW_ANY})
    by_ops = client.post(
        f"/v1/certificates/{issued.json()['certificate']['serial']}/renew", headers=auth(ops)
    )
    assert by_ops.status_code == 201, by_ops.text
    serial = by_ops.json()["certificate"]["serial"]
    again = client.post(f"/v1/certificates/{serial}/renew", headers=auth(owner))
    assert again.status_code == 201, again.text
    assert again.json()["certificate"]["requested_by"] == "api:owner"
    revoked = client.post(
        f"/v1/certificates/{serial}/revoke", json={"reason": "key-compromise"}, headers=auth(owner)
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"


def test_renew_by_serial_without_renew_scope_is_refused(ca, client, holder):
    certificate, _ = holder
    token = ca.token(scopes={Scope.ISSUE, Scope.READ})
    response = client.post(
        f"/v1/certificates/{certificate.serial_number:x}/renew", headers=auth(token)
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "scope_required"


def test_renew_by_serial_outside_the_token_policy_is_refused(ca, client, holder):
    certificate, _ = holder
    token = ca.token(scopes={Scope.RENEW_ANY}, names=("*.prod.internal",))
    response = client.post(
        f"/v1/certificates/{certificate.serial_number:x}/renew", headers=auth(token)
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "policy_violation"


def test_renew_scope_renews_only_certificates_the_token_obtained(ca, client, holder):
    # Before: any token with `renew` could put its own key on another token's certificate.
    certificate, _ = holder  # obtained by the token "issuer"
    intruder = ca.token("intruder", scopes={Scope.RENEW})
    response = client.post(
        f"/v1/certificates/{certificate.serial_number:x}/renew",
        json={"csr": csr_pem(ec_key(), common_name="w1.svc.internal", dns_names=())},
        headers=auth(intruder),
    )
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "scope_required"
    assert "renew-any" in error["message"]
    assert [e.serial for e in ca.audit("issue")] == [certificate.serial_number]

    owner = ca.token("owner", scopes={Scope.ISSUE, Scope.RENEW})
    own = client.post(
        "/v1/certificates/generate",
        json={"profile": "client", "common_name": "w2.svc.internal"},
        headers=auth(owner),
    )
    assert own.status_code == 201
    renewed = client.post(
        f"/v1/certificates/{own.json()['certificate']['serial']}/renew", headers=auth(owner)
    )
    assert renewed.status_code == 201, renewed.text


def test_a_renewal_descending_from_a_revoked_certificate_is_not_renewed(ca, client, holder):
    certificate, key = holder
    first = renew(client, renewal_token(certificate, key, issued_at=ca.clock()))
    assert first.status_code == 201
    child = x509.load_pem_x509_certificate(first.json()["certificate_pem"].encode())
    ca.authority.revoke(
        certificate.serial_number, RevocationReason.KEY_COMPROMISE, requested_by="test"
    )

    # By proof of possession of the child, and by API token: both refused.
    again = renew(client, renewal_token(child, key, issued_at=ca.clock()))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_renewable"
    assert f"{certificate.serial_number:x}, which is revoked" in again.json()["error"]["message"]
    token = ca.token(scopes={Scope.RENEW_ANY})
    by_token = client.post(f"/v1/certificates/{child.serial_number:x}/renew", headers=auth(token))
    assert by_token.status_code == 409
    assert len(ca.audit("issue")) == 2
