"""CA keys held in AWS KMS: a ``Signer`` whose private key never leaves KMS.

cryptography's builders sign through the ``builder_key`` they are given; here that is a
subclass of ``ec.EllipticCurvePrivateKey`` or ``rsa.RSAPrivateKey`` whose ``sign`` hashes
the to-be-signed bytes locally and asks KMS to sign the digest (``MessageType=DIGEST``).
Hashing here keeps every request small: ``RAW`` messages are capped at 4,096 bytes and
the to-be-signed part of a CRL of a few hundred entries is already larger (AWS KMS API
reference, ``Sign``: "Messages can be 0-4096 bytes. To sign a larger message, provide a
message digest").

Retries are safe. botocore retries throttling (KMS's default quota for ECC signing is
about 300 requests per second per account and region) and transient errors with
exponential backoff. A retried ``Sign`` can only produce another signature over the same
digest; ``Sign`` changes nothing in KMS, and the builder wraps exactly one returned
signature into exactly one certificate or CRL. Whether that certificate exists is decided
later and once, by the store's conditional write of its serial, so a retry here can never
lead to a second certificate.

Everything KMS and botocore can raise is translated to ``KeyUnavailable`` naming the key,
in one place (``_kms_errors``). The signer is given its client: ``albca.compose.aws``
makes every boto3 client albca uses.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, NoReturn

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificateIssuerPublicKeyTypes,
)
from cryptography.utils import Buffer

from albca.ca.aws_errors import AwsFailure, aws_errors
from albca.ca.errors import KeyUnavailable, UnsupportedKey
from albca.ca.keys import KeySpec, key_spec_of, signature_hash

if TYPE_CHECKING:
    from mypy_boto3_kms.client import KMSClient

__all__ = [
    "KmsSigner",
    "create_key_request",
    "create_signing_key",
    "schedule_key_deletion",
    "is_kms_key_arn",
    "region_of_arn",
    "KMS_KEY_SPEC",
    "KEY_SPEC_OF_KMS",
]

KMS_KEY_SPEC: dict[KeySpec, str] = {
    KeySpec.EC_P256: "ECC_NIST_P256",
    KeySpec.EC_P384: "ECC_NIST_P384",
    KeySpec.EC_P521: "ECC_NIST_P521",
    KeySpec.RSA_2048: "RSA_2048",
    KeySpec.RSA_3072: "RSA_3072",
    KeySpec.RSA_4096: "RSA_4096",
}
"""albca's key spec -> the KMS ``KeySpec`` of a key that can serve as that CA key."""

KEY_SPEC_OF_KMS: dict[str, KeySpec] = {kms: spec for spec, kms in KMS_KEY_SPEC.items()}

_EC_ALGORITHMS: dict[str, str] = {
    "sha256": "ECDSA_SHA_256",
    "sha384": "ECDSA_SHA_384",
    "sha512": "ECDSA_SHA_512",
}
_RSA_PKCS1_ALGORITHMS: dict[str, str] = {
    "sha256": "RSASSA_PKCS1_V1_5_SHA_256",
    "sha384": "RSASSA_PKCS1_V1_5_SHA_384",
    "sha512": "RSASSA_PKCS1_V1_5_SHA_512",
}
_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:key/[A-Za-z0-9-]+$")


def is_kms_key_arn(location: str) -> bool:
    return _KEY_ARN.match(location) is not None


def region_of_arn(arn: str) -> str | None:
    """The region of a KMS key or alias ARN (``arn:aws:kms:REGION:...``), else None."""
    parts = arn.split(":")
    if len(parts) >= 6 and parts[0] == "arn" and parts[2] == "kms":
        return parts[3] or None
    return None


def _kms_errors(key: str, action: str) -> AbstractContextManager[None]:
    """KMS's failures as ``KeyUnavailable`` naming the key (read by ``ca.aws_errors``)."""

    def translate(failure: AwsFailure) -> KeyUnavailable:
        code, message = failure.code, failure.message
        if not failure.answered:
            text = f"KMS {action} with key {key!r} failed: {message}"
        elif code == "NotFoundException":
            text = f"KMS key {key!r} does not exist (or this account cannot see it)"
        elif code == "DisabledException":
            text = f"KMS key {key!r} is disabled; enable it to sign with it"
        elif code == "KMSInvalidStateException":
            text = f"KMS key {key!r} cannot be used in its current state: {message}"
        elif failure.denied:
            text = f"KMS denied {action} with key {key!r}: {message}"
        elif failure.throttled:
            text = f"KMS kept throttling {action} with key {key!r} after retries; try again"
        else:
            text = f"KMS {action} with key {key!r} failed: {failure.describe()}"
        return KeyUnavailable(text)

    return aws_errors(translate)


def create_key_request(spec: KeySpec, *, description: str, role: str) -> dict[str, Any]:
    """``CreateKey`` parameters of a CA key: asymmetric, signing only, tagged with its role."""
    return {
        "KeyUsage": "SIGN_VERIFY",
        "KeySpec": KMS_KEY_SPEC[spec],
        "Description": description,
        "Tags": [
            {"TagKey": "albca:role", "TagValue": role},
            {"TagKey": "albca:managed", "TagValue": "true"},
        ],
    }


def create_signing_key(client: KMSClient, spec: KeySpec, *, description: str, role: str) -> str:
    """A new KMS key for a CA; its ARN."""
    with _kms_errors(f"(new {role} key)", "creating a key"):
        response = client.create_key(**create_key_request(spec, description=description, role=role))
    return str(response["KeyMetadata"]["Arn"])


def schedule_key_deletion(client: KMSClient, arn: str, *, days: int = 7) -> None:
    """Undo ``create_signing_key`` (KMS deletes a key only after 7-30 days of waiting)."""
    with _kms_errors(arn, "scheduling the deletion of"):
        # The bare key id: KMS takes the ARN as well, moto 5.2 only the id.
        client.schedule_key_deletion(KeyId=arn.rsplit("/", 1)[-1], PendingWindowInDays=days)


class KmsSigner:
    """A CA key in KMS. Checked when made: it exists, is enabled, signs, and has a spec
    albca uses; anything else is a ``KeyUnavailable`` that says which."""

    def __init__(self, client: KMSClient, key_id: str) -> None:
        self._client = client
        with _kms_errors(key_id, "describing"):
            metadata: Any = client.describe_key(KeyId=key_id)["KeyMetadata"]
        arn = str(metadata["Arn"])
        usage = metadata.get("KeyUsage")
        if usage != "SIGN_VERIFY":
            raise KeyUnavailable(
                f"KMS key {key_id!r} has KeyUsage {usage}; a CA key must be SIGN_VERIFY"
            )
        kms_spec = metadata.get("KeySpec")
        spec = KEY_SPEC_OF_KMS.get(str(kms_spec))
        if spec is None:
            known = ", ".join(KMS_KEY_SPEC.values())
            raise KeyUnavailable(
                f"KMS key {key_id!r} has key spec {kms_spec}; a CA key must be one of {known}"
            )
        state = metadata.get("KeyState")
        if state != "Enabled":
            raise KeyUnavailable(f"KMS key {key_id!r} is {state}; a CA key must be Enabled")
        algorithm = _signing_algorithm(spec, signature_hash(spec))
        if algorithm not in metadata.get("SigningAlgorithms", []):
            raise KeyUnavailable(f"KMS key {key_id!r} does not offer {algorithm}")
        with _kms_errors(arn, "reading the public key"):
            der = client.get_public_key(KeyId=arn)["PublicKey"]
        public_key = serialization.load_der_public_key(der)
        if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise KeyUnavailable(f"KMS key {arn!r}: its public key is not EC or RSA")
        try:
            if key_spec_of(public_key, field="kms_key") is not spec:
                raise KeyUnavailable(f"KMS key {arn!r}: its public key is not {kms_spec}")
        except UnsupportedKey as exc:
            raise KeyUnavailable(f"KMS key {arn!r}: {exc.message}") from None
        self._arn = arn
        self._spec = spec
        self._public_key: CertificateIssuerPublicKeyTypes = public_key
        self._builder_key: CertificateIssuerPrivateKeyTypes
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            self._builder_key = _KmsEllipticCurveKey(self, public_key)
        else:
            self._builder_key = _KmsRsaKey(self, public_key)

    @property
    def key_spec(self) -> KeySpec:
        return self._spec

    @property
    def public_key(self) -> CertificateIssuerPublicKeyTypes:
        return self._public_key

    @property
    def builder_key(self) -> CertificateIssuerPrivateKeyTypes:
        return self._builder_key

    @property
    def location(self) -> str:
        """The key ARN, never an alias: re-pointing an alias must not swap a CA's key."""
        return self._arn

    def sign_digest(self, digest: bytes, algorithm: str) -> bytes:
        """One KMS ``Sign`` of a digest made here; the DER signature KMS returns."""
        with _kms_errors(self._arn, "signing"):
            response = self._client.sign(
                KeyId=self._arn,
                Message=digest,
                MessageType="DIGEST",
                SigningAlgorithm=algorithm,  # type: ignore[arg-type]
            )
        return bytes(response["Signature"])

    def __repr__(self) -> str:
        return f"KmsSigner(location={self._arn!r})"


def _signing_algorithm(spec: KeySpec, algorithm: hashes.HashAlgorithm) -> str:
    table = _EC_ALGORITHMS if spec.is_ec else _RSA_PKCS1_ALGORITHMS
    name = table.get(algorithm.name)
    if name is None:
        raise TypeError(f"KMS keys sign with SHA-256, SHA-384 or SHA-512, not {algorithm.name}")
    return name


def _digest(
    data: Buffer, algorithm: hashes.HashAlgorithm | utils.Prehashed
) -> tuple[bytes, hashes.HashAlgorithm]:
    if isinstance(algorithm, utils.Prehashed):
        hash_algorithm: hashes.HashAlgorithm = algorithm._algorithm
        if len(data) != hash_algorithm.digest_size:
            raise ValueError(
                f"a prehashed {hash_algorithm.name} digest must be "
                f"{hash_algorithm.digest_size} bytes"
            )
        return bytes(data), hash_algorithm
    digest = hashes.Hash(algorithm)
    digest.update(data)
    return digest.finalize(), algorithm


def _never_leaves_kms(what: str) -> NoReturn:
    raise KeyUnavailable(f"{what}: the private key of a KMS key never leaves KMS")


class _KmsEllipticCurveKey(ec.EllipticCurvePrivateKey):
    """What cryptography's builders sign with for an EC key in KMS."""

    def __init__(self, signer: KmsSigner, public_key: ec.EllipticCurvePublicKey) -> None:
        self._signer = signer
        self._public = public_key

    def sign(self, data: Buffer, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise TypeError("KMS EC keys sign with ECDSA only")
        digest, hash_algorithm = _digest(data, signature_algorithm.algorithm)
        spec = self._signer.key_spec
        if hash_algorithm.name != signature_hash(spec).name:
            # KMS pairs each curve with one hash: P-256/SHA-256, P-384/SHA-384, P-521/SHA-512.
            raise TypeError(f"{spec.value} KMS keys do not sign with {hash_algorithm.name}")
        return self._signer.sign_digest(digest, _signing_algorithm(spec, hash_algorithm))

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.curve.key_size

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        _never_leaves_kms("ECDH")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        _never_leaves_kms("private_numbers")

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        _never_leaves_kms("private_bytes")

    def __copy__(self) -> _KmsEllipticCurveKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> _KmsEllipticCurveKey:
        return self

    def __repr__(self) -> str:
        return f"<KMS EC key {self._signer.location}>"


class _KmsRsaKey(rsa.RSAPrivateKey):
    """What cryptography's builders sign with for an RSA key in KMS (PKCS#1 v1.5)."""

    def __init__(self, signer: KmsSigner, public_key: rsa.RSAPublicKey) -> None:
        self._signer = signer
        self._public = public_key

    def sign(
        self,
        data: bytes,
        padding: asym_padding.AsymmetricPadding,
        algorithm: hashes.HashAlgorithm | utils.Prehashed | utils.NoDigestInfo,
    ) -> bytes:
        if not isinstance(padding, asym_padding.PKCS1v15):
            # sha256WithRSAEncryption (RFC 4055 section 5) is what albca's chain uses.
            raise TypeError(f"KMS RSA CA keys sign with PKCS#1 v1.5 here, not {padding.name}")
        if isinstance(algorithm, utils.NoDigestInfo):
            raise TypeError("KMS signs a DigestInfo; NoDigestInfo is not possible")
        digest, hash_algorithm = _digest(data, algorithm)
        return self._signer.sign_digest(
            digest, _signing_algorithm(self._signer.key_spec, hash_algorithm)
        )

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    def decrypt(self, ciphertext: bytes, padding: asym_padding.AsymmetricPadding) -> bytes:
        _never_leaves_kms("decrypt")

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        _never_leaves_kms("private_numbers")

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        _never_leaves_kms("private_bytes")

    def __copy__(self) -> _KmsRsaKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> _KmsRsaKey:
        return self

    def __repr__(self) -> str:
        return f"<KMS RSA key {self._signer.location}>"
