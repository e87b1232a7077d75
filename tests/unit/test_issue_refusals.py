"""Every bad request the CA engine issue lists is refused with an error naming the field.

Each test goes through the authority, as the CLI and the API do, and checks three things:
the error class (what a caller catches), the field the error carries and names in its
message (what a user fixes), and that nothing was recorded.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from albca.ca.authority import Authority, AuthorityConfig
from albca.ca.csr import MAX_CSR_BYTES
from albca.ca.errors import (
    InvalidCSR,
    InvalidLifetime,
    InvalidName,
    PolicyViolation,
    UnknownProfile,
    UnsupportedKey,
)
from albca.ca.hierarchy import ISSUING_LIFETIME
from albca.ca.keys import KeySpec
from albca.ca.names import RequestedNames
from albca.ca.policy import NamePolicy
from albca.ca.profiles import CertificateKind, Profile, ProfileSet
from albca.ca.records import CertificateQuery
from tests.factories import (
    make_csr,
    make_csr_with_general_names,
    make_sha1_csr,
    tamper,
)
from tests.unit.assertions import assert_error_names_field
from tests.unit.ca_fixtures import CA_CREATED


def assert_nothing_recorded(authority: Authority) -> None:
    assert authority.list_certificates(CertificateQuery()).records == ()


def restricted_config(*, allow_wildcards: bool = False) -> AuthorityConfig:
    """A server profile confined to one zone, one network and one CN pattern."""
    return AuthorityConfig(
        profiles=ProfileSet.of(
            [
                Profile(
                    name="server",
                    kind=CertificateKind.SERVER,
                    max_lifetime=timedelta(days=30),
                    default_lifetime=timedelta(days=30),
                    key_specs=frozenset({KeySpec.EC_P256, KeySpec.RSA_2048}),
                    names=NamePolicy.build(
                        dns=["**.svc.example.com"],
                        ip_networks=["10.0.0.0/8"],
                        common_names=["svc-*"],
                        allow_wildcards=allow_wildcards,
                        name="server profile",
                    ),
                )
            ]
        )
    )


# -- the CSR itself ---------------------------------------------------------------------


def test_issue_rejects_a_csr_that_is_not_pem(make_authority):
    authority = make_authority()
    garbage = (
        b"-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgQ1NS\n-----END CERTIFICATE REQUEST-----\n"
    )
    with pytest.raises(InvalidCSR, match="PEM") as caught:
        authority.issue_from_csr(garbage, profile="client", requested_by="test")
    assert_error_names_field(caught, "csr")
    assert_nothing_recorded(authority)


def test_issue_rejects_a_csr_that_is_not_der(make_authority):
    authority = make_authority()
    truncated = make_csr(encoding=serialization.Encoding.DER)[:-10]
    with pytest.raises(InvalidCSR, match="DER") as caught:
        authority.issue_from_csr(truncated, profile="client", requested_by="test")
    assert_error_names_field(caught, "csr")
    assert_nothing_recorded(authority)


def test_issue_rejects_an_empty_csr(make_authority):
    authority = make_authority()
    with pytest.raises(InvalidCSR, match="empty") as caught:
        authority.issue_from_csr(b"  \n", profile="client", requested_by="test")
    assert_error_names_field(caught, "csr")


def test_issue_rejects_a_csr_whose_signed_part_was_altered(make_authority):
    authority = make_authority()
    csr = make_csr(common_name="alice", encoding=serialization.Encoding.DER)
    altered = tamper(csr, b"alice", b"mallo")  # inside the signed CertificationRequestInfo
    assert x509.load_der_x509_csr(altered).subject.rfc4514_string() == "CN=mallo"
    with pytest.raises(InvalidCSR, match="signature does not verify") as caught:
        authority.issue_from_csr(altered, profile="client", requested_by="test")
    assert_error_names_field(caught, "csr")
    assert_nothing_recorded(authority)


def test_issue_rejects_a_csr_larger_than_the_limit(make_authority):
    authority = make_authority()
    oversized = make_csr() + b"\n" * MAX_CSR_BYTES  # a valid PEM CSR, padded past the limit
    with pytest.raises(InvalidCSR, match=f"larger than {MAX_CSR_BYTES} bytes") as caught:
        authority.issue_from_csr(oversized, profile="client", requested_by="test")
    assert_error_names_field(caught, "csr")


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_issue_rejects_a_sha1_signed_csr(make_authority, key_pool, key_type):
    authority = make_authority()
    key = key_pool.leaf(KeySpec.EC_P256 if key_type == "ec" else KeySpec.RSA_2048)
    with pytest.raises(InvalidCSR, match="SHA1") as caught:
        authority.issue_from_csr(make_sha1_csr(key), profile="client", requested_by="test")
    assert_error_names_field(caught, "csr")
    assert_nothing_recorded(authority)


# -- the key in the CSR -----------------------------------------------------------------


def test_issue_rejects_rsa_1024(make_authority):
    authority = make_authority()
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    csr = make_csr(weak)
    with pytest.raises(UnsupportedKey, match="1024 bits is too small") as caught:
        authority.issue_from_csr(csr, profile="client", requested_by="test")
    assert_error_names_field(caught, "csr.public_key")
    assert_nothing_recorded(authority)


@pytest.mark.parametrize(
    "curve", [ec.SECP256K1(), ec.BrainpoolP256R1(), ec.SECP224R1()], ids=lambda c: c.name
)
def test_issue_rejects_curves_other_than_the_nist_three(make_authority, curve):
    authority = make_authority()
    csr = make_csr(ec.generate_private_key(curve))
    with pytest.raises(UnsupportedKey, match=f"curve {curve.name} is not supported") as caught:
        authority.issue_from_csr(csr, profile="client", requested_by="test")
    assert_error_names_field(caught, "csr.public_key")
    assert_nothing_recorded(authority)


def test_issue_rejects_an_ed25519_key(make_authority):
    authority = make_authority()
    csr = make_csr(ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(UnsupportedKey, match="Ed25519") as caught:
        authority.issue_from_csr(csr, profile="client", requested_by="test")
    assert_error_names_field(caught, "csr.public_key")
    assert_nothing_recorded(authority)


def test_issue_rejects_a_key_type_the_profile_does_not_allow(make_authority, key_pool):
    authority = make_authority(config=restricted_config())
    csr = make_csr(
        key_pool.leaf(KeySpec.EC_P384), common_name=None, dns_names=("a.svc.example.com",)
    )
    with pytest.raises(UnsupportedKey, match="ec-p384 keys are not allowed") as caught:
        authority.issue_from_csr(csr, profile="server", requested_by="test")
    assert_error_names_field(caught, "public_key")
    assert_nothing_recorded(authority)


# -- names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "field", "rule"),
    [
        ({"dns_names": ("a.svc.example.com", "db.example.com")}, "dns_names", "dns"),
        (
            {"dns_names": ("a.svc.example.com",), "ip_addresses": ("192.168.1.1",)},
            "ip_addresses",
            "ip_networks",
        ),
        (
            {"common_name": "web-1", "dns_names": ("a.svc.example.com",)},
            "common_name",
            "common_names",
        ),
    ],
    ids=["dns", "ip", "cn"],
)
def test_issue_rejects_names_outside_the_policy(make_authority, names, field, rule):
    authority = make_authority(config=restricted_config())
    with pytest.raises(PolicyViolation, match="is not allowed by server profile") as caught:
        authority.issue_from_csr(
            make_csr(**{"common_name": None, **names}), profile="server", requested_by="test"
        )
    assert_error_names_field(caught, field)
    assert caught.value.rule == f"server profile.{rule}"
    assert_nothing_recorded(authority)


def test_issue_rejects_a_wildcard_when_the_profile_does_not_allow_it(make_authority):
    authority = make_authority(config=restricted_config(allow_wildcards=False))
    csr = make_csr(common_name=None, dns_names=("*.svc.example.com",))
    with pytest.raises(PolicyViolation, match="wildcard names are not allowed") as caught:
        authority.issue_from_csr(csr, profile="server", requested_by="test")
    assert_error_names_field(caught, "dns_names")
    assert caught.value.rule == "server profile.allow_wildcards"
    assert_nothing_recorded(authority)


def test_issue_accepts_a_wildcard_when_the_profile_allows_it(make_authority):
    authority = make_authority(config=restricted_config(allow_wildcards=True))
    csr = make_csr(common_name=None, dns_names=("*.svc.example.com",))
    issued = authority.issue_from_csr(csr, profile="server", requested_by="test")
    san = issued.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["*.svc.example.com"]


@pytest.mark.parametrize("bad", ["a\x00b", "a\x1bb", "tab\there", "del\x7f"])
def test_issue_rejects_control_characters_in_the_csr_common_name(make_authority, bad):
    authority = make_authority()
    with pytest.raises(InvalidName, match=r"NUL byte|control character") as caught:
        authority.issue_from_csr(make_csr(common_name=bad), profile="client", requested_by="test")
    assert_error_names_field(caught, "common_name")
    assert str(caught.value).startswith("csr.common_name:")
    assert_nothing_recorded(authority)


@pytest.mark.parametrize("bad", ["a\x00b.example.com", "a\nb.example.com", "a\x01.example.com"])
def test_issue_rejects_control_characters_in_a_csr_dns_name(make_authority, bad):
    authority = make_authority()
    with pytest.raises(InvalidName, match=r"NUL byte|control character") as caught:
        authority.issue_from_csr(
            make_csr(common_name=None, dns_names=(bad,)), profile="server", requested_by="test"
        )
    assert_error_names_field(caught, "dns_names")
    assert_nothing_recorded(authority)


@pytest.mark.parametrize(
    ("field", "value"),
    [("common_name", "alice\x00admin"), ("dns_names", "a\x00.example.com")],
)
def test_issue_with_new_key_rejects_nul_in_names(field, value):
    # The names for a generated key never reach the authority: RequestedNames refuses them.
    kwargs = {field: value if field == "common_name" else [value]}
    with pytest.raises(InvalidName, match="NUL byte") as caught:
        RequestedNames.of(**kwargs)
    assert_error_names_field(caught, field)


@pytest.mark.parametrize(
    ("general_name", "kind"),
    [
        (x509.RFC822Name("alice@example.com"), "RFC822Name"),
        (x509.UniformResourceIdentifier("spiffe://example.com/alice"), "UniformResourceIdentifier"),
    ],
    ids=["email", "uri"],
)
def test_issue_rejects_unsupported_san_types_in_a_csr(make_authority, general_name, kind):
    authority = make_authority()
    csr = make_csr_with_general_names(
        ec.generate_private_key(ec.SECP256R1()), [x509.DNSName("a.example.com"), general_name]
    )
    with pytest.raises(InvalidCSR, match=f"{kind} names are not supported") as caught:
        authority.issue_from_csr(csr, profile="client", requested_by="test")
    assert_error_names_field(caught, "csr.subject_alt_name")
    assert_nothing_recorded(authority)


def test_issue_rejects_a_server_certificate_without_a_san(make_authority):
    authority = make_authority()
    csr = make_csr(common_name="web.example.com")  # a CN alone does not name a TLS server
    with pytest.raises(InvalidName, match="at least one DNS name or IP address") as caught:
        authority.issue_from_csr(csr, profile="server", requested_by="test")
    assert_error_names_field(caught, "dns_names")
    assert_nothing_recorded(authority)


def test_issue_rejects_a_client_certificate_without_any_name(make_authority):
    authority = make_authority()
    with pytest.raises(InvalidName, match="needs a common name") as caught:
        authority.issue_with_new_key(
            profile="client", names=RequestedNames.of(), requested_by="test"
        )
    assert_error_names_field(caught, "common_name")
    assert_nothing_recorded(authority)


# -- profile and lifetime ---------------------------------------------------------------


def test_issue_rejects_an_unknown_profile(make_authority):
    authority = make_authority()
    with pytest.raises(UnknownProfile) as caught:
        authority.issue_from_csr(make_csr(), profile="admin", requested_by="test")
    assert caught.value.profile == "admin"
    assert str(caught.value) == "unknown profile 'admin'; known profiles: client, server"
    assert_nothing_recorded(authority)


def test_issue_rejects_a_lifetime_above_the_profile_maximum(make_authority):
    authority = make_authority()  # the default client profile allows 365 days
    with pytest.raises(InvalidLifetime, match="366 days is above the client profile's maximum"):
        authority.issue_from_csr(
            make_csr(), profile="client", requested_by="test", lifetime=timedelta(days=366)
        )
    assert_nothing_recorded(authority)


def test_lifetime_error_names_the_field(make_authority):
    authority = make_authority()
    with pytest.raises(InvalidLifetime) as caught:
        authority.issue_from_csr(
            make_csr(), profile="client", requested_by="test", lifetime=timedelta(days=366)
        )
    assert_error_names_field(caught, "lifetime")


def test_issue_accepts_exactly_the_profile_maximum(make_authority):
    authority = make_authority()
    issued = authority.issue_from_csr(
        make_csr(), profile="client", requested_by="test", lifetime=timedelta(days=365)
    )
    lifetime = issued.certificate.not_valid_after_utc - authority.now()
    assert lifetime == timedelta(days=365)


@pytest.mark.parametrize("lifetime", [timedelta(0), timedelta(days=-1)])
def test_issue_rejects_a_non_positive_lifetime(make_authority, lifetime):
    authority = make_authority()
    with pytest.raises(InvalidLifetime, match="must be positive") as caught:
        authority.issue_from_csr(
            make_csr(), profile="client", requested_by="test", lifetime=lifetime
        )
    assert_error_names_field(caught, "lifetime")


def test_issue_rejects_a_lifetime_beyond_the_issuing_ca_expiry(make_authority, clock):
    authority = make_authority()
    issuing_expiry = CA_CREATED + ISSUING_LIFETIME
    clock.now = issuing_expiry - timedelta(days=30)
    with pytest.raises(InvalidLifetime, match="would outlive the issuing CA") as caught:
        authority.issue_from_csr(
            make_csr(), profile="client", requested_by="test", lifetime=timedelta(days=31)
        )
    assert_error_names_field(caught, "lifetime")
    assert issuing_expiry.isoformat() in str(caught.value)
    assert_nothing_recorded(authority)
    # Up to the issuing CA's own expiry is fine.
    issued = authority.issue_from_csr(
        make_csr(), profile="client", requested_by="test", lifetime=timedelta(days=30)
    )
    assert issued.certificate.not_valid_after_utc == issuing_expiry
