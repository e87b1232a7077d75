"""The port through which the authority signs: a CA key it can use but never reads.

cryptography's builders (``CertificateBuilder.sign``, ``CertificateRevocationListBuilder
.sign``) accept any object that subclasses ``ec.EllipticCurvePrivateKey`` or
``rsa.RSAPrivateKey`` and call its ``sign(data, algorithm)``. A signer hands the builders
such an object: a real key for a local file, or a proxy that asks AWS KMS to sign. The
builders, and everything above them, never learn which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificateIssuerPublicKeyTypes,
)

from albca.ca.keys import KeySpec, key_spec_of, signature_hash

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

    @property
    def key_spec(self) -> KeySpec:
        return key_spec_of(self.private_key.public_key(), field="ca_key")

    @property
    def public_key(self) -> CertificateIssuerPublicKeyTypes:
        return self.private_key.public_key()

    @property
    def builder_key(self) -> CertificateIssuerPrivateKeyTypes:
        return self.private_key

    def __repr__(self) -> str:
        # Never let a repr (a log line, a traceback) carry key material.
        return f"PrivateKeySigner(location={self.location!r})"


def sign_bytes(signer: Signer, data: bytes) -> bytes:
    """Sign ``data`` the way a certificate or CRL signature is made with this CA key."""
    key = signer.builder_key
    algorithm = signature_hash(signer.key_spec)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(algorithm))
    if isinstance(key, rsa.RSAPrivateKey):
        # PKCS#1 v1.5, what sha256WithRSAEncryption means (RFC 4055 section 5).
        return key.sign(data, padding.PKCS1v15(), algorithm)
    raise TypeError(f"signer key must be EC or RSA, not {type(key).__name__}")
