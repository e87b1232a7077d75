"""Idempotency-Key on renewal: a retried renewal returns the certificate the first attempt
issued and never issues a second one, for API tokens and for certificate holders."""

from __future__ import annotations

import dataclasses

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from albca.api.tokens import Scope
from albca.ca.keys import KeySpec
from albca.ca.profiles import ProfileSet
from albca.ca.records import CertificateQuery
from tests.api.helpers import auth, csr_pem, renewal_token
from tests.factories import ec_key


def issued_count(ca) -> int:
    return len(ca.authority.list_certificates(CertificateQuery(limit=1000)).records)


def renew_by_serial(client, certificate, token, key, **kwargs):
    return client.post(
        f"/v1/certificates/{certificate.serial_number:x}/renew",
        headers={**auth(token), "Idempotency-Key": key},
        **kwargs,
    )


def test_renewal_by_serial_retried_returns_the_same_certificate(ca, client, holder):
    certificate, _ = holder
    token = ca.token("renewer", scopes={Scope.RENEW_ANY})
    first = renew_by_serial(client, certificate, token, "renew-1")
    second = renew_by_serial(client, certificate, token, "renew-1")
    assert first.status_code == second.status_code == 201, second.text
    assert first.json()["certificate_pem"] == second.json()["certificate_pem"]
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert issued_count(ca) == 2  # the holder's certificate and one renewal
    assert [e.actor for e in ca.audit("api.replay")] == ["api:renewer"]


def test_renewal_by_serial_with_a_new_key_is_a_new_renewal(ca, client, holder):
    certificate, _ = holder
    token = ca.token(scopes={Scope.RENEW_ANY})
    first = renew_by_serial(client, certificate, token, "a")
    second = renew_by_serial(client, certificate, token, "b")
    assert first.json()["certificate"]["serial"] != second.json()["certificate"]["serial"]
    assert issued_count(ca) == 3


def test_renewal_by_serial_same_key_other_body_is_422_and_issues_nothing(ca, client, holder):
    certificate, _ = holder
    token = ca.token(scopes={Scope.RENEW_ANY})
    assert renew_by_serial(client, certificate, token, "k").status_code == 201
    response = renew_by_serial(client, certificate, token, "k", json={"csr": csr_pem(ec_key())})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert issued_count(ca) == 2


def test_a_renewal_refused_by_policy_claims_no_key(ca, client, holder):
    certificate, _ = holder
    token = ca.token("narrow", scopes={Scope.RENEW_ANY}, names=("*.prod.internal",))
    response = renew_by_serial(client, certificate, token, "k")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "policy_violation"
    caller_id = ca.api.tokens.by_name("narrow").token_id
    assert ca.api.idempotency.find(caller_id, "k", ca.clock()) is None
    assert issued_count(ca) == 1


def holder_renew(client, token, key, **kwargs):
    return client.post(
        "/v1/certificates/renew", headers={**auth(token), "Idempotency-Key": key}, **kwargs
    )


def test_holder_retry_with_the_same_renewal_token_returns_the_same_certificate(ca, client, holder):
    # Without a key the second use of a token is a replay (test_renewal); with one, a
    # client whose response was lost gets its certificate back.
    certificate, key = holder
    token = renewal_token(certificate, key, issued_at=ca.clock())
    first = holder_renew(client, token, "lost-response")
    second = holder_renew(client, token, "lost-response")
    assert first.status_code == second.status_code == 201, second.text
    assert first.json()["certificate_pem"] == second.json()["certificate_pem"]
    assert second.headers["idempotent-replayed"] == "true"
    assert issued_count(ca) == 2
    replay = ca.audit("api.replay")[0]
    assert replay.actor == f"holder:{certificate.serial_number:x}"
    assert replay.serial == int(first.json()["certificate"]["serial"], 16)


def test_holder_retry_with_a_fresh_token_returns_the_same_certificate(ca, client, holder):
    certificate, key = holder
    first = holder_renew(client, renewal_token(certificate, key, issued_at=ca.clock()), "r")
    second = holder_renew(client, renewal_token(certificate, key, issued_at=ca.clock()), "r")
    assert first.json()["certificate_pem"] == second.json()["certificate_pem"]
    assert issued_count(ca) == 2


def test_holder_same_key_other_body_is_422(ca, client, holder):
    certificate, key = holder
    assert holder_renew(client, renewal_token(certificate, key, issued_at=ca.clock()), "k")
    response = holder_renew(
        client,
        renewal_token(certificate, key, issued_at=ca.clock()),
        "k",
        json={"csr": csr_pem(ec_key())},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert issued_count(ca) == 2


def test_holder_keys_are_per_certificate(ca, client, holder):
    # Another holder using the same Idempotency-Key gets its own renewal, not this one's.
    certificate, key = holder
    other_key = ec_key()
    issued = client.post(
        "/v1/certificates",
        json={"profile": "client", "csr": csr_pem(other_key, common_name="w2.svc.internal")},
        headers=auth(ca.token()),
    )
    other = x509.load_pem_x509_certificate(issued.json()["certificate_pem"].encode())
    mine = holder_renew(client, renewal_token(certificate, key, issued_at=ca.clock()), "same")
    theirs = holder_renew(client, renewal_token(other, other_key, issued_at=ca.clock()), "same")
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["certificate"]["serial"] != theirs.json()["certificate"]["serial"]
    assert theirs.json()["certificate"]["common_name"] == "w2.svc.internal"
    assert "idempotent-replayed" not in theirs.headers


def test_replayed_token_with_an_unused_key_is_still_refused(ca, client, holder):
    # A key does not launder a spent token: a new key means a new renewal, which needs an
    # unspent token.
    certificate, key = holder
    token = renewal_token(certificate, key, issued_at=ca.clock())
    assert holder_renew(client, token, "first").status_code == 201
    response = holder_renew(client, token, "second")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "renewal_token_replayed"
    assert issued_count(ca) == 2


def revoke(ca, client, certificate):
    response = client.post(
        f"/v1/certificates/{certificate.serial_number:x}/revoke",
        headers=auth(ca.token(scopes={Scope.REVOKE}, names=("**",))),
    )
    assert response.status_code == 200, response.text


def test_a_retry_after_the_old_certificate_was_revoked_still_gets_its_renewal(ca, client, holder):
    # Renew, lose the response, revoke the old certificate (the usual next step), retry:
    # the retry must return the renewal, not refuse because the old one is now revoked.
    certificate, _ = holder
    token = ca.token(scopes={Scope.RENEW_ANY})
    first = renew_by_serial(client, certificate, token, "then-revoke")
    revoke(ca, client, certificate)
    retry = renew_by_serial(client, certificate, token, "then-revoke")
    assert retry.status_code == 201, retry.text
    assert retry.json()["certificate_pem"] == first.json()["certificate_pem"]
    assert retry.headers["idempotent-replayed"] == "true"


def test_a_holder_retry_after_the_old_certificate_was_revoked_gets_its_renewal(ca, client, holder):
    certificate, key = holder
    token = renewal_token(certificate, key, issued_at=ca.clock())
    first = holder_renew(client, token, "then-revoke")
    revoke(ca, client, certificate)
    retry = holder_renew(client, token, "then-revoke")
    assert retry.status_code == 201, retry.text
    assert retry.json()["certificate_pem"] == first.json()["certificate_pem"]


def test_a_renewal_refused_by_the_profile_claims_no_key(ca, client, holder):
    # The profile now allows only P-384 keys: a P-256 CSR is refused before the key is
    # claimed, so the same key then works for a corrected request.
    certificate, _ = holder
    authority = ca.authority
    profiles = authority.config.profiles
    only_p384 = dataclasses.replace(profiles.get("client"), key_specs=frozenset({KeySpec.EC_P384}))
    authority.config = dataclasses.replace(
        authority.config,
        profiles=ProfileSet.of([only_p384, profiles.get("server")]),
    )
    token = ca.token(scopes={Scope.RENEW_ANY})
    refused = renew_by_serial(client, certificate, token, "k", json={"csr": csr_pem(ec_key())})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "unsupported_key"
    corrected = renew_by_serial(
        client, certificate, token, "k", json={"csr": csr_pem(ec_key(ec.SECP384R1()))}
    )
    assert corrected.status_code == 201, corrected.text
