"""Relying parties accept the chains albca builds, and refuse them for the wrong CA or name.

Two independent path validators: cryptography's ``x509.verification`` (the Web PKI rules
of rustls-webpki, stricter than RFC 5280 alone) and ``openssl verify``.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from albca.ca.authority import IssueRequest
from albca.ca.keys import KeySpec
from albca.ca.names import RequestedNames
from tests.unit.ca_fixtures import ISSUE_TIME, leaf_spec_for
from tests.unit.pki_tools import openssl, write_pem

ALL_SPECS = list(KeySpec)
CHECK_TIME = ISSUE_TIME + timedelta(days=1)

SERVER_NAMES = RequestedNames.of(dns_names=["api.example.com"], ip_addresses=["10.0.0.7"])
CLIENT_NAMES = RequestedNames.of(common_name="alice")
CLIENT_NAMES_WITH_SAN = RequestedNames.of(common_name="alice", dns_names=["alice.example.com"])
API_DNS = x509.DNSName("api.example.com")


def issue(authority, key, profile, names):
    return authority.issue(
        IssueRequest(profile=profile, public_key=key.public_key(), names=names, requested_by="t")
    )


def policy(root: x509.Certificate, *, san_optional: bool = False) -> PolicyBuilder:
    builder = PolicyBuilder().store(Store([root])).time(CHECK_TIME)
    if san_optional:
        # The Web PKI profile demands a SAN in every leaf. An ALB matches client
        # certificates on their subject, so a CN-only client certificate is legitimate
        # there: relax exactly that one rule and keep every other default.
        builder = builder.extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=ExtensionPolicy.webpki_defaults_ee().may_be_present(
                x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
            ),
        )
    return builder


# -- cryptography.x509.verification -----------------------------------------------------


@pytest.mark.parametrize(
    "subject",
    [API_DNS, x509.IPAddress(ipaddress.ip_address("10.0.0.7"))],
    ids=["dns", "ip"],
)
@pytest.mark.parametrize("spec", ALL_SPECS, ids=str)
def test_server_chain_verifies_for_its_name(make_authority, hierarchies, key_pool, spec, subject):
    authority = make_authority(spec)
    ca = hierarchies.get(spec)
    issued = issue(
        authority, key_pool.leaf(leaf_spec_for(spec), under=spec), "server", SERVER_NAMES
    )
    chain = (
        policy(ca.root)
        .build_server_verifier(subject)
        .verify(issued.certificate, list(issued.chain))
    )
    assert chain == [issued.certificate, ca.issuing, ca.root]


@pytest.mark.parametrize("spec", ALL_SPECS, ids=str)
def test_client_chain_verifies(make_authority, hierarchies, key_pool, spec):
    authority = make_authority(spec)
    ca = hierarchies.get(spec)
    issued = issue(
        authority, key_pool.leaf(leaf_spec_for(spec), under=spec), "client", CLIENT_NAMES_WITH_SAN
    )
    verified = (
        policy(ca.root).build_client_verifier().verify(issued.certificate, list(issued.chain))
    )
    assert verified.chain == [issued.certificate, ca.issuing, ca.root]
    assert verified.subjects == [x509.DNSName("alice.example.com")]


def test_client_chain_with_only_a_common_name_verifies_when_san_is_optional(
    make_authority, hierarchies, key_pool
):
    authority = make_authority()
    ca = hierarchies.get(KeySpec.EC_P256)
    issued = issue(authority, key_pool.leaf(KeySpec.EC_P256), "client", CLIENT_NAMES)
    verifier = policy(ca.root, san_optional=True).build_client_verifier()
    verified = verifier.verify(issued.certificate, list(issued.chain))
    assert verified.chain[-1] == ca.root


@pytest.mark.parametrize("profile", ["client", "server"])
def test_chain_is_refused_under_another_ca_with_the_same_names(
    make_authority, hierarchies, key_pool, profile
):
    authority = make_authority()
    other = hierarchies.get(KeySpec.EC_P256, "other")
    assert other.root.subject == hierarchies.get(KeySpec.EC_P256).root.subject
    names = SERVER_NAMES if profile == "server" else CLIENT_NAMES_WITH_SAN
    issued = issue(authority, key_pool.leaf(KeySpec.EC_P256), profile, names)
    builder = policy(other.root)
    verifier = (
        builder.build_server_verifier(API_DNS)
        if profile == "server"
        else builder.build_client_verifier()
    )
    with pytest.raises(VerificationError):
        verifier.verify(issued.certificate, list(issued.chain))


@pytest.mark.parametrize(
    "wrong",
    [
        x509.DNSName("other.example.com"),
        x509.DNSName("sub.api.example.com"),
        x509.IPAddress(ipaddress.ip_address("10.0.0.8")),
    ],
    ids=["other-dns", "subdomain", "other-ip"],
)
def test_server_chain_is_refused_for_a_name_it_does_not_carry(
    make_authority, hierarchies, key_pool, wrong
):
    authority = make_authority()
    ca = hierarchies.get(KeySpec.EC_P256)
    issued = issue(authority, key_pool.leaf(KeySpec.EC_P256), "server", SERVER_NAMES)
    with pytest.raises(VerificationError):
        policy(ca.root).build_server_verifier(wrong).verify(issued.certificate, list(issued.chain))


def test_a_client_certificate_is_refused_as_a_server_certificate(
    make_authority, hierarchies, key_pool
):
    authority = make_authority()
    ca = hierarchies.get(KeySpec.EC_P256)
    names = RequestedNames.of(common_name="api", dns_names=["api.example.com"])
    issued = issue(authority, key_pool.leaf(KeySpec.EC_P256), "client", names)
    with pytest.raises(VerificationError):
        policy(ca.root).build_server_verifier(API_DNS).verify(
            issued.certificate, list(issued.chain)
        )


def test_chain_is_refused_after_the_leaf_expires(make_authority, hierarchies, key_pool):
    authority = make_authority()
    ca = hierarchies.get(KeySpec.EC_P256)
    issued = issue(authority, key_pool.leaf(KeySpec.EC_P256), "server", SERVER_NAMES)
    late = (
        PolicyBuilder()
        .store(Store([ca.root]))
        .time(issued.certificate.not_valid_after_utc + timedelta(seconds=1))
    )
    with pytest.raises(VerificationError):
        late.build_server_verifier(API_DNS).verify(issued.certificate, list(issued.chain))


# -- openssl verify ---------------------------------------------------------------------

OPENSSL_PURPOSE = {"client": "sslclient", "server": "sslserver"}


def openssl_verify(tmp_path, root, issuing, leaf, *, purpose: str, strict: bool):
    args = [
        "verify",
        *(["-x509_strict"] if strict else []),
        "-attime",
        str(int(CHECK_TIME.timestamp())),
        "-purpose",
        purpose,
        "-CAfile",
        write_pem(tmp_path / "root.pem", root),
        "-untrusted",
        write_pem(tmp_path / "issuing.pem", issuing),
        write_pem(tmp_path / "leaf.pem", leaf),
    ]
    return openssl(*args)


@pytest.mark.parametrize("strict", [False, True], ids=["default", "x509_strict"])
@pytest.mark.parametrize("profile", ["client", "server"])
@pytest.mark.parametrize("spec", ALL_SPECS, ids=str)
def test_openssl_verifies_the_chain(
    tmp_path, make_authority, hierarchies, key_pool, spec, profile, strict
):
    authority = make_authority(spec)
    ca = hierarchies.get(spec)
    names = SERVER_NAMES if profile == "server" else CLIENT_NAMES
    issued = issue(authority, key_pool.leaf(leaf_spec_for(spec), under=spec), profile, names)
    result = openssl_verify(
        tmp_path,
        ca.root,
        ca.issuing,
        issued.certificate,
        purpose=OPENSSL_PURPOSE[profile],
        strict=strict,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(": OK")


def test_openssl_refuses_the_chain_under_another_ca(
    tmp_path, make_authority, hierarchies, key_pool
):
    authority = make_authority()
    other = hierarchies.get(KeySpec.EC_P256, "other")
    issued = issue(authority, key_pool.leaf(KeySpec.EC_P256), "server", SERVER_NAMES)
    result = openssl_verify(
        tmp_path,
        other.root,
        authority.issuer().certificate,
        issued.certificate,
        purpose="sslserver",
        strict=True,
    )
    assert result.returncode != 0
    # The issuing CA names its root by key identifier: a root with the same name but
    # another key is not its issuer.
    assert "unable to get local issuer certificate" in result.stderr


def test_openssl_refuses_a_client_certificate_for_a_server(
    tmp_path, make_authority, hierarchies, key_pool
):
    authority = make_authority()
    ca = hierarchies.get(KeySpec.EC_P256)
    issued = issue(authority, key_pool.leaf(KeySpec.EC_P256), "client", CLIENT_NAMES)
    result = openssl_verify(
        tmp_path, ca.root, ca.issuing, issued.certificate, purpose="sslserver", strict=True
    )
    assert result.returncode != 0
    assert "unsuitable certificate purpose" in result.stderr
