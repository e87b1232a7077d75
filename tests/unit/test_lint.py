"""RFC 5280 linting with pkilint: every CA and leaf variant has no ERROR, FATAL or WARNING
finding.

WARNING findings (a broken RFC "SHOULD") are failures too: albca's certificates have none,
and a new one would be a regression worth a look. NOTICE and INFO findings (such as
"subject key identifier made with method 1") are observations, not defects, and pass.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from albca.ca.authority import AuthorityConfig, IssueRequest
from albca.ca.keys import KeySpec
from albca.ca.names import RequestedNames
from albca.ca.policy import NamePolicy
from albca.ca.profiles import CertificateKind, Profile, ProfileSet, default_profiles
from tests.unit.ca_fixtures import leaf_spec_for
from tests.unit.pki_tools import lint_certificate

ALL_SPECS = list(KeySpec)

WITH_URLS = AuthorityConfig(
    profiles=default_profiles(),
    crl_urls=("http://pki.example.com/crl/issuing.crl",),
    ca_issuers_urls=("http://pki.example.com/ca/issuing.crt",),
)

LEAF_VARIANTS = {
    "client-cn": ("client", RequestedNames.of(common_name="alice")),
    "client-cn-san": (
        "client",
        RequestedNames.of(common_name="alice", dns_names=["alice.example.com"]),
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


def issue(authority, key, profile, names):
    return authority.issue(
        IssueRequest(profile=profile, public_key=key.public_key(), names=names, requested_by="t")
    ).certificate


def assert_lints_clean(certificate: x509.Certificate) -> None:
    findings = lint_certificate(certificate)
    assert findings == [], "\n".join(map(str, findings))


@pytest.mark.parametrize("role", ["root", "issuing"])
@pytest.mark.parametrize("spec", ALL_SPECS, ids=str)
def test_ca_certificates_lint_clean(hierarchies, spec, role):
    assert_lints_clean(getattr(hierarchies.get(spec), role))


@pytest.mark.parametrize("variant", LEAF_VARIANTS)
@pytest.mark.parametrize("ca_spec", ALL_SPECS, ids=str)
def test_leaves_of_every_ca_key_type_lint_clean(make_authority, key_pool, ca_spec, variant):
    authority = make_authority(ca_spec, config=WITH_URLS)
    profile, names = LEAF_VARIANTS[variant]
    assert_lints_clean(
        issue(authority, key_pool.leaf(leaf_spec_for(ca_spec), under=ca_spec), profile, names)
    )


@pytest.mark.parametrize("profile", ["client", "server"])
@pytest.mark.parametrize("leaf_spec", ALL_SPECS, ids=str)
def test_leaves_of_every_leaf_key_type_lint_clean(make_authority, key_pool, leaf_spec, profile):
    authority = make_authority(KeySpec.EC_P256)
    names = RequestedNames.of(common_name="svc", dns_names=["svc.example.com"])
    assert_lints_clean(issue(authority, key_pool.leaf(leaf_spec), profile, names))


def test_wildcard_names_draw_only_the_pkix_domain_syntax_finding(make_authority, key_pool):
    """RFC 5280 leaves wildcards to RFC 6125, so pkilint's PKIX profile calls ``*`` bad
    domain syntax. That one finding, on that one name, is accepted; nothing else."""
    wild = Profile(
        name="wild",
        kind=CertificateKind.SERVER,
        max_lifetime=timedelta(days=30),
        default_lifetime=timedelta(days=30),
        key_specs=frozenset(KeySpec),
        names=NamePolicy.allow_any(allow_wildcards=True),
    )
    authority = make_authority(config=AuthorityConfig(profiles=ProfileSet.of([wild])))
    certificate = issue(
        authority,
        key_pool.leaf(KeySpec.EC_P256),
        "wild",
        RequestedNames.of(dns_names=["*.apps.example.com", "apps.example.com"]),
    )
    findings = lint_certificate(certificate)
    assert [(f.code, f.message) for f in findings] == [
        ("pkix.invalid_domain_name_syntax", 'Invalid domain name syntax: "*.apps.example.com"')
    ]


def test_the_linter_reports_a_broken_certificate(hierarchies):
    """The harness can fail: an empty subject with a non-critical SAN breaks RFC 5280
    section 4.2.1.6, and pkilint must say so."""
    ca = hierarchies.get(KeySpec.EC_P256)
    key = ca.issuing_signer.public_key
    broken = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(ca.issuing.subject)
        .public_key(key)
        .serial_number(1)
        .not_valid_before(ca.issuing.not_valid_before_utc)
        .not_valid_after(ca.issuing.not_valid_after_utc)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("a.example.com")]), critical=False)
        .sign(ca.issuing_signer.private_key, hashes.SHA256())
    )
    codes = {finding.code for finding in lint_certificate(broken)}
    assert "pkix.san_extension_not_critical_empty_subject" in codes, codes
