"""The ALB trust store rules: one bundle or CRL per rule, built to break exactly that rule,
and the error must name the certificate (position and subject) and the rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from albca.ca.certificates import build_root_certificate
from albca.ca.crl import build_crl
from albca.ca.records import RevokedEntry
from albca.ca.signer import PrivateKeySigner
from albca.trust_bundle.alb_rules import (
    ALB_LIMITS,
    check_bundle,
    check_crl,
    check_revocation_totals,
)
from albca.trust_bundle.errors import BundleRejected, BundleRule, RevocationRejected, RevocationRule
from tests.factories import T0
from tests.trust_factories import (
    ECDSA_WITH_SHA1,
    RSASSA_PSS_SHA1,
    SHA1_WITH_RSA,
    bundle_pem,
    crl_pem,
    make_ca,
    make_crl,
    make_sha1_ca,
    make_v1_ca,
    name,
)


@pytest.fixture(scope="module")
def root():
    return make_ca("Test Root", organization="Example Corp")


@pytest.fixture(scope="module")
def issuing(root):
    return make_ca("Test Issuing CA", issuer=root, organization="Example Corp")


@pytest.fixture(scope="module")
def rsa_root():
    return make_ca("RSA Root", key=rsa.generate_private_key(65537, 2048))


def assert_rejected(pem, rule, *, position=None, subject=None, advertise_ca_names=False):
    """The bundle is refused for ``rule``, naming the certificate when one is at fault."""
    with pytest.raises(BundleRejected) as caught:
        check_bundle(pem, advertise_ca_names=advertise_ca_names)
    error = caught.value
    assert error.rule is rule
    assert error.position == position
    assert error.subject == subject
    assert rule.value in str(error)
    if position is not None:
        assert f"#{position}" in str(error)
    if subject is not None:
        assert subject in str(error)
    return error


# -- a good bundle ------------------------------------------------------------------------


def test_bundle_of_root_and_issuing_ca_with_comments_passes(root, issuing):
    checked = check_bundle(bundle_pem([root, issuing]))
    assert checked.certificates == (root.certificate, issuing.certificate)
    assert checked.chain_depth == 2
    assert checked.ca_names_bytes == len(root.certificate.subject.public_bytes()) + len(
        issuing.certificate.subject.public_bytes()
    )


def test_every_accepted_key_and_signature_family_passes(root, rsa_root):
    cas = [
        root,
        rsa_root,
        make_ca(
            "P-384", key=ec.generate_private_key(ec.SECP384R1()), hash_algorithm=hashes.SHA384()
        ),
        make_ca(
            "P-521", key=ec.generate_private_key(ec.SECP521R1()), hash_algorithm=hashes.SHA512()
        ),
        make_ca("PSS", issuer=rsa_root, pss=True, hash_algorithm=hashes.SHA384()),
        make_ca(
            "RSA 3072", key=rsa.generate_private_key(65537, 3072), hash_algorithm=hashes.SHA512()
        ),
    ]
    assert len(check_bundle(bundle_pem(cas)).certificates) == 6


def test_the_product_bundle_format_passes(root, issuing):
    from albca.trust_bundle import TrustBundle

    checked = check_bundle(TrustBundle.of([root.certificate, issuing.certificate]).pem)
    assert len(checked.certificates) == 2


def test_the_product_bundle_comments_hold_no_hyphen_even_for_hyphenated_names():
    # Every bundle albca wrote said "(expires 2036-12-04)": a "-" in a comment line, which
    # the trust store format forbids (issue 13, point 1).
    from albca.trust_bundle import TrustBundle

    root = make_ca("albca-root", organization="Example-Corp")
    issuing = make_ca("issuing\nCA", issuer=root)
    pem = TrustBundle.of([root.certificate, issuing.certificate]).pem
    comments = [line for line in pem.decode().splitlines() if line.startswith("#")]
    assert comments == [
        "# root CA: CN=albca_root,O=Example_Corp (expires 1 Jan 2027)",
        "# issuing CA: CN=issuing\\x0aCA (expires 1 Jan 2027)",
    ]
    assert len(check_bundle(pem).certificates) == 2


# -- one rule each ------------------------------------------------------------------------


@pytest.mark.parametrize("pem", [b"", b"# only a comment line\n"])
def test_empty_bundle_is_rejected(pem):
    assert_rejected(pem, BundleRule.NOT_EMPTY)


def test_corrupt_certificate_block_is_rejected_by_position(root):
    broken = b"-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
    assert_rejected(bundle_pem([root]) + broken, BundleRule.PARSEABLE, position=2)


def test_private_key_block_is_rejected_without_echoing_it(root):
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    error = assert_rejected(key + bundle_pem([root]), BundleRule.PARSEABLE, position=1)
    assert "PRIVATE KEY" in str(error)
    body = key.splitlines()[1].decode()
    assert body not in str(error)


def test_unterminated_block_is_rejected(root):
    truncated = root.pem[: len(root.pem) // 2]
    assert_rejected(bundle_pem([root]) + truncated, BundleRule.PARSEABLE, position=2)


def test_more_than_25_certificates_are_rejected():
    cas = [make_ca(f"Root {n}") for n in range(ALB_LIMITS.max_certificates + 1)]
    check_bundle(bundle_pem(cas[:-1]))  # 25 is fine
    error = assert_rejected(bundle_pem(cas), BundleRule.MAX_CERTIFICATES)
    assert "26 certificates" in str(error)


def test_certificate_over_16_kb_is_rejected(root):
    # ~12.5 KB of DER is ~17 KB of PEM: the rule is measured on the PEM the bundle holds.
    big = make_ca("Big CA", issuer=root, extra_extension_bytes=12_500)
    assert len(big.certificate.public_bytes(serialization.Encoding.DER)) < 16 * 1024
    assert_rejected(
        bundle_pem([root, big]), BundleRule.CERTIFICATE_SIZE, position=2, subject=big.subject
    )


def test_x509_v1_certificate_is_rejected(root):
    v1 = make_v1_ca("Old v1 CA", issuer=root)
    assert_rejected(bundle_pem([root, v1]), BundleRule.X509_V3, position=2, subject=v1.subject)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(lambda: rsa.generate_private_key(65537, 1024), id="rsa-1024"),
        pytest.param(lambda: ec.generate_private_key(ec.SECP224R1()), id="ec-p224"),
        pytest.param(lambda: ec.generate_private_key(ec.SECP256K1()), id="ec-secp256k1"),
        pytest.param(ed25519.Ed25519PrivateKey.generate, id="ed25519"),
    ],
)
def test_unsupported_ca_key_is_rejected(root, key):
    # Signed by the good root, so only the subject key breaks a rule.
    weak = make_ca("Weak Key CA", issuer=root, key=key())
    assert_rejected(bundle_pem([root, weak]), BundleRule.KEY, position=2, subject=weak.subject)


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        pytest.param(SHA1_WITH_RSA, "RSA_WITH_SHA1", id="rsa-sha1"),
        pytest.param(RSASSA_PSS_SHA1, "RSASSA-PSS over sha1", id="pss-sha1"),
    ],
)
def test_sha1_signature_is_rejected(rsa_root, algorithm, expected):
    weak = make_sha1_ca("SHA-1 Signed CA", issuer=rsa_root, algorithm=algorithm)
    error = assert_rejected(
        bundle_pem([rsa_root, weak]), BundleRule.SIGNATURE, position=2, subject=weak.subject
    )
    assert expected in error.detail


def test_ecdsa_sha1_signature_is_rejected(root):
    weak = make_sha1_ca("ECDSA SHA-1 CA", issuer=root, algorithm=ECDSA_WITH_SHA1)
    error = assert_rejected(
        bundle_pem([root, weak]), BundleRule.SIGNATURE, position=2, subject=weak.subject
    )
    assert "ECDSA_WITH_SHA1" in error.detail


def test_sha224_signature_is_rejected(root):
    weak = make_ca("SHA-224 Signed CA", issuer=root, hash_algorithm=hashes.SHA224())
    error = assert_rejected(
        bundle_pem([root, weak]), BundleRule.SIGNATURE, position=2, subject=weak.subject
    )
    assert "ECDSA_WITH_SHA224" in error.detail


@pytest.mark.parametrize("ca", [False, None], ids=["ca-false", "no-basic-constraints"])
def test_certificate_that_is_not_a_ca_is_rejected(root, ca):
    leaf = make_ca("Not A CA", issuer=root, ca=ca)
    assert_rejected(
        bundle_pem([root, leaf]), BundleRule.CA_BASIC_CONSTRAINTS, position=2, subject=leaf.subject
    )


@pytest.mark.parametrize("usage", [False, None], ids=["no-keycertsign", "no-key-usage"])
def test_ca_without_key_cert_sign_is_rejected(root, usage):
    ca = make_ca("No KeyCertSign CA", issuer=root, key_cert_sign=usage)
    assert_rejected(bundle_pem([root, ca]), BundleRule.CA_KEY_USAGE, position=2, subject=ca.subject)


def test_chain_deeper_than_4_is_rejected(root):
    chain = [root]
    for level in range(1, 5):
        chain.append(make_ca(f"Level {level} CA", issuer=chain[-1]))
    assert check_bundle(bundle_pem(chain[:4])).chain_depth == 4
    # Listed out of order: depth is found by following issuers, not by position.
    shuffled = [chain[4], chain[2], chain[0], chain[3], chain[1]]
    error = assert_rejected(
        bundle_pem(shuffled), BundleRule.CHAIN_DEPTH, position=1, subject=chain[4].subject
    )
    assert "5 certificates" in str(error)


def test_ca_names_over_10000_bytes_are_rejected_only_when_advertised():
    # 25 CAs with long subjects (six 64-character OUs): about 430 bytes of DER each.
    units = [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"{u}" * 64) for u in range(6)]
    cas = [
        make_ca(subject=x509.Name([*units, x509.NameAttribute(NameOID.COMMON_NAME, f"CA {n}")]))
        for n in range(ALB_LIMITS.max_certificates)
    ]
    pem = bundle_pem(cas)
    checked = check_bundle(pem)  # fine while CA names are not advertised
    assert checked.ca_names_bytes > ALB_LIMITS.max_ca_names_bytes
    error = assert_rejected(pem, BundleRule.CA_NAMES_SIZE, advertise_ca_names=True)
    assert str(checked.ca_names_bytes) in str(error)
    check_bundle(bundle_pem(cas[:20]), advertise_ca_names=True)  # 20 of them fit


def test_first_broken_certificate_is_named(root, issuing):
    weak = make_ca("Weak", issuer=root, key=rsa.generate_private_key(65537, 1024))
    leaf = make_ca("Leaf", issuer=root, ca=False)
    assert_rejected(
        bundle_pem([root, issuing, leaf, weak]),
        BundleRule.CA_BASIC_CONSTRAINTS,
        position=3,
        subject=leaf.subject,
    )


# -- CRLs ---------------------------------------------------------------------------------


def test_crl_from_a_bundle_ca_passes_and_counts_entries(root, issuing):
    crl = make_crl(issuing, serials=[1, 2, 3])
    checked = check_crl(crl_pem(crl), [root.certificate, issuing.certificate])
    assert checked.entries == 3
    assert checked.issuer == issuing.certificate


def test_crl_built_by_the_product_passes():
    signer = PrivateKeySigner(ec.generate_private_key(ec.SECP256R1()), "memory")
    ca_certificate = build_root_certificate(
        signer=signer,
        subject=name("Product Root"),
        not_before=T0,
        not_after=T0 + timedelta(days=30),
    )
    document = build_crl(
        issuer=ca_certificate,
        signer=signer,
        number=7,
        this_update=T0,
        next_update=T0 + timedelta(days=7),
        entries=[RevokedEntry(5, 1_767_268_800, 1), RevokedEntry(6, 1_767_268_800, 0)],
    )
    checked = check_crl(document.pem, [ca_certificate])
    assert checked.entries == 2


def assert_crl_rejected(data, bundle, rule, *, issuer=None):
    with pytest.raises(RevocationRejected) as caught:
        check_crl(data, bundle)
    assert caught.value.rule is rule
    assert caught.value.issuer == issuer
    assert rule.value in str(caught.value)
    return caught.value


def test_der_crl_is_rejected(issuing):
    der = make_crl(issuing).public_bytes(serialization.Encoding.DER)
    assert_crl_rejected(der, [issuing.certificate], RevocationRule.PEM)


def test_crl_file_over_50_mb_is_rejected(issuing):
    assert_crl_rejected(b"\0" * 50_000_001, [issuing.certificate], RevocationRule.FILE_SIZE)


def test_corrupt_crl_is_rejected(issuing):
    broken = b"-----BEGIN X509 CRL-----\nTm90IGEgQ1JM\n-----END X509 CRL-----\n"
    assert_crl_rejected(broken, [issuing.certificate], RevocationRule.PARSEABLE)


def test_crl_of_a_ca_outside_the_bundle_is_rejected(root, issuing):
    stranger = make_ca("Stranger CA")
    assert_crl_rejected(
        crl_pem(make_crl(stranger)),
        [root.certificate, issuing.certificate],
        RevocationRule.ISSUER_IN_BUNDLE,
        issuer=stranger.subject,
    )


def test_crl_with_a_bad_signature_is_rejected(issuing):
    forged = make_crl(issuing, signing_key=ec.generate_private_key(ec.SECP256R1()))
    assert_crl_rejected(
        crl_pem(forged), [issuing.certificate], RevocationRule.SIGNATURE, issuer=issuing.subject
    )


def test_more_than_500000_entries_per_store_are_rejected():
    check_revocation_totals([300_000, 200_000])
    with pytest.raises(RevocationRejected) as caught:
        check_revocation_totals([300_000, 200_001])
    assert caught.value.rule is RevocationRule.MAX_ENTRIES
    assert "500001" in str(caught.value)


def test_more_than_30_crls_per_store_are_rejected():
    check_revocation_totals([1] * 30)
    with pytest.raises(RevocationRejected) as caught:
        check_revocation_totals([1] * 31)
    assert caught.value.rule is RevocationRule.MAX_CRLS


# -- the bundle file's format -------------------------------------------------------------


@pytest.mark.parametrize(
    "comment",
    [b"# root CA (expires 2036-12-04)\n", b"#-\n", b"# Example-Corp root\n"],
)
def test_comment_line_with_a_hyphen_is_rejected(root, comment):
    error = assert_rejected(comment + bundle_pem([root], comments=False), BundleRule.COMMENT_LINES)
    assert "line 1" in str(error)


@pytest.mark.parametrize(
    "make_pem",
    [
        pytest.param(lambda a, b: a + b"\n" + b, id="between-certificates"),
        pytest.param(lambda a, b: a + b + b"\n", id="at-the-end"),
        pytest.param(lambda a, b: b"\n" + a + b, id="at-the-start"),
        pytest.param(lambda a, b: a.replace(b"\n", b"\n  \n", 1) + b, id="white-space-only"),
    ],
)
def test_blank_line_is_rejected(root, issuing, make_pem):
    pem = make_pem(bundle_pem([root]), bundle_pem([issuing]))
    assert_rejected(pem, BundleRule.NO_BLANK_LINES)


def test_text_outside_a_certificate_that_is_not_a_comment_is_rejected(root):
    pem = b"Test Root\n" + bundle_pem([root], comments=False)
    assert_rejected(pem, BundleRule.COMMENT_LINES)


def test_crlf_line_ends_and_a_missing_final_newline_pass(root, issuing):
    pem = bundle_pem([root, issuing]).replace(b"\n", b"\r\n")
    assert len(check_bundle(pem).certificates) == 2
    assert len(check_bundle(bundle_pem([root]).rstrip(b"\n")).certificates) == 1


# -- the quotas: AWS's defaults, adjustable ------------------------------------------------


def test_a_raised_quota_lets_a_bundle_through_that_the_default_refuses():
    from albca.trust_bundle.alb_rules import TrustStoreLimits

    pem = bundle_pem([make_ca(f"Root {n}") for n in range(26)])
    assert_rejected(pem, BundleRule.MAX_CERTIFICATES)
    raised = TrustStoreLimits.with_quotas({"max_certificates": 30})
    assert len(check_bundle(pem, limits=raised).certificates) == 26
    assert raised.max_crls == ALB_LIMITS.max_crls  # the others keep AWS's defaults


def test_an_unknown_quota_is_refused_by_name():
    from albca.trust_bundle.alb_rules import TrustStoreLimits

    with pytest.raises(ValueError, match="'max_stores'"):
        TrustStoreLimits.with_quotas({"max_stores": 30})
    with pytest.raises(ValueError, match="max_crls must be at least 1"):
        TrustStoreLimits(max_crls=0)
