"""The KMS stand-in keeps the rules of KMS ``Sign`` that moto does not."""

from __future__ import annotations

import hashlib

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from tests.aws.moto_support import REGION


@pytest.fixture
def key(kms_standin):
    kms = boto3.client("kms", region_name=REGION)
    arn = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["Arn"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=arn)["PublicKey"])
    return kms, arn, public


def test_digest_is_signed_as_is(key):
    kms, arn, public = key
    digest = hashlib.sha256(b"to be signed").digest()
    signature = kms.sign(
        KeyId=arn, Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"
    )["Signature"]
    public.verify(signature, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


def test_raw_is_hashed_and_capped_at_4096_bytes(key):
    kms, arn, public = key
    message = b"m" * 4096
    signature = kms.sign(KeyId=arn, Message=message, SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(ClientError, match="ValidationException"):
        kms.sign(KeyId=arn, Message=message + b"m", SigningAlgorithm="ECDSA_SHA_256")


def test_digest_of_the_wrong_length_is_refused(key):
    kms, arn, _ = key
    with pytest.raises(ClientError, match="invalid length"):
        kms.sign(
            KeyId=arn,
            Message=hashlib.sha384(b"x").digest(),
            MessageType="DIGEST",
            SigningAlgorithm="ECDSA_SHA_256",
        )


def test_disabled_key_does_not_sign(key):
    kms, arn, _ = key
    kms.disable_key(KeyId=arn.rsplit("/", 1)[1])  # moto wants the id here
    with pytest.raises(ClientError, match="DisabledException"):
        kms.sign(KeyId=arn, Message=b"x", SigningAlgorithm="ECDSA_SHA_256")
