"""CA keys in KMS: every signature KMS makes is checked with cryptography."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from albca.ca.certificates import build_root_certificate, ca_subject
from albca.ca.crl import build_crl
from albca.ca.errors import KeyUnavailable
from albca.ca.keys import KeySpec, signature_hash
from albca.ca.kms_signer import KMS_KEY_SPEC, KmsSigner
from albca.ca.records import RevokedEntry
from albca.infra.clients import AwsClients
from tests.aws.moto_support import REGION
from tests.factories import T0


def kms_client():
    return AwsClients(region=REGION).client("kms")


def create_key(key_spec: str = "ECC_NIST_P256", usage: str = "SIGN_VERIFY") -> str:
    kms = boto3.client("kms", region_name=REGION)
    return kms.create_key(KeyUsage=usage, KeySpec=key_spec)["KeyMetadata"]["Arn"]


def root_certificate(signer: KmsSigner) -> x509.Certificate:
    return build_root_certificate(
        signer=signer,
        subject=ca_subject("KMS Root"),
        not_before=T0,
        not_after=T0 + timedelta(days=365),
    )


@pytest.mark.parametrize("spec", list(KeySpec), ids=lambda s: s.value)
def test_kms_key_signs_certificates_and_large_crls_that_verify(kms_standin, spec):
    arn = create_key(KMS_KEY_SPEC[spec])
    signer = KmsSigner(kms_client(), arn)
    assert signer.key_spec is spec
    assert signer.location == arn

    root = root_certificate(signer)
    root.verify_directly_issued_by(root)  # raises if the signature does not verify
    assert root.public_key() == signer.public_key

    entries = [RevokedEntry(serial, 1_700_000_000, 1) for serial in range(1, 400)]
    document = build_crl(
        issuer=root,
        signer=signer,
        number=7,
        this_update=T0,
        next_update=T0 + timedelta(days=7),
        entries=entries,
    )
    crl = x509.load_der_x509_crl(document.der)
    assert len(crl.tbs_certlist_bytes) > 4096  # too big for MessageType=RAW
    assert crl.is_signature_valid(signer.public_key)
    assert len(crl) == len(entries)

    # Every request was a digest of the right length; nothing was sent RAW.
    digest_size = signature_hash(spec).digest_size
    assert kms_standin.requests
    for request in kms_standin.requests:
        assert request.message_type == "DIGEST"
        assert request.message_length == digest_size
        assert request.key_id == arn


def test_cryptography_crl_builder_signs_through_kms(kms_standin):
    signer = KmsSigner(kms_client(), create_key("ECC_NIST_P384"))
    root = root_certificate(signer)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(root.subject)
        .last_update(T0)
        .next_update(T0 + timedelta(days=1))
    )
    crl = builder.sign(signer.builder_key, hashes.SHA384())
    assert crl.is_signature_valid(signer.public_key)


def test_a_wrong_signature_does_not_verify(kms_standin):
    """The check above can fail: a certificate signed by another KMS key is refused."""
    first = KmsSigner(kms_client(), create_key())
    second = KmsSigner(kms_client(), create_key())
    certificate = root_certificate(first)
    assert isinstance(second.public_key, ec.EllipticCurvePublicKey)
    with pytest.raises(InvalidSignature):
        second.public_key.verify(
            certificate.signature,
            certificate.tbs_certificate_bytes,
            ec.ECDSA(hashes.SHA256()),
        )


def test_alias_resolves_to_the_key_arn(kms_standin):
    arn = create_key()
    boto3.client("kms", region_name=REGION).create_alias(
        AliasName="alias/albca/root", TargetKeyId=arn
    )
    signer = KmsSigner(kms_client(), "alias/albca/root")
    assert signer.location == arn


def test_throttled_signing_is_retried_and_makes_one_certificate(kms_standin):
    signer = KmsSigner(kms_client(), create_key())
    kms_standin.throttle_next(1)
    root = root_certificate(signer)
    root.verify_directly_issued_by(root)
    assert len(kms_standin.requests) == 2  # one throttled, one signed


def test_signing_that_stays_throttled_is_key_unavailable(kms_standin):
    signer = KmsSigner(AwsClients(region=REGION, max_attempts=2).client("kms"), create_key())
    kms_standin.throttle_next(5)
    with pytest.raises(KeyUnavailable, match="throttling"):
        root_certificate(signer)


def test_unknown_key_is_refused(kms_standin):
    missing = f"arn:aws:kms:{REGION}:123456789012:key/00000000-0000-0000-0000-000000000000"
    with pytest.raises(KeyUnavailable, match="does not exist"):
        KmsSigner(kms_client(), missing)
    with pytest.raises(KeyUnavailable, match=r"'alias/nope' does not exist"):
        KmsSigner(kms_client(), "alias/nope")


def test_encryption_key_is_refused(kms_standin):
    arn = create_key("SYMMETRIC_DEFAULT", usage="ENCRYPT_DECRYPT")
    with pytest.raises(
        KeyUnavailable, match="KeyUsage ENCRYPT_DECRYPT; a CA key must be SIGN_VERIFY"
    ):
        KmsSigner(kms_client(), arn)


def test_unsupported_key_spec_is_refused(kms_standin):
    arn = create_key("ECC_SECG_P256K1")
    with pytest.raises(KeyUnavailable, match="key spec ECC_SECG_P256K1"):
        KmsSigner(kms_client(), arn)


def test_disabled_key_is_refused_at_construction_and_when_signing(kms_standin):
    kms = boto3.client("kms", region_name=REGION)
    arn = create_key()
    signer = KmsSigner(kms_client(), arn)
    kms.disable_key(KeyId=arn.rsplit("/", 1)[1])  # moto wants the id here
    with pytest.raises(KeyUnavailable, match="is Disabled"):
        KmsSigner(kms_client(), arn)
    with pytest.raises(KeyUnavailable, match="is disabled"):
        root_certificate(signer)


def test_private_key_material_is_never_available(kms_standin):
    signer = KmsSigner(kms_client(), create_key())
    with pytest.raises(KeyUnavailable, match="never leaves KMS"):
        signer.builder_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    assert "KmsSigner(location='arn:aws:kms:" in repr(signer)
