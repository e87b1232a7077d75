"""Reading, listing and revoking; the CA bundle, the CRL and health."""

from __future__ import annotations

from datetime import timedelta

from cryptography import x509

from albca.api.tokens import Scope
from albca.ca.records import RevocationReason
from tests.api.helpers import auth, csr_pem


def issue(client, token, name="a.svc.internal", **extra):
    response = client.post(
        "/v1/certificates",
        json={"profile": "server", "csr": csr_pem(common_name=name, dns_names=(name,)), **extra},
        headers=auth(token),
    )
    assert response.status_code == 201, response.text
    return response.json()["certificate"]["serial"]


def test_a_token_reads_its_own_certificate_without_read_scope(ca, client):
    token = ca.token("owner")
    serial = issue(client, token)
    response = client.get(f"/v1/certificates/{serial}", headers=auth(token))
    assert response.status_code == 200
    assert response.json()["serial"] == serial
    assert ca.audit("api.read")[0].actor == "api:owner"


def test_reading_another_tokens_certificate_needs_read_scope(ca, client):
    serial = issue(client, ca.token())
    other = ca.token("other")
    response = client.get(f"/v1/certificates/{serial}", headers=auth(other))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "scope_required"
    refused = ca.audit("api.refused")[0]
    assert (refused.actor, refused.serial) == ("api:other", int(serial, 16))
    reader = ca.token(scopes={Scope.READ})
    assert client.get(f"/v1/certificates/{serial}", headers=auth(reader)).status_code == 200


def test_unknown_and_malformed_serials(ca, client):
    token = ca.token(scopes={Scope.READ})
    unknown = client.get("/v1/certificates/abcdef0123", headers=auth(token))
    assert unknown.status_code == 404
    assert unknown.json()["error"] == {
        "code": "certificate_not_found",
        "message": "no certificate with serial abcdef0123",
        "field": "serial",
    }
    malformed = client.get("/v1/certificates/not-hex", headers=auth(token))
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "invalid_serial"


def test_list_filters_and_pages(ca, client):
    issuer = ca.token(scopes={Scope.ISSUE, Scope.REVOKE})
    serials = [issue(client, issuer, f"n{i}.svc.internal", lifetime_seconds=3600 * (i + 1))
               for i in range(5)]  # fmt: skip
    client.post(f"/v1/certificates/{serials[0]}/revoke", json={}, headers=auth(issuer))
    reader = ca.token(scopes={Scope.READ})
    page = client.get("/v1/certificates", params={"limit": 2}, headers=auth(reader)).json()
    assert [c["serial"] for c in page["certificates"]] == serials[:2]
    rest = client.get(
        "/v1/certificates",
        params={"limit": 10, "cursor": page["next_cursor"]},
        headers=auth(reader),
    ).json()
    assert [c["serial"] for c in rest["certificates"]] == serials[2:]
    assert rest["next_cursor"] is None
    revoked = client.get("/v1/certificates", params={"status": "revoked"}, headers=auth(reader))
    assert [c["serial"] for c in revoked.json()["certificates"]] == serials[:1]
    soon = (ca.clock() + timedelta(hours=2, minutes=30)).isoformat()
    expiring = client.get(
        "/v1/certificates",
        params={"status": "active", "expiring_before": soon},
        headers=auth(reader),
    )
    assert [c["serial"] for c in expiring.json()["certificates"]] == serials[1:2]
    bad = client.get("/v1/certificates", params={"cursor": "garbage"}, headers=auth(reader))
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "cursor"


def test_listing_needs_read_scope(ca, client):
    response = client.get("/v1/certificates", headers=auth(ca.token(scopes={Scope.ISSUE})))
    assert response.status_code == 403


def test_a_token_revokes_its_own_certificate_with_issue_scope_only(ca, client):
    token = ca.token("self")
    serial = issue(client, token)
    response = client.post(
        f"/v1/certificates/{serial}/revoke", json={"reason": "key-compromise"}, headers=auth(token)
    )
    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    assert response.json()["revocation_reason"] == "key-compromise"
    record = ca.authority.get(int(serial, 16))
    assert record.revocation_reason is RevocationReason.KEY_COMPROMISE
    assert ca.audit("revoke")[0].actor == "api:self"


def test_revoking_anothers_certificate_needs_revoke_scope_and_policy(ca, client):
    serial = issue(client, ca.token(names=("*.svc.internal",)))
    no_scope = ca.token("noscope", scopes={Scope.ISSUE, Scope.READ})
    refused = client.post(f"/v1/certificates/{serial}/revoke", headers=auth(no_scope))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "scope_required"
    elsewhere = ca.token("elsewhere", scopes={Scope.REVOKE}, names=("*.prod.internal",))
    outside = client.post(f"/v1/certificates/{serial}/revoke", headers=auth(elsewhere))
    assert outside.status_code == 403
    assert outside.json()["error"]["code"] == "policy_violation"
    admin = ca.token("secops", scopes={Scope.REVOKE}, names=("*.svc.internal",))
    allowed = client.post(
        f"/v1/certificates/{serial}/revoke", json={"reason": "superseded"}, headers=auth(admin)
    )
    assert allowed.status_code == 200
    assert ca.audit("revoke")[0].actor == "api:secops"
    again = client.post(f"/v1/certificates/{serial}/revoke", headers=auth(admin))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_revoked"


def test_revoke_with_an_unknown_reason_is_400(ca, client):
    token = ca.token()
    serial = issue(client, token)
    response = client.post(
        f"/v1/certificates/{serial}/revoke", json={"reason": "because"}, headers=auth(token)
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "reason"


def test_crl_lists_a_revocation_made_through_the_api_in_pem_and_der(ca, client):
    token = ca.token()
    serial = issue(client, token)
    before = x509.load_pem_x509_crl(client.get("/v1/ca/crl").content)
    assert before.get_revoked_certificate_by_serial_number(int(serial, 16)) is None
    client.post(f"/v1/certificates/{serial}/revoke", headers=auth(token))
    pem = client.get("/v1/ca/crl")
    der = client.get("/v1/ca/crl.der")
    assert pem.headers["content-type"] == "application/x-pem-file"
    assert der.headers["content-type"] == "application/pkix-crl"
    for crl in (x509.load_pem_x509_crl(pem.content), x509.load_der_x509_crl(der.content)):
        assert crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None
        assert crl.is_signature_valid(ca.authority.issuer().certificate.public_key())


def test_crl_is_not_signed_again_on_every_request(ca, client):
    numbers = {
        x509.load_der_x509_crl(client.get("/v1/ca/crl.der").content)
        .extensions.get_extension_for_class(x509.CRLNumber)
        .value.crl_number
        for _ in range(3)
    }
    assert len(numbers) == 1
    ca.clock.advance(timedelta(minutes=2))
    later = x509.load_der_x509_crl(client.get("/v1/ca/crl.der").content)
    assert later.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number > max(numbers)


def test_bundle_holds_root_then_issuing_ca(ca, client):
    response = client.get("/v1/ca/bundle")
    certificates = x509.load_pem_x509_certificates(response.content)
    assert certificates == ca.authority.trusted_certificates()
    assert certificates[0].issuer == certificates[0].subject


def test_health_names_the_active_issuer(ca, client):
    body = client.get("/v1/health").json()
    assert body["status"] == "ok"
    assert body["issuer_key_id"] == ca.authority.active_issuer_record().key_id


def test_openapi_document_lists_every_endpoint(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) == {
        "/v1/health",
        "/v1/ca/bundle",
        "/v1/ca/crl",
        "/v1/ca/crl.der",
        "/v1/certificates",
        "/v1/certificates/generate",
        "/v1/certificates/renew",
        "/v1/certificates/{serial}",
        "/v1/certificates/{serial}/revoke",
        "/v1/certificates/{serial}/renew",
    }


def test_openapi_document_declares_who_needs_which_credential(client):
    document = client.get("/openapi.json").json()
    assert set(document["components"]["securitySchemes"]) == {"ApiToken", "RenewalToken"}
    paths = document["paths"]
    assert paths["/v1/certificates"]["post"]["security"] == [{"ApiToken": []}]
    assert paths["/v1/certificates/renew"]["post"]["security"] == [{"RenewalToken": []}]
    assert "security" not in paths["/v1/ca/bundle"]["get"]


def test_a_unique_serial_prefix_reads_and_revokes(ca, client):
    token = ca.token(scopes={Scope.READ, Scope.ISSUE, Scope.REVOKE})
    serial = issue(client, token)
    prefix = ":".join(serial[i : i + 2] for i in range(0, 10, 2)).upper()  # 10 digits
    response = client.get(f"/v1/certificates/{prefix}", headers=auth(token))
    assert response.status_code == 200, response.text
    assert response.json()["serial"] == serial
    revoked = client.post(f"/v1/certificates/{serial[:8]}/revoke", headers=auth(token))
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["serial"] == serial
