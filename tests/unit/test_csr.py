"""Parsing CSRs: what is taken from them (key and names) in each encoding.

The refusals of bad CSRs are in ``test_issue_refusals.py``, through the authority.
"""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from albca.ca.csr import parse_csr
from albca.ca.errors import InvalidCSR, InvalidName
from albca.ca.keys import KeySpec
from tests.factories import make_csr
from tests.unit.assertions import assert_error_names_field


@pytest.mark.parametrize("spec", list(KeySpec), ids=str)
def test_parse_csr_reads_the_key_type_of_every_supported_key(key_pool, spec):
    parsed = parse_csr(make_csr(key_pool.leaf(spec)))
    assert parsed.key_spec is spec
    assert parsed.public_key == key_pool.leaf(spec).public_key()


@pytest.mark.parametrize(
    "encode",
    [
        lambda pem: pem,
        lambda pem: pem.decode(),
        lambda pem: x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER),
        lambda pem: b"\n  " + pem,  # leading white space before the PEM header
    ],
    ids=["pem-bytes", "pem-str", "der", "pem-indented"],
)
def test_parse_csr_accepts_pem_der_and_text(encode):
    pem = make_csr(common_name="alice", dns_names=("alice.example.com",))
    parsed = parse_csr(encode(pem))
    assert parsed.names.common_name == "alice"
    assert parsed.names.dns_names == ("alice.example.com",)


def test_parse_csr_takes_the_names_normalised():
    parsed = parse_csr(
        make_csr(
            common_name="API",
            dns_names=("API.Example.com", "api.example.com"),
            ip_addresses=("10.0.0.1", "2001:db8::1"),
        )
    )
    assert parsed.names.common_name == "API"
    assert parsed.names.dns_names == ("api.example.com",)
    assert parsed.names.ip_addresses == (
        ipaddress.ip_address("10.0.0.1"),
        ipaddress.ip_address("2001:db8::1"),
    )


@pytest.mark.parametrize("kind", ["dns_names", "ip_addresses"])
def test_parse_csr_takes_at_most_a_hundred_names_of_a_kind(kind):
    # Before: a CSR of 2,400 names got a 42 KB certificate whose holder could not renew it
    # (the API's generated-key route already stopped at 100).
    def names(count: int) -> tuple[str, ...]:
        if kind == "dns_names":
            return tuple(f"h{n}.example.com" for n in range(count))
        return tuple(f"10.0.{n // 256}.{n % 256}" for n in range(count))

    assert len(getattr(parse_csr(make_csr(**{kind: names(100)})).names, kind)) == 100
    refusal = rf"^csr\.{kind}: 101 given; a certificate carries at most 100$"
    with pytest.raises(InvalidName, match=refusal) as caught:
        parse_csr(make_csr(**{kind: names(101)}))
    assert_error_names_field(caught, kind)


def test_parse_csr_with_no_names_gives_empty_names():
    assert parse_csr(make_csr(common_name=None)).names.is_empty


def test_parse_csr_refuses_two_common_names(key_pool):
    key = key_pool.leaf(KeySpec.EC_P256)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, "alice"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "admin"),
                ]
            )
        )
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    with pytest.raises(InvalidCSR, match="more than one common name") as caught:
        parse_csr(csr)
    assert_error_names_field(caught, "csr")


def test_parse_csr_ignores_subject_attributes_other_than_the_common_name(key_pool):
    key = key_pool.leaf(KeySpec.EC_P256)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Evil Corp"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "alice"),
                ]
            )
        )
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    assert parse_csr(csr).names.common_name == "alice"


def test_parse_csr_refuses_what_is_neither_bytes_nor_text():
    with pytest.raises(TypeError, match="csr must be bytes or str"):
        parse_csr(12345)  # type: ignore[arg-type]
