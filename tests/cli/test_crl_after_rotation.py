"""After `albca ca rotate`, the API serves the previous issuing CA's CRL too.

The previous CA's certificates stay valid until they expire, and only its own CRL can list
their revocations (RFC 5280 section 5: a CRL covers the certificates of its issuer). Before,
`GET /v1/ca/crl` served the active CA's CRL only and ignored any issuer asked for, so a
revocation of a certificate issued before the rotation could not be fetched from the API.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

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
