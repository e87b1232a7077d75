"""The holder's HTTP client against the real API over HTTPS: a lost answer is retried
with the same Idempotency-Key and body and returns the certificate already issued; a TLS
certificate that does not verify is refused at once, never retried."""

from __future__ import annotations

import ssl

import httpx
import pytest
from cryptography import x509

from albca.ca.keys import KeySpec
from albca.ca.names import RequestedNames
from albca.ca.records import CertificateQuery
from albca.ca.renewal_token import make_renewal_token
from albca.holder.client import CaClient
from albca.holder.errors import VerificationFailed
from albca.holder.keys import csr_pem, new_key


class LosesFirstAnswers(httpx.HTTPTransport):
    """Sends each request to the server, but loses the answer to the first ``lose`` POSTs
    (the connection drops after the server acted): what a retry must survive."""

    def __init__(self, bundle_pem: bytes, lose: int) -> None:
        super().__init__(verify=ssl.create_default_context(cadata=bundle_pem.decode()))
        self.lose = lose
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == "POST":
            self.sent.append(request)
            if self.lose:
                self.lose -= 1
                response.read()
                response.close()
                raise httpx.ReadError("connection reset by peer", request=request)
        return response


def issued_count(api) -> int:
    return len(api.ca.authority.list_certificates(CertificateQuery(limit=1000)).records)


def test_a_lost_answer_is_retried_with_the_same_key_and_returns_the_same_certificate(
    api_on_clock,
):
    api = api_on_clock
    transport = LosesFirstAnswers(api.bundle_pem, lose=2)
    pauses: list[float] = []
    before = issued_count(api)
    key = new_key(KeySpec.EC_P256)
    with CaClient(
        api.url, bundle_pem=api.bundle_pem, transport=transport, sleep=pauses.append
    ) as client:
        issued = client.issue(
            token=api.ca.token("lossy"),
            profile="client",
            csr_pem=csr_pem(key, RequestedNames.of(common_name="lossy.svc.internal")),
            lifetime_seconds=None,
            idempotency_key="the-one-request",
        )
    assert len(transport.sent) == 3
    assert {r.headers["Idempotency-Key"] for r in transport.sent} == {"the-one-request"}
    assert len({r.content for r in transport.sent}) == 1  # the same CSR bytes each time
    assert issued.replayed  # the answer to the third is the first one's certificate
    assert issued_count(api) == before + 1  # one certificate, not three
    assert pauses == [0.5, 1.0]


def test_a_lost_renewal_answer_returns_the_same_renewed_certificate(api_on_clock):
    api = api_on_clock
    key = new_key(KeySpec.EC_P256)
    with CaClient(api.url, bundle_pem=api.bundle_pem) as client:
        first = client.issue(
            token=api.ca.token("renewer"),
            profile="client",
            csr_pem=csr_pem(key, RequestedNames.of(common_name="renew.svc.internal")),
            lifetime_seconds=None,
            idempotency_key="issue-1",
        )
    certificate = x509.load_pem_x509_certificate(first.certificate_pem.encode())
    token = make_renewal_token(certificate, key, audience=api.audience, now=api.ca.clock())
    transport = LosesFirstAnswers(api.bundle_pem, lose=1)
    before = issued_count(api)
    with CaClient(
        api.url, bundle_pem=api.bundle_pem, transport=transport, sleep=lambda s: None
    ) as client:
        renewed = client.renew(renewal_token=token, csr_pem=None, idempotency_key="renew-1")
    assert renewed.replayed
    assert issued_count(api) == before + 1


def test_an_api_certificate_that_does_not_verify_is_refused_without_retry(api_on_clock, tmp_path):
    from albca.trust_bundle.bundle import TrustBundle
    from tests.api.helpers import open_api_ca

    other = open_api_ca(tmp_path / "other")
    try:
        wrong_bundle = TrustBundle.of(other.authority.trusted_certificates()).pem
    finally:
        other.close()
    pauses: list[float] = []
    with (
        CaClient(api_on_clock.url, bundle_pem=wrong_bundle, sleep=pauses.append) as client,
        pytest.raises(VerificationFailed, match="does not verify against the saved CA bundle"),
    ):
        client.health()
    assert pauses == []


def test_token_made_by_the_holder_is_accepted_by_the_api_for_rsa_pss(api_on_clock):
    # PS256 is what some HSM-backed keys can only make; the API must take it too.
    api = api_on_clock
    key = new_key(KeySpec.RSA_2048)
    with CaClient(api.url, bundle_pem=api.bundle_pem) as client:
        first = client.issue(
            token=api.ca.token("pss"),
            profile="client",
            csr_pem=csr_pem(key, RequestedNames.of(common_name="pss.svc.internal")),
            lifetime_seconds=None,
            idempotency_key="pss-1",
        )
        certificate = x509.load_pem_x509_certificate(first.certificate_pem.encode())
        token = make_renewal_token(
            certificate, key, audience=api.audience, now=api.ca.clock(), rsa_algorithm="PS256"
        )
        renewed = client.renew(renewal_token=token, csr_pem=None, idempotency_key="pss-2")
    assert renewed.serial != first.serial


def test_a_renewed_certificate_that_does_not_verify_is_not_written(api_on_clock, tmp_path):
    from albca.holder.files import PairPaths
    from albca.holder.keys import key_pem
    from albca.holder.renewal import PendingRenewal, renew_pair
    from albca.trust_bundle.bundle import TrustBundle
    from tests.api.helpers import open_api_ca

    api = api_on_clock
    key = new_key(KeySpec.EC_P256)
    with CaClient(api.url, bundle_pem=api.bundle_pem) as client:
        issued = client.issue(
            token=api.ca.token("kept"),
            profile="client",
            csr_pem=csr_pem(key, RequestedNames.of(common_name="kept.svc.internal")),
            lifetime_seconds=None,
            idempotency_key="kept-1",
        )
        paths = PairPaths(certificate=tmp_path / "kept.crt", key=tmp_path / "kept.key")
        paths.certificate.write_text(issued.certificate_pem)
        paths.key.write_bytes(key_pem(key))
        before = (paths.certificate.read_bytes(), paths.key.read_bytes())
        other = open_api_ca(tmp_path / "other")
        try:
            # The saved bundle is another CA's: whatever the API answers cannot verify.
            trusted = list(TrustBundle.of(other.authority.trusted_certificates()).certificates)
        finally:
            other.close()
        with pytest.raises(VerificationFailed, match="the old files were kept"):
            renew_pair(
                client,
                paths,
                PendingRenewal(rekey=True),
                trusted=trusted,
                audience=api.audience,
                now=api.ca.clock(),
            )
    assert (paths.certificate.read_bytes(), paths.key.read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("kept")) == [
        "kept.crt",
        "kept.key",
    ]
