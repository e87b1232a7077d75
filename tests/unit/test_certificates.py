"""What the root, the issuing CA and the leaves say, for every key type albca offers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from albca.ca.authority import AuthorityConfig, IssueRequest
from albca.ca.hierarchy import ISSUING_LIFETIME, ROOT_LIFETIME, HierarchySpec
from albca.ca.keys import KeySpec
from albca.ca.names import RequestedNames
from albca.ca.profiles import CertificateKind, default_profiles
from tests.unit.assertions import (
    assert_is_ca,
    assert_is_leaf,
    assert_signed_with_hash_for,
    assert_validity,
    extension,
    has_extension,
)
from tests.unit.ca_fixtures import CA_CREATED, ISSUE_TIME, leaf_spec_for

ALL_SPECS = list(KeySpec)
BACKDATE = timedelta(minutes=5)


# -- the CA hierarchy -------------------------------------------------------------------


@pytest.mark.parametrize("spec", ALL_SPECS, ids=str)
def test_root_is_a_self_signed_ca_for_ten_years(hierarchies, spec):
    root = hierarchies.get(spec).root
    assert_is_ca(root, path_length=1)
    assert_signed_with_hash_for(root, spec)
    assert_validity(root, issued_at=CA_CREATED, lifetime=ROOT_LIFETIME)
    assert root.not_valid_after_utc >= CA_CREATED.replace(year=CA_CREATED.year + 10)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=str)
def test_issuing_ca_is_signed_by_the_root_for_five_years_with_path_length_zero(hierarchies, spec):
    ca = hierarchies.get(spec)
    assert_is_ca(ca.issuing, path_length=0, issuer=ca.root)
    assert_signed_with_hash_for(ca.issuing, spec)
    assert_validity(ca.issuing, issued_at=CA_CREATED, lifetime=ISSUING_LIFETIME)
    assert ca.issuing.not_valid_after_utc >= CA_CREATED.replace(year=CA_CREATED.year + 5)
    assert ca.issuing.not_valid_after_utc < ca.root.not_valid_after_utc


@pytest.mark.parametrize("spec", ALL_SPECS, ids=str)
def test_ca_keys_are_of_the_requested_type(hierarchies, spec):
    ca = hierarchies.get(spec)
    assert ca.root_signer.key_spec is spec
    assert ca.issuing_signer.key_spec is spec
    assert ca.issuing.public_key() == ca.issuing_signer.public_key


def test_ca_subjects_carry_the_names_given(hierarchies):
    ca = hierarchies.get(KeySpec.EC_P256)
    assert ca.root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "albca Test Root CA"
    )
    assert ca.issuing.issuer == ca.root.subject
    assert ca.issuing.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "albca tests"
    )


def test_an_issuing_ca_cannot_outlive_its_root():
    name = x509.Name([])
    with pytest.raises(ValueError, match="cannot outlive the root"):
        HierarchySpec(
            root_subject=name,
            issuing_subject=name,
            root_lifetime=timedelta(days=10),
            issuing_lifetime=timedelta(days=11),
        )


# -- leaves -----------------------------------------------------------------------------


def issue_with_key(authority, key, *, profile: str, names: RequestedNames, lifetime=None):
    """Issue for a pooled key (no CSR round trip, no key generation)."""
    return authority.issue(
        IssueRequest(
            profile=profile,
            public_key=key.public_key(),
            names=names,
            requested_by="test",
            lifetime=lifetime,
        )
    )


LEAF_VARIANTS = {
    "client-cn": ("client", RequestedNames.of(common_name="alice")),
    "client-cn-san": (
        "client",
        RequestedNames.of(common_name="bob", dns_names=["bob.example.com"]),
    ),
    "server-san-only": (
        "server",
        RequestedNames.of(dns_names=["api.example.com"], ip_addresses=["10.0.0.7", "2001:db8::7"]),
    ),
    "server-cn-san": (
        "server",
        RequestedNames.of(common_name="api.example.com", dns_names=["api.example.com"]),
    ),
}


@pytest.mark.parametrize("variant", LEAF_VARIANTS)
@pytest.mark.parametrize("spec", ALL_SPECS, ids=str)
def test_leaf_is_an_end_entity_certificate_signed_by_the_issuing_ca(
    make_authority, key_pool, spec, variant
):
    profile, names = LEAF_VARIANTS[variant]
    authority = make_authority(spec)
    issued = issue_with_key(
        authority, key_pool.leaf(leaf_spec_for(spec), under=spec), profile=profile, names=names
    )
    kind = CertificateKind(profile)
    assert_is_leaf(issued.certificate, kind=kind, issuer=authority.issuer().certificate)
    assert_signed_with_hash_for(issued.certificate, spec)
    assert issued.chain == (authority.issuer().certificate,)


@pytest.mark.parametrize("profile", ["client", "server"])
@pytest.mark.parametrize("leaf_spec", ALL_SPECS, ids=str)
def test_leaf_key_usage_follows_the_leaf_key_type(make_authority, key_pool, leaf_spec, profile):
    authority = make_authority(KeySpec.EC_P256)
    names = RequestedNames.of(common_name="svc", dns_names=["svc.example.com"])
    issued = issue_with_key(authority, key_pool.leaf(leaf_spec), profile=profile, names=names)
    usage = extension(issued.certificate, x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    # Only an RSA server key is used for key transport (TLS 1.2 RSA key exchange).
    assert usage.value.key_encipherment is (profile == "server" and not leaf_spec.is_ec)
    assert not usage.value.key_agreement
    assert not usage.value.key_cert_sign
    assert not usage.value.crl_sign
    # The signature hash follows the CA's key, not the leaf's.
    assert_signed_with_hash_for(issued.certificate, KeySpec.EC_P256)


def test_subject_alternative_name_is_critical_only_when_the_subject_is_empty(make_authority):
    authority = make_authority()
    san_only = authority.issue_with_new_key(
        profile="server", names=RequestedNames.of(dns_names=["a.example.com"]), requested_by="t"
    )
    with_cn = authority.issue_with_new_key(
        profile="server",
        names=RequestedNames.of(common_name="a", dns_names=["a.example.com"]),
        requested_by="t",
    )
    assert len(san_only.certificate.subject) == 0
    assert extension(san_only.certificate, x509.SubjectAlternativeName).critical is True
    assert extension(with_cn.certificate, x509.SubjectAlternativeName).critical is False


def test_a_client_certificate_with_only_a_common_name_has_no_san(make_authority):
    authority = make_authority()
    issued = authority.issue_with_new_key(
        profile="client", names=RequestedNames.of(common_name="alice"), requested_by="t"
    )
    assert not has_extension(issued.certificate, x509.SubjectAlternativeName)
    assert issued.certificate.subject.rfc4514_string() == "CN=alice"


def test_leaf_carries_exactly_the_requested_names(make_authority):
    authority = make_authority()
    names = RequestedNames.of(
        common_name="api",
        dns_names=["API.example.com", "api.example.com", "b.example.com"],
        ip_addresses=["10.1.2.3", "2001:db8::1"],
    )
    issued = authority.issue_with_new_key(profile="server", names=names, requested_by="t")
    san = extension(issued.certificate, x509.SubjectAlternativeName).value
    # Lower-cased and de-duplicated, in the order given.
    assert san.get_values_for_type(x509.DNSName) == ["api.example.com", "b.example.com"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == [
        "10.1.2.3",
        "2001:db8::1",
    ]


def test_not_before_is_backdated_five_minutes_and_not_after_is_the_lifetime(make_authority):
    authority = make_authority()
    issued = authority.issue_with_new_key(
        profile="client",
        names=RequestedNames.of(common_name="alice"),
        requested_by="t",
        lifetime=timedelta(days=10),
    )
    assert_validity(issued.certificate, issued_at=ISSUE_TIME, lifetime=timedelta(days=10))
    assert issued.certificate.not_valid_before_utc == ISSUE_TIME - BACKDATE


def test_default_lifetime_is_the_profile_default(make_authority):
    authority = make_authority()
    issued = authority.issue_with_new_key(
        profile="server", names=RequestedNames.of(dns_names=["a.example.com"]), requested_by="t"
    )
    assert issued.certificate.not_valid_after_utc == ISSUE_TIME + timedelta(days=90)


def test_serials_are_positive_at_most_twenty_octets_and_distinct(make_authority, key_pool):
    authority = make_authority()
    key = key_pool.leaf(KeySpec.EC_P256)
    serials = [
        issue_with_key(
            authority, key, profile="client", names=RequestedNames.of(common_name=f"c{i}")
        ).certificate.serial_number
        for i in range(50)
    ]
    assert len(set(serials)) == len(serials)
    assert all(0 < serial < 2**159 for serial in serials)
    # 159 random bits: 50 serials all below 2**100 would mean the entropy is gone.
    assert max(serials) > 2**100


URLS = AuthorityConfig(
    profiles=default_profiles(),
    crl_urls=("http://pki.example.com/issuing.crl",),
    ca_issuers_urls=("http://pki.example.com/issuing.crt",),
)


def test_crl_distribution_point_and_aia_are_present_when_configured(make_authority):
    authority = make_authority(config=URLS)
    issued = authority.issue_with_new_key(
        profile="client", names=RequestedNames.of(common_name="alice"), requested_by="t"
    )
    points = extension(issued.certificate, x509.CRLDistributionPoints)
    assert not points.critical
    assert [name.value for dp in points.value for name in dp.full_name or []] == [
        "http://pki.example.com/issuing.crl"
    ]
    access = extension(issued.certificate, x509.AuthorityInformationAccess)
    assert not access.critical
    assert [(d.access_method, d.access_location.value) for d in access.value] == [
        (AuthorityInformationAccessOID.CA_ISSUERS, "http://pki.example.com/issuing.crt")
    ]


def test_crl_distribution_point_and_aia_are_absent_when_not_configured(make_authority):
    authority = make_authority()
    issued = authority.issue_with_new_key(
        profile="client", names=RequestedNames.of(common_name="alice"), requested_by="t"
    )
    assert not has_extension(issued.certificate, x509.CRLDistributionPoints)
    assert not has_extension(issued.certificate, x509.AuthorityInformationAccess)


def test_requested_extensions_in_a_csr_are_ignored(make_authority, key_pool):
    """A CSR asking to be a CA gets an end-entity certificate: the profile decides."""
    from cryptography.hazmat.primitives import hashes, serialization

    key = key_pool.leaf(KeySpec.EC_P256)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sneaky")]))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    authority = make_authority()
    issued = authority.issue_from_csr(csr, profile="client", requested_by="t")
    assert extension(issued.certificate, x509.BasicConstraints).value.ca is False
