"""Making a renewal token, as a certificate holder does (``albca renewal-token``).

The other half of ``api.renewal``: a JWS signed with the certificate's own key, carrying
the certificate in ``x5c`` (standard base64 DER, RFC 7515 section 4.1.6), with ``aud``,
``iat``, ``exp`` and a fresh ``jti``. The algorithm follows from the key, the same rule
the API enforces, so a token made here is never refused for its ``alg``.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

__all__ = ["EC_ALGORITHMS", "RSA_ALGORITHMS", "algorithm_for_key", "make_renewal_token"]

EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_RSA_DEFAULT = "RS256"  # what every JOSE library verifies


def algorithm_for_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = EC_ALGORITHMS.get(key.curve.name)
        if algorithm is None:
            raise ValueError(f"key: curve {key.curve.name} has no JWS algorithm; use P-256/384/521")
        return algorithm
    if isinstance(key, rsa.RSAPrivateKey):
        return _RSA_DEFAULT
    raise ValueError("key: only EC and RSA keys can sign a renewal token")


def make_renewal_token(
    certificate: x509.Certificate,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    *,
    audience: str,
    now: datetime,
    lifetime: timedelta = timedelta(minutes=5),
) -> str:
    """A one-time renewal token for ``certificate``, signed with its ``key``."""
    if not audience:
        raise ValueError("audience: name the API's renewal audience (default albca-renew)")
    if not timedelta(0) < lifetime <= timedelta(hours=1):
        raise ValueError("lifetime: a renewal token lives between 1 second and 1 hour")
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(
        serialization.Encoding.DER, spki
    ) != certificate.public_key().public_bytes(serialization.Encoding.DER, spki):
        raise ValueError("key: this is not the key of the certificate being renewed")
    issued_at = int(now.timestamp())
    claims = {
        "aud": audience,
        "iat": issued_at,
        "exp": issued_at + int(lifetime.total_seconds()),
        "jti": str(uuid.uuid4()),
        "sub": f"{certificate.serial_number:x}",
    }
    der = certificate.public_bytes(serialization.Encoding.DER)
    headers = {"x5c": [base64.b64encode(der).decode()]}
    return jwt.encode(claims, key, algorithm=algorithm_for_key(key), headers=headers)
