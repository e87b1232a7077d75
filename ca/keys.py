"""Key types the authority accepts, generates and signs with.

The accepted set is the intersection of what ALB trust stores take (RSA 2048-8192, ECDSA
P-256/P-384/P-521; ``AWS_NOTES.md``) and what the CA is willing to vouch for: RSA below 2048
bits is refused everywhere, and RSA above 4096 is not offered for CA keys because every
handshake would pay for it.
"""

from __future__ import annotations

import enum
from typing import cast

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from albca.ca.errors import UnsupportedKey

__all__ = [
    "KeySpec",
    "CAKey",
    "SignatureHash",
    "key_spec_of",
    "is_ec_public_key",
    "generate_private_key",
    "signature_hash",
]

CAKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
"""The private keys albca makes and signs with."""

SignatureHash = hashes.SHA256 | hashes.SHA384 | hashes.SHA512

_MIN_RSA_BITS = 2048
_MAX_RSA_BITS = 8192  # the ALB trust store limit


class KeySpec(enum.StrEnum):
    """A key type and size, spelt the way the CLI and config file spell it."""

    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"
    EC_P521 = "ec-p521"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"

    @property
    def is_ec(self) -> bool:
        return self.value.startswith("ec-")

    @property
    def rsa_bits(self) -> int:
        if self.is_ec:
            raise TypeError(f"{self.value} is not an RSA key spec")
        return int(self.value.removeprefix("rsa-"))

    @classmethod
    def parse(cls, text: str, *, field: str = "key_type") -> KeySpec:
        try:
            return cls(text.strip().lower())
        except ValueError:
            known = ", ".join(spec.value for spec in cls)
            raise UnsupportedKey(
                f"{field}: unknown key type {text!r}; choose one of {known}", field=field
            ) from None


_CURVES: dict[str, KeySpec] = {
    "secp256r1": KeySpec.EC_P256,
    "secp384r1": KeySpec.EC_P384,
    "secp521r1": KeySpec.EC_P521,
}
_CURVE_OF: dict[KeySpec, ec.EllipticCurve] = {
    KeySpec.EC_P256: ec.SECP256R1(),
    KeySpec.EC_P384: ec.SECP384R1(),
    KeySpec.EC_P521: ec.SECP521R1(),
}
# Hash per key: the curve's own strength for EC (the pairing KMS and RFC 5480 section 4
# recommend), SHA-256 for RSA, which every AWS consumer of the chain accepts.
_HASH_OF: dict[KeySpec, type[SignatureHash]] = {
    KeySpec.EC_P256: hashes.SHA256,
    KeySpec.EC_P384: hashes.SHA384,
    KeySpec.EC_P521: hashes.SHA512,
    KeySpec.RSA_2048: hashes.SHA256,
    KeySpec.RSA_3072: hashes.SHA256,
    KeySpec.RSA_4096: hashes.SHA256,
}


# The key family of each public key class seen, so that the isinstance checks against
# cryptography's ABCs (slow: ``ABCMeta.__instancecheck__``) run once per class, not once per
# key on every issuance. Classes are few (cryptography's, a KMS proxy's).
_FAMILY_OF_CLASS: dict[type, str] = {}


def _family(public_key: object) -> str:
    kind = type(public_key)
    family = _FAMILY_OF_CLASS.get(kind)
    if family is None:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            family = "ec"
        elif isinstance(public_key, rsa.RSAPublicKey):
            family = "rsa"
        else:
            family = "other"
        _FAMILY_OF_CLASS[kind] = family
    return family


def is_ec_public_key(public_key: object) -> bool:
    return _family(public_key) == "ec"


def key_spec_of(public_key: CertificatePublicKeyTypes, *, field: str = "public_key") -> KeySpec:
    """The spec of a public key, or ``UnsupportedKey`` naming why it is refused."""
    family = _family(public_key)
    if family == "ec":
        public_key = cast(ec.EllipticCurvePublicKey, public_key)  # what _family found
        spec = _CURVES.get(public_key.curve.name)
        if spec is None:
            raise UnsupportedKey(
                f"{field}: curve {public_key.curve.name} is not supported; "
                "use P-256, P-384 or P-521",
                field=field,
            )
        return spec
    if family == "rsa":
        public_key = cast(rsa.RSAPublicKey, public_key)
        bits = public_key.key_size
        if bits < _MIN_RSA_BITS:
            raise UnsupportedKey(
                f"{field}: RSA key of {bits} bits is too small; at least {_MIN_RSA_BITS} "
                "bits are required",
                field=field,
            )
        if bits > _MAX_RSA_BITS or bits not in (2048, 3072, 4096):
            raise UnsupportedKey(
                f"{field}: RSA key of {bits} bits is not supported; use 2048, 3072 or 4096",
                field=field,
            )
        return KeySpec(f"rsa-{bits}")
    raise UnsupportedKey(
        f"{field}: {type(public_key).__name__.removeprefix('_')} keys are not supported; "
        "use EC (P-256, P-384, P-521) or RSA (2048-4096)",
        field=field,
    )


def generate_private_key(spec: KeySpec) -> CAKey:
    if spec.is_ec:
        return ec.generate_private_key(_CURVE_OF[spec])
    # 65537 is the only public exponent anyone should use (RFC 8017 appendix A.1.1 notes).
    return rsa.generate_private_key(public_exponent=65537, key_size=spec.rsa_bits)


def signature_hash(spec: KeySpec) -> SignatureHash:
    """The hash a CA key of this spec signs certificates and CRLs with."""
    return _HASH_OF[spec]()
