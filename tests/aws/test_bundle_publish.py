"""Publishing the CA bundle: checked against every ALB rule on the bytes that would be
uploaded, and refused (nothing written to S3) when one rule is broken."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from albca.trust_bundle.artefacts import BUNDLE_NAME, publish_bundle
from albca.trust_bundle.bundle import TrustBundle
from albca.trust_bundle.errors import BundleRejected, BundleRule
from tests.aws.conftest import object_versions
from tests.trust_factories import (
    SHA1_WITH_RSA,
    bundle_pem,
    make_ca,
    make_sha1_ca,
    make_v1_ca,
)


@pytest.fixture(scope="module")
def root():
    return make_ca("Publish Root", organization="Example Corp")


@pytest.fixture(scope="module")
def rsa_root():
    return make_ca("Publish RSA Root", key=rsa.generate_private_key(65537, 2048))


def _private_key_block() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _long_names(count: int) -> list:
    # Six 64-character OUs make a subject of about 430 bytes: 25 of them pass 10,000.
    units = [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"{u}" * 64) for u in range(6)]
    return [
        make_ca(subject=x509.Name([*units, x509.NameAttribute(NameOID.COMMON_NAME, f"CA {n}")]))
        for n in range(count)
    ]


# One bundle per rule, each breaking exactly that rule: (bundle, rule, position, advertise).
def _bad_bundles(root, rsa_root):
    return {
        "not-empty": (b"# a comment and no certificate\n", BundleRule.NOT_EMPTY, None, False),
        "no-blank-lines": (
            bundle_pem([root]) + b"\n" + bundle_pem([rsa_root]),
            BundleRule.NO_BLANK_LINES,
            None,
            False,
        ),
        "comment-lines": (
            b"# expires 2036-12-04\n" + bundle_pem([root], comments=False),
            BundleRule.COMMENT_LINES,
            None,
            False,
        ),
        "parseable": (
            _private_key_block() + bundle_pem([root]),
            BundleRule.PARSEABLE,
            1,
            False,
        ),
        "max-certificates": (
            bundle_pem([make_ca(f"Root {n}") for n in range(26)]),
            BundleRule.MAX_CERTIFICATES,
            None,
            False,
        ),
        "certificate-size": (
            bundle_pem([root, make_ca("Big CA", issuer=root, extra_extension_bytes=12_500)]),
            BundleRule.CERTIFICATE_SIZE,
            2,
            False,
        ),
        "x509-v3": (
            bundle_pem([root, make_v1_ca("Old v1 CA", issuer=root)]),
            BundleRule.X509_V3,
            2,
            False,
        ),
        "key": (
            bundle_pem(
                [root, make_ca("Weak", issuer=root, key=rsa.generate_private_key(65537, 1024))]
            ),
            BundleRule.KEY,
            2,
            False,
        ),
        "signature": (
            bundle_pem(
                [rsa_root, make_sha1_ca("SHA-1 CA", issuer=rsa_root, algorithm=SHA1_WITH_RSA)]
            ),
            BundleRule.SIGNATURE,
            2,
            False,
        ),
        "basic-constraints": (
            bundle_pem([root, make_ca("Not a CA", issuer=root, ca=False)]),
            BundleRule.CA_BASIC_CONSTRAINTS,
            2,
            False,
        ),
        "key-usage": (
            bundle_pem([root, make_ca("No keyCertSign", issuer=root, key_cert_sign=False)]),
            BundleRule.CA_KEY_USAGE,
            2,
            False,
        ),
        "chain-depth": (_deep_chain(root), BundleRule.CHAIN_DEPTH, 5, False),
        "ca-names-size": (bundle_pem(_long_names(25)), BundleRule.CA_NAMES_SIZE, None, True),
    }


def _deep_chain(root) -> bytes:
    chain = [root]
    for level in range(4):
        chain.append(make_ca(f"Level {level + 1} CA", issuer=chain[-1]))
    return bundle_pem(chain)


RULES = [
    "not-empty",
    "no-blank-lines",
    "comment-lines",
    "parseable",
    "max-certificates",
    "certificate-size",
    "x509-v3",
    "key",
    "signature",
    "basic-constraints",
    "key-usage",
    "chain-depth",
    "ca-names-size",
]


@pytest.fixture(scope="module")
def bad_bundles(root, rsa_root):
    return _bad_bundles(root, rsa_root)


def test_every_bundle_rule_is_covered():
    assert {rule.name.lower().replace("_", "-") for rule in BundleRule} == {
        "not-empty",
        "no-blank-lines",
        "comment-lines",
        "parseable",
        "max-certificates",
        "certificate-size",
        "x509-v3",
        "key",
        "signature",
        "ca-basic-constraints",
        "ca-key-usage",
        "chain-depth",
        "ca-names-size",
    }
    assert len(RULES) == len(BundleRule)


@pytest.mark.parametrize("case", RULES)
def test_a_bundle_breaking_a_rule_is_never_uploaded(case, bad_bundles, s3, publisher, authority):
    pem, rule, position, advertise = bad_bundles[case]
    with pytest.raises(BundleRejected) as caught:
        publish_bundle(
            pem,
            publisher=publisher,
            store=authority.store,
            actor="test",
            now=authority.now(),
            advertise_ca_names=advertise,
        )
    assert caught.value.rule is rule
    assert caught.value.position == position
    assert rule.value in caught.value.message
    assert object_versions(s3) == []
    assert [e for e in authority.audit() if e.action == "publish"] == []


def test_a_good_bundle_is_published_with_its_version_recorded(s3, publisher, authority):
    pem = TrustBundle.of(authority.trusted_certificates()).pem
    published = publish_bundle(
        pem, publisher=publisher, store=authority.store, actor="test", now=authority.now()
    )
    assert published.published.url == f"s3://{publisher.bucket}/pki/{BUNDLE_NAME}"
    assert (
        s3.get_object(
            Bucket=publisher.bucket,
            Key=f"pki/{BUNDLE_NAME}",
            VersionId=published.published.version_id,
        )["Body"].read()
        == pem
    )
    (event,) = [e for e in authority.audit() if e.action == "publish"]
    assert event.detail["version_id"] == published.published.version_id
    assert event.detail["name"] == BUNDLE_NAME


def test_publishing_the_same_bundle_again_reuses_its_version(s3, publisher, authority):
    pem = TrustBundle.of(authority.trusted_certificates()).pem
    first = publish_bundle(
        pem, publisher=publisher, store=authority.store, actor="test", now=authority.now()
    )
    again = publish_bundle(
        pem, publisher=publisher, store=authority.store, actor="test", now=authority.now()
    )
    assert again.reused
    assert again.published.version_id == first.published.version_id
    assert len(object_versions(s3)) == 1


def test_an_authority_holding_a_ca_that_breaks_a_rule_cannot_publish(s3, publisher, authority):
    """Through the authority: a CA record whose certificate breaks a rule (SHA-224) stops
    the publish, naming that certificate."""
    from albca.ca.records import AuditEvent, AuthorityRecord, AuthorityRole, AuthorityStatus

    bad = make_ca("SHA-224 Root", hash_algorithm=hashes.SHA224())
    authority.store.add_authority(
        AuthorityRecord(
            key_id="ab" * 20,
            role=AuthorityRole.ROOT,
            status=AuthorityStatus.STANDBY,
            certificate_pem=bad.pem.decode(),
            key_location="mem:none",
            parent_key_id=None,
            created_at=authority.now(),
        ),
        AuditEvent(at=authority.now(), action="ca-create", actor="test"),
    )
    pem = TrustBundle.of(authority.trusted_certificates()).pem
    with pytest.raises(BundleRejected) as caught:
        publish_bundle(
            pem, publisher=publisher, store=authority.store, actor="test", now=authority.now()
        )
    assert caught.value.rule is BundleRule.SIGNATURE
    assert caught.value.subject == bad.certificate.subject.rfc4514_string()
    assert object_versions(s3) == []


def test_bundle_comment_lines_name_every_ca(authority):
    pem = TrustBundle.of(authority.trusted_certificates()).pem.decode()
    comments = [line for line in pem.splitlines() if line.startswith("#")]
    subjects = [c.subject.rfc4514_string() for c in x509.load_pem_x509_certificates(pem.encode())]
    assert len(comments) == len(subjects) == 2
    for comment, subject in zip(comments, subjects, strict=True):
        assert subject in comment


def test_the_account_s_trust_store_quotas_come_from_configuration(aws_cli, s3, bucket):
    # ALBCA_TRUST_STORE_QUOTAS reaches every check a trust store command makes (issue 13,
    # point 9): with a quota of one CA certificate, albca's two-CA bundle is refused before
    # anything is uploaded, naming the quota it broke.
    aws_cli.env["ALBCA_PUBLISH_TO"] = f"s3://{bucket}/pki"
    aws_cli.env["ALBCA_TRUST_STORE_QUOTAS"] = '{"max_certificates": 1}'
    message = aws_cli.fails("truststore", "create", "prod")
    assert BundleRule.MAX_CERTIFICATES.value in message
    assert "the limit is 1" in message
    assert object_versions(s3, bucket) == []


def test_a_bundle_publish_dry_run_checks_the_account_s_quotas(aws_cli, s3, bucket):
    # The plan of `bundle publish --dry-run` is checked against the same quotas as the
    # real run, so a dry run never promises a publish the real one refuses.
    aws_cli.env["ALBCA_TRUST_STORE_QUOTAS"] = '{"max_certificates": 1}'
    message = aws_cli.fails("bundle", "publish", "--publish-to", f"s3://{bucket}/pki", "--dry-run")
    assert BundleRule.MAX_CERTIFICATES.value in message
    assert object_versions(s3, bucket) == []
