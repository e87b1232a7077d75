"""CloudFront's rules for origin client certificates: each one refused, naming the rule and
the certificate; a CA that cannot meet them is refused before anything is issued."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from albca.ca.keys import KeySpec
from albca.infra.cloudfront_rules import (
    CloudFrontRule,
    check_ca_for_cloudfront,
    check_client_certificate,
)
from albca.infra.errors import CloudFrontRuleViolation
from tests.factories import T0
from tests.trust_factories import make_ca


@pytest.fixture(scope="module")
def root():
    return make_ca("CF Root")


@pytest.fixture(scope="module")
def issuing(root):
    return make_ca("CF Issuing", issuer=root)


def leaf(issuer, *, key=None, usage=ExtendedKeyUsageOID.CLIENT_AUTH, hash_algorithm=None):
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cloudfront")]))
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0)
        .not_valid_after(T0 + timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    return builder.sign(issuer.key, hash_algorithm or hashes.SHA256())


def refused(rule: CloudFrontRule, call) -> CloudFrontRuleViolation:
    with pytest.raises(CloudFrontRuleViolation) as caught:
        call()
    assert caught.value.rule == rule.value
    assert rule.value in caught.value.message
    return caught.value


def test_a_client_certificate_of_a_two_level_ca_passes(issuing, root):
    check_client_certificate(leaf(issuing), [issuing.certificate])
    check_client_certificate(leaf(issuing), [issuing.certificate, root.certificate])


def test_server_certificate_is_refused(issuing):
    certificate = leaf(issuing, usage=ExtendedKeyUsageOID.SERVER_AUTH)
    error = refused(
        CloudFrontRule.CLIENT_AUTH,
        lambda: check_client_certificate(certificate, [issuing.certificate]),
    )
    assert error.subject == "CN=cloudfront"


@pytest.mark.parametrize(
    "key",
    [lambda: ec.generate_private_key(ec.SECP384R1()),
     lambda: rsa.generate_private_key(public_exponent=65537, key_size=3072)],
    ids=["p384", "rsa3072"],
)  # fmt: skip
def test_keys_other_than_rsa2048_and_p256_are_refused(issuing, key):
    certificate = leaf(issuing, key=key())
    refused(
        CloudFrontRule.KEY, lambda: check_client_certificate(certificate, [issuing.certificate])
    )


def test_ecdsa_with_sha384_is_refused(issuing):
    certificate = leaf(issuing, hash_algorithm=hashes.SHA384())
    refused(
        CloudFrontRule.SIGNATURE,
        lambda: check_client_certificate(certificate, [issuing.certificate]),
    )


def test_rsa_with_sha384_is_accepted():
    rsa_root = make_ca(
        "RSA Root", key=rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    certificate = leaf(rsa_root, hash_algorithm=hashes.SHA384())
    check_client_certificate(certificate, [rsa_root.certificate])


def test_chain_deeper_than_three_is_refused(root, issuing):
    middle = make_ca("CF Middle", issuer=issuing)
    certificate = leaf(middle)
    error = refused(
        CloudFrontRule.CHAIN_DEPTH,
        lambda: check_client_certificate(certificate, [middle.certificate, issuing.certificate]),
    )
    assert "4 certificates deep" in error.message


def test_unrelated_certificates_in_the_chain_do_not_count(issuing):
    # ACM returns the chain it was given plus a root of its own (moto copies that).
    stranger = make_ca("Somebody Else's Root")
    check_client_certificate(leaf(issuing), [issuing.certificate, stranger.certificate])


def test_a_large_key_file_is_refused(issuing):
    refused(
        CloudFrontRule.KEY_SIZE,
        lambda: check_client_certificate(
            leaf(issuing), [issuing.certificate], private_key_pem=b"k" * 6000
        ),
    )


def test_a_p384_issuing_ca_is_refused_before_issuing(root):
    p384 = make_ca("P-384 Issuing", issuer=root, key=ec.generate_private_key(ec.SECP384R1()))
    error = refused(
        CloudFrontRule.SIGNATURE,
        lambda: check_ca_for_cloudfront(p384.certificate, (root.certificate,), KeySpec.EC_P256),
    )
    assert "ECDSA with SHA384" in error.message


def test_an_rsa_issuing_ca_and_a_p256_one_are_fine(root, issuing):
    rsa_issuing = make_ca(
        "RSA Issuing",
        issuer=root,
        key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )
    for ca in (issuing, rsa_issuing):
        for spec in (KeySpec.EC_P256, KeySpec.RSA_2048):
            check_ca_for_cloudfront(ca.certificate, (root.certificate,), spec)


def test_ca_depth_and_client_key_are_checked_first(root, issuing):
    middle = make_ca("CF Middle", issuer=issuing)
    refused(
        CloudFrontRule.CHAIN_DEPTH,
        lambda: check_ca_for_cloudfront(
            middle.certificate, (issuing.certificate, root.certificate), KeySpec.EC_P256
        ),
    )
    refused(
        CloudFrontRule.KEY,
        lambda: check_ca_for_cloudfront(issuing.certificate, (root.certificate,), KeySpec.EC_P384),
    )
