"""Fuzz the API: no input gives a 500.

Two layers. Schemathesis generates requests from the API's own OpenAPI document, valid
and invalid per the schema (positive and negative modes), and calls the ASGI app
in-process with an API token holding every scope. Because schema-valid random strings
mostly stop at the first check (an unknown profile, a serial that is not hex), a second,
Hypothesis-driven test aims at the depths: real profiles, real serials, CSRs with bytes
flipped, names built from DNS-ish alphabets. Examples are capped so both run in seconds.
"""

from __future__ import annotations

import base64
import collections

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from albca.api.app import create_app
from tests.api.helpers import ALL_SCOPES, auth, open_api_ca
from tests.factories import ec_key, make_csr

_SCHEMA_EXAMPLES = 30
_DEEP_EXAMPLES = 150
_FUZZ = {
    "deadline": None,
    "suppress_health_check": list(HealthCheck),
    "database": None,
    "derandomize": True,
}


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory):
    ca = open_api_ca(tmp_path_factory.mktemp("fuzz"))
    token = ca.token("fuzzer", scopes=ALL_SCOPES, names=("**", "0.0.0.0/0", "::/0"))
    yield ca, create_app(ca.api), token
    ca.close()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_schema_driven_requests_never_get_a_500(fuzz_target, mode):
    _, app, token = fuzz_target
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    statuses: collections.Counter[int] = collections.Counter()
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=_SCHEMA_EXAMPLES, **_FUZZ)
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            statuses[response.status_code] += 1
            assert response.status_code < 500, f"{case.method} {case.formatted_path}"

        try:
            run()
        except Unsatisfiable:
            # An operation without inputs (GET /v1/health) has no invalid variant.
            assert mode is GenerationMode.NEGATIVE
    assert sum(statuses.values()) > 100
    assert any(400 <= status < 500 for status in statuses)


_LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-*.", min_size=0, max_size=70)
_HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=8)
_SERVER_CSR = make_csr(ec_key(), common_name="a.svc.internal", dns_names=("a.svc.internal",))


def _mutated_csr(data: st.DataObject) -> str:
    der = bytearray(base64.b64decode(b"".join(_SERVER_CSR.splitlines()[1:-1])))
    for _ in range(data.draw(st.integers(0, 4))):
        index = data.draw(st.integers(0, len(der) - 1))
        der[index] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del der[data.draw(st.integers(0, len(der) - 1)) :]
    body = base64.b64encode(bytes(der)).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}\n-----END CERTIFICATE REQUEST-----\n"


def test_deep_requests_never_get_a_500(fuzz_target):
    _ca, app, token = fuzz_target
    client = TestClient(app)
    issued = client.post(
        "/v1/certificates",
        json={"profile": "server", "csr": _SERVER_CSR.decode()},
        headers=auth(token),
    ).json()["certificate"]["serial"]
    statuses: collections.Counter[int] = collections.Counter()

    @settings(max_examples=_DEEP_EXAMPLES, **_FUZZ)
    @given(data=st.data())
    def run(data):
        choice = data.draw(st.sampled_from(["csr", "generate", "revoke", "renew", "read"]))
        profile = data.draw(st.sampled_from(["client", "server", "other"]))
        if choice == "csr":
            response = client.post(
                "/v1/certificates",
                json={"profile": profile, "csr": _mutated_csr(data)},
                headers=auth(token),
            )
        elif choice == "generate":
            response = client.post(
                "/v1/certificates/generate",
                json={
                    "profile": profile,
                    "common_name": data.draw(st.none() | st.text(min_size=1, max_size=64)),
                    "dns_names": data.draw(st.lists(_LABEL, max_size=3)),
                    "ip_addresses": data.draw(
                        st.lists(st.ip_addresses().map(str) | st.text(max_size=20), max_size=2)
                    ),
                    "lifetime_seconds": data.draw(st.none() | st.integers(1, 10**9)),
                },
                headers={**auth(token), "Idempotency-Key": data.draw(_HEADER_TEXT) or "k"},
            )
        else:
            serial = data.draw(st.sampled_from([issued, "00", "ff" * 21, "1:2:3", "0x" + issued]))
            path = {"revoke": "revoke", "renew": "renew", "read": ""}[choice]
            url = f"/v1/certificates/{serial}/{path}".rstrip("/")
            if choice == "read":
                response = client.get(url, headers=auth(token))
            else:
                body = {"reason": data.draw(st.text(max_size=12))} if choice == "revoke" else {}
                response = client.post(url, json=body, headers=auth(token))
        statuses[response.status_code] += 1
        assert response.status_code < 500, (choice, response.text)

    run()
    assert statuses[201] > 0  # some requests got all the way through
    assert sum(statuses[s] for s in statuses if 400 <= s < 500) > 0
