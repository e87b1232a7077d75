"""The holder's HTTP client against the real API over HTTPS: a lost answer is retried
with the same Idempotency-Key and body and returns the certificate already issued; a TLS
certificate that does not verify is refused at once, never retried."""

from __future__ import annotations

import ssl

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

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
    before = issued_count(api)
    renewed, _ = renew_losing_the_first_answer(api, certificate, key, "renew-1")
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
        renewed = client.renew(
            renewal_token=lambda: make_renewal_token(
                certificate, key, audience=api.audience, now=api.ca.clock(), rsa_algorithm="PS256"
            ),
            csr_pem=None,
            idempotency_key="pss-2",
        )
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


def renewal_of(api, name):
    """A client certificate and its key, issued through the API."""
    key = new_key(KeySpec.EC_P256)
    with CaClient(api.url, bundle_pem=api.bundle_pem) as client:
        issued = client.issue(
            token=api.ca.token(name),
            profile="client",
            csr_pem=csr_pem(key, RequestedNames.of(common_name=f"{name}.svc.internal")),
            lifetime_seconds=None,
            idempotency_key=f"{name}-issue",
        )
    return x509.load_pem_x509_certificate(issued.certificate_pem.encode()), key


def fail_first_renewals(api, monkeypatch, count=1):
    """The API spends the renewal token, then fails with 503 (a store outage) ``count``
    times: what the reviewer's locked store did."""
    from albca.ca.errors import StoreUnavailable

    authority = api.ca.authority
    real = authority.renew
    left = [count]

    def renew(*args, **kwargs):
        if left[0]:
            left[0] -= 1
            raise StoreUnavailable("the store is locked")
        return real(*args, **kwargs)

    monkeypatch.setattr(authority, "renew", renew)


def test_a_retried_renewal_signs_a_fresh_token_and_is_granted(api_on_clock, monkeypatch):
    api = api_on_clock
    certificate, key = renewal_of(api, "busy")
    fail_first_renewals(api, monkeypatch)
    renewed, transport = renew_losing_the_first_answer(api, certificate, key, "busy-renew", lose=0)
    assert x509.load_pem_x509_certificate(renewed.certificate_pem.encode()) != certificate
    tokens = [request.headers["Authorization"] for request in transport.sent]
    assert len(tokens) == len(set(tokens)) == 2  # the spent token was not sent again


def test_a_lost_renewal_answer_retried_with_a_new_token_returns_the_first_certificate(
    api_on_clock,
):
    api = api_on_clock
    certificate, key = renewal_of(api, "lost")
    before = issued_count(api)
    renewed, transport = renew_losing_the_first_answer(api, certificate, key, "lost-renew")
    tokens = {request.headers["Authorization"] for request in transport.sent}
    assert len(tokens) == 2
    assert {request.headers["Idempotency-Key"] for request in transport.sent} == {"lost-renew"}
    assert renewed.replayed  # the same key, a new token: the first attempt's certificate
    assert issued_count(api) == before + 1


def test_a_holder_clock_a_minute_ahead_of_the_cas_still_renews(api_on_clock, tmp_path):
    from datetime import timedelta

    from albca.holder.files import PairPaths
    from albca.holder.keys import key_pem
    from albca.holder.renewal import PendingRenewal, renew_pair

    api = api_on_clock
    certificate, key = renewal_of(api, "ahead")
    paths = PairPaths(certificate=tmp_path / "ahead.crt", key=tmp_path / "ahead.key")
    paths.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(key_pem(key))
    with CaClient(api.url, bundle_pem=api.bundle_pem) as client:
        renewed = renew_pair(
            client,
            paths,
            PendingRenewal(),
            trusted=x509.load_pem_x509_certificates(api.bundle_pem),
            audience=api.audience,
            now=api.ca.clock() + timedelta(seconds=60),
        )
    assert renewed.new.serial_number != certificate.serial_number


@pytest.mark.parametrize("skew_minutes", [10, -10])
def test_a_renewal_token_refused_for_its_times_is_clock_skew_and_retryable(
    api_on_clock, skew_minutes
):
    from datetime import timedelta

    from albca.holder.errors import ClockSkew

    api = api_on_clock
    certificate, key = renewal_of(api, f"skew{skew_minutes + 10}")
    pauses: list[float] = []
    with (
        CaClient(api.url, bundle_pem=api.bundle_pem, sleep=pauses.append) as client,
        pytest.raises(ClockSkew, match="clock skew") as refused,
    ):
        client.renew(
            renewal_token=lambda: make_renewal_token(
                certificate,
                key,
                audience=api.audience,
                now=api.ca.clock() + timedelta(minutes=skew_minutes),
            ),
            csr_pem=None,
            idempotency_key="skewed",
        )
    assert refused.value.retryable
    assert refused.value.code == "renewal_token_time"
    assert "the CA's clock reads" in refused.value.message
    assert pauses == []  # not retried at once: the agent comes back after its backoff


def test_an_older_apis_worded_clock_refusal_is_clock_skew_too():
    # An albca API from before renewal_token_time said it in an invalid_renewal_proof.
    from albca.holder.errors import ClockSkew, RenewalRefused

    messages = iter(
        [
            "Authorization: the renewal token's iat is in the future",
            "Authorization: x5c[0] is not a DER certificate",
        ]
    )

    def older_api(request: httpx.Request) -> httpx.Response:
        error = {"code": "invalid_renewal_proof", "message": next(messages)}
        return httpx.Response(401, json={"error": error})

    with CaClient(
        "https://ca.test", bundle_pem=None, transport=httpx.MockTransport(older_api)
    ) as client:
        with pytest.raises(ClockSkew, match="clock skew"):
            client.renew(renewal_token=lambda: "t", csr_pem=None, idempotency_key="k")
        # Any other invalid_renewal_proof is final, as it always was.
        with pytest.raises(RenewalRefused, match="x5c"):
            client.renew(renewal_token=lambda: "t", csr_pem=None, idempotency_key="k")


def renew_losing_the_first_answer(api, certificate, key, idempotency_key, *, lose=1):
    """A renewal through a transport that loses the first ``lose`` answers (the requests
    were served): the client's retries, each with a token made anew. Returns the result
    and the transport, which kept every request it sent."""
    transport = LosesFirstAnswers(api.bundle_pem, lose=lose)
    with CaClient(
        api.url, bundle_pem=api.bundle_pem, transport=transport, sleep=lambda s: None
    ) as client:
        renewed = client.renew(
            renewal_token=lambda: make_renewal_token(
                certificate, key, audience=api.audience, now=api.ca.clock()
            ),
            csr_pem=None,
            idempotency_key=idempotency_key,
        )
    return renewed, transport
