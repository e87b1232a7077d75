"""After `albca ca rotate`, the API serves the previous issuing CA's CRL too.

The previous CA's certificates stay valid until they expire, and only its own CRL can list
their revocations (RFC 5280 section 5: a CRL covers the certificates of its issuer). Before,
`GET /v1/ca/crl` served the active CA's CRL only and ignored any issuer asked for, so a
revocation of a certificate issued before the rotation could not be fetched from the API.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from fastapi.testclient import TestClient
from pydantic import SecretStr

from albca.api.app import create_app
from albca.compose.api import open_api
from albca.compose.passphrase import passphrase_source
from albca.settings import Settings
from tests.cli.conftest import PASSPHRASE


@contextlib.contextmanager
def api_of(cli) -> Iterator[TestClient]:
    settings = Settings(
        home=cli.home,
        key_passphrase=SecretStr(PASSPHRASE),
        key_passphrase_file=None,
        store=None,
        sqlite_synchronous="normal",
    )
    stack = open_api(settings, passphrase_source(settings))
    try:
        with TestClient(create_app(stack.api), base_url="https://testserver") as client:
            yield client
    finally:
        stack.close()


def test_the_previous_issuing_cas_crl_is_served_after_a_rotation(initialized):
    cli = initialized
    before = cli.json("issue", "client", "--cn", "before-rotation")
    old_issuer = before["issuer_key_id"]
    cli.ok("ca", "rotate", "--no-publish")
    cli.ok("revoke", before["serial"], "--reason", "key-compromise")
    with api_of(cli) as api:
        active = x509.load_pem_x509_crl(api.get("/v1/ca/crl").content)
        old = api.get("/v1/ca/crl", params={"issuer": old_issuer})
        old_der = api.get("/v1/ca/crl.der", params={"issuer": old_issuer})
        unknown = api.get("/v1/ca/crl", params={"issuer": "ab" * 20})
        malformed = api.get("/v1/ca/crl.der", params={"issuer": "not-a-key-id"})
    serial = int(before["serial"], 16)
    assert active.get_revoked_certificate_by_serial_number(serial) is None  # not its CA's
    assert old.status_code == 200, old.text
    assert old_der.status_code == 200, old_der.text
    for crl in (x509.load_pem_x509_crl(old.content), x509.load_der_x509_crl(old_der.content)):
        assert crl.get_revoked_certificate_by_serial_number(serial) is not None
        assert crl.issuer != active.issuer
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "crl_issuer_not_found"
    assert unknown.json()["error"]["field"] == "issuer"
    assert malformed.status_code == 400


def crl_urls_of(issued: dict) -> list[str]:
    pem = Path(issued["files"]["certificate"]).read_bytes()
    certificate = x509.load_pem_x509_certificate(pem)
    points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    return [name.value for point in points for name in point.full_name or ()]


def test_each_certificate_names_its_own_cas_crl_through_the_issuer_placeholder(cli):
    url = "http://ca.example/v1/ca/crl.der?issuer={issuer}"
    cli.ok("init", "--crl-url", url, "--crl-url", "http://static.example/crl.der")
    before = cli.json("issue", "client", "--cn", "before-rotation")
    cli.ok("ca", "rotate", "--no-publish")
    after = cli.json("issue", "client", "--cn", "after-rotation")
    assert before["issuer_key_id"] != after["issuer_key_id"]
    for issued in (before, after):
        assert crl_urls_of(issued) == [
            f"http://ca.example/v1/ca/crl.der?issuer={issued['issuer_key_id']}",
            "http://static.example/crl.der",  # without the placeholder: as written
        ]


def test_only_the_issuer_placeholder_may_hold_braces(cli):
    refused = cli.fails("init", "--crl-url", "http://ca.example/{serial}.crl")
    assert refused.startswith("--crl-url: 'http://ca.example/{serial}.crl' contains { }")
    refused = cli.fails("init", "--ca-issuers-url", "http://ca.example/{issuer}.pem")
    assert refused.startswith("--ca-issuers-url: 'http://ca.example/{issuer}.pem' contains")
    assert not cli.home.exists()
