"""The CSR slice of an issuance (issue 17): what ``parse_csr`` and the name checks cost per
request, each fast path beside the cryptography calls it stands in for.

    .venv/bin/python bench/csr_parsing.py [--rounds 7] [--number 3000]

The request is the one ``bench/api_issuance.py`` sends (EC P-256, CN and one DNS name, PEM).
Figures are microseconds per call, best of ``--rounds`` interleaved rounds of ``--number``
calls; a loop this tight runs warmer than a server does (inside the issuing loop every
figure is about twice as large), so compare the lines with each other, not with
``bench/api_issuance.py``.

- names: ``csr_der.plain_names`` against reading the subject's common names and the
  subjectAltName through cryptography's objects (what ``parse_csr`` does for any request
  that is not plain), each with the request's loading;
- signature: ``csr._verified_public_key`` against ``is_signature_valid`` then
  ``public_key()`` (what it does for any pairing other than EC with ECDSA), each with the
  request's loading; the fast one also takes ``tbs_certrequest_bytes``, which
  ``is_signature_valid`` encodes inside and which ``plain_names`` then reads;
- policy: ``NamePolicy.check`` with its one alternation regex against one ``matches``
  call per pattern, for a token policy of four patterns;
- parse_csr and Authority._check: the whole slice.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_issuance import make_csr

from albca.ca.authority import Authority
from albca.ca.csr import _verified_public_key, parse_csr
from albca.ca.csr_der import plain_names
from albca.ca.keys import KeySpec
from albca.ca.names import RequestedNames
from albca.ca.policy import NamePolicy
from albca.ca.profiles import default_profiles


def _names_through_objects(request: x509.CertificateSigningRequest) -> object:
    common_names = [
        attribute.value for attribute in request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    ]
    san = request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return common_names, [name.value for name in san.value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=3000)
    options = parser.parse_args()

    pem = make_csr()
    der = x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER)
    request_info = x509.load_der_x509_csr(der).tbs_certrequest_bytes
    profile = default_profiles().get("server")
    token = NamePolicy.build(
        dns=["*.svc.internal", "api.example.com", "**.apps.internal", "web-*.internal"],
        common_names=["*.svc.internal"],
        name="token bench",
    )
    names = RequestedNames.of(common_name="bench.svc.internal", dns_names=["bench.svc.internal"])

    def verify_with_cryptography() -> object:
        request = x509.load_der_x509_csr(der)
        assert request.is_signature_valid
        return request.public_key()

    def check_per_pattern() -> None:
        for dns_name in names.dns_names:
            assert any(pattern.matches(dns_name) for pattern in token.dns)
        assert any(pattern.matches(str(names.common_name)) for pattern in token.common_names)

    pairs: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        (
            "names",
            lambda: (x509.load_der_x509_csr(der), plain_names(request_info)),
            lambda: _names_through_objects(x509.load_der_x509_csr(der)),
        ),
        (
            "signature",
            lambda: _verified_public_key(
                request := x509.load_der_x509_csr(der), request.tbs_certrequest_bytes
            ),
            verify_with_cryptography,
        ),
        ("policy", lambda: token.check(names), check_per_pattern),
    ]
    wholes: list[tuple[str, Callable[[], object]]] = [
        ("parse_csr (PEM)", lambda: parse_csr(pem)),
        (
            "Authority._check",
            lambda: Authority._check(profile, KeySpec.EC_P256, names, token),
        ),
    ]
    calls = [(f"{name} fast", fast) for name, fast, _ in pairs]
    calls += [(f"{name} cryptography", slow) for name, _, slow in pairs]
    calls += wholes
    best = {label: float("inf") for label, _ in calls}
    gc.collect()
    for _ in range(options.rounds):
        for label, call in calls:
            started = time.perf_counter()
            for _ in range(options.number):
                call()
            best[label] = min(best[label], (time.perf_counter() - started) / options.number)
    for name, _, _ in pairs:
        fast, slow = best[f"{name} fast"] * 1e6, best[f"{name} cryptography"] * 1e6
        print(
            f"{name:10} fast {fast:7.1f} us   per-object/per-call {slow:7.1f} us   "
            f"saves {slow - fast:5.1f} us"
        )
    for label, _ in wholes:
        print(f"{label:18} {best[label] * 1e6:7.1f} us")


if __name__ == "__main__":
    main()
