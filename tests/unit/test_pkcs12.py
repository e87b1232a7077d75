"""PKCS#12 files for generated keys: what browsers and Postman import."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from albca.ca.authority import IssueRequest
from albca.ca.errors import InvalidRequest
from albca.ca.issued import MIN_PKCS12_PASSWORD_LENGTH, IssuedCertificate
from albca.ca.keys import KeySpec
from albca.ca.names import RequestedNames
from tests.factories import make_csr
from tests.unit.assertions import assert_error_names_field
from tests.unit.pki_tools import openssl

PASSWORD = b"correct horse battery"


def issued_with_key(authority, key) -> IssuedCertificate:
    """What ``issue_with_new_key`` returns, for a pooled key (no key generation per test)."""
    issued = authority.issue(
        IssueRequest(
            profile="client",
            public_key=key.public_key(),
            names=RequestedNames.of(common_name="alice"),
            requested_by="t",
        )
    )
    return dataclasses.replace(issued, private_key=key)


# Each load of a file made with 100,000 PBKDF2 rounds costs about 0.1 s: one key type per
# family and curve size class is enough, the format does not depend on the key size.
@pytest.mark.parametrize("spec", [KeySpec.EC_P256, KeySpec.EC_P521, KeySpec.RSA_3072], ids=str)
def test_pkcs12_round_trips_key_certificate_and_chain(make_authority, key_pool, spec):
    authority = make_authority()
    issued = issued_with_key(authority, key_pool.leaf(spec))
    key, certificate, chain = pkcs12.load_key_and_certificates(issued.pkcs12(PASSWORD), PASSWORD)
    assert certificate == issued.certificate
    assert chain == [authority.issuer().certificate]
    assert key is not None
    assert key.public_key() == issued.certificate.public_key()


def test_pkcs12_from_issue_with_new_key_holds_the_generated_key(make_authority):
    authority = make_authority()
    issued = authority.issue_with_new_key(
        profile="client", names=RequestedNames.of(common_name="bob"), requested_by="t"
    )
    loaded = pkcs12.load_pkcs12(issued.pkcs12(PASSWORD), PASSWORD)
    assert loaded.key is not None
    assert loaded.key.public_key() == issued.certificate.public_key()
    assert loaded.cert is not None
    assert loaded.cert.friendly_name == b"bob"


def test_pkcs12_does_not_open_with_a_wrong_password(make_authority, key_pool):
    authority = make_authority()
    data = issued_with_key(authority, key_pool.leaf(KeySpec.EC_P256)).pkcs12(PASSWORD)
    with pytest.raises(ValueError, match=r"(?i)invalid password"):
        pkcs12.load_key_and_certificates(data, b"correct horse battery!")


def test_pkcs12_refuses_a_short_password(make_authority, key_pool):
    authority = make_authority()
    issued = issued_with_key(authority, key_pool.leaf(KeySpec.EC_P256))
    short = b"x" * (MIN_PKCS12_PASSWORD_LENGTH - 1)
    with pytest.raises(InvalidRequest, match=f"at least {MIN_PKCS12_PASSWORD_LENGTH}") as caught:
        issued.pkcs12(short)
    assert_error_names_field(caught, "pkcs12_password")
    # The shortest allowed password works.
    issued.pkcs12(b"x" * MIN_PKCS12_PASSWORD_LENGTH)


def test_no_pkcs12_for_a_certificate_issued_from_a_csr(make_authority):
    authority = make_authority()
    issued = authority.issue_from_csr(make_csr(), profile="client", requested_by="t")
    with pytest.raises(ValueError, match="private key never reached the CA"):
        issued.pkcs12(PASSWORD)


@pytest.mark.parametrize("spec", [KeySpec.EC_P256, KeySpec.RSA_2048], ids=str)
def test_openssl_reads_the_pkcs12_file(tmp_path, make_authority, key_pool, spec):
    authority = make_authority()
    path = tmp_path / "alice.p12"
    path.write_bytes(issued_with_key(authority, key_pool.leaf(spec)).pkcs12(PASSWORD))
    good = openssl("pkcs12", "-in", path, "-info", "-noout", "-passin", f"pass:{PASSWORD.decode()}")
    assert good.returncode == 0, good.stderr
    # What OpenSSL 3 and current browsers expect: PBES2 with AES-256 and a SHA-256 MAC.
    assert "MAC: sha256" in good.stderr
    assert "PBES2, PBKDF2, AES-256-CBC" in good.stderr
    bad = openssl("pkcs12", "-in", path, "-info", "-noout", "-passin", "pass:wrong password")
    assert bad.returncode != 0
    assert "Mac verify error" in bad.stderr
