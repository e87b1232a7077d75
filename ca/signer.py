"""The port through which the authority signs: a CA key it can use but never reads.

cryptography's builders (``CertificateBuilder.sign``, ``CertificateRevocationListBuilder
.sign``) accept any object that subclasses ``ec.EllipticCurvePrivateKey`` or
``rsa.RSAPrivateKey`` and call its ``sign(data, algorithm)``. A signer hands the builders
such an object: a real key for a local file, or a proxy that asks AWS KMS to sign. The
builders, and everything above them, never learn which.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Protocol, cast, runtime_checkable

from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificateIssuerPublicKeyTypes,
)

from albca.ca.keys import KeySpec, SignatureHash, key_spec_of, signature_hash

__all__ = ["Signer", "PrivateKeySigner", "sign_bytes"]


@runtime_checkable
class Signer(Protocol):
    """A CA key the authority can sign with."""

    @property
    def key_spec(self) -> KeySpec: ...

    @property
    def public_key(self) -> CertificateIssuerPublicKeyTypes: ...

    @property
    def builder_key(self) -> CertificateIssuerPrivateKeyTypes:
        """What to pass to a cryptography builder's ``sign``."""
        ...

    @property
    def location(self) -> str:
        """Where the key lives (a file path, a KMS ARN); shown to operators, never secret."""
        ...


@dataclass(frozen=True)
class PrivateKeySigner:
    """A signer over a private key held in this process (decrypted from a local file)."""

    private_key: CertificateIssuerPrivateKeyTypes
    location: str

    def __post_init__(self) -> None:
        if not isinstance(self.private_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise TypeError(
                f"private_key must be an EC or RSA private key, not "
                f"{type(self.private_key).__name__}"
            )

    # Derived once: the key never changes, and every signature asks for its spec.
    @cached_property
    def key_spec(self) -> KeySpec:
        return key_spec_of(self.private_key.public_key(), field="ca_key")

    @cached_property
    def public_key(self) -> CertificateIssuerPublicKeyTypes:
        return self.private_key.public_key()

    @property
    def builder_key(self) -> CertificateIssuerPrivateKeyTypes:
        return self.private_key

    def __repr__(self) -> str:
        # Never let a repr (a log line, a traceback) carry key material.
        return f"PrivateKeySigner(location={self.location!r})"


# The signature algorithm of each key spec, made once: they hold no state, and building
# ``ECDSA(SHA256())`` on every signature cost as much as a tenth of the signature.
_ECDSA_OF: dict[KeySpec, ec.ECDSA] = {
    spec: ec.ECDSA(signature_hash(spec)) for spec in KeySpec if spec.is_ec
}
_RSA_HASH_OF: dict[KeySpec, SignatureHash] = {
    spec: signature_hash(spec) for spec in KeySpec if not spec.is_ec
}
_PKCS1V15 = padding.PKCS1v15()
# Whether each private key class seen is EC (True) or RSA (False): the isinstance checks
# against cryptography's ABCs run once per class (a local key's, a KMS proxy's).
_IS_EC_CLASS: dict[type, bool] = {}


def sign_bytes(signer: Signer, data: bytes) -> bytes:
    """Sign ``data`` the way a certificate or CRL signature is made with this CA key."""
    key = signer.builder_key
    is_ec = _IS_EC_CLASS.get(type(key))
    if is_ec is None:
        if isinstance(key, ec.EllipticCurvePrivateKey):
            is_ec = True
        elif isinstance(key, rsa.RSAPrivateKey):
            is_ec = False
        else:
            raise TypeError(f"signer key must be EC or RSA, not {type(key).__name__}")
        _IS_EC_CLASS[type(key)] = is_ec
    if is_ec:
        return cast(ec.EllipticCurvePrivateKey, key).sign(data, _ECDSA_OF[signer.key_spec])
    # PKCS#1 v1.5, what sha256WithRSAEncryption means (RFC 4055 section 5).
    return cast(rsa.RSAPrivateKey, key).sign(data, _PKCS1V15, _RSA_HASH_OF[signer.key_spec])
