"""Making a renewal token, as a certificate holder does (``albca renew``, ``albca agent``,
``albca renewal-token``), with cryptography alone: a holder's machine has the plain
install, without the ``api`` extra and its JOSE library.

The token is a compact JWS (RFC 7515 section 7.1) signed with the certificate's own key,
carrying the certificate in ``x5c`` (standard base64 DER, RFC 7515 section 4.1.6), with
``aud``, ``iat``, ``exp``, ``sub`` and a fresh ``jti``. The algorithm follows from the key,
the same rule the API enforces (``api.renewal``), so a token made here is never refused
for its ``alg``:

- EC: ES256/ES384/ES512 by curve (RFC 7518 section 3.4); the signature is the raw
  ``r || s`` pair, each padded to the curve's size, not the DER that cryptography returns.
- RSA: RS256 (RSASSA-PKCS1-v1_5, section 3.3; what every JOSE library verifies) or PS256
  (RSASSA-PSS with MGF1 and a salt as long as the hash, section 3.5).
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

__all__ = [
    "EC_ALGORITHMS",
    "RSA_ALGORITHMS",
    "algorithm_for_key",
    "make_renewal_token",
]

EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_RSA_DEFAULT = "RS256"
_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
MAX_LIFETIME = timedelta(hours=1)


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
    rsa_algorithm: str = _RSA_DEFAULT,
) -> str:
    """A one-time renewal token for ``certificate``, signed with its ``key``."""
    if not audience:
        raise ValueError("audience: name the API's renewal audience (default albca-renew)")
    if not timedelta(0) < lifetime <= MAX_LIFETIME:
        raise ValueError("lifetime: a renewal token lives between 1 second and 1 hour")
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(
        serialization.Encoding.DER, spki
    ) != certificate.public_key().public_bytes(serialization.Encoding.DER, spki):
        raise ValueError("key: this is not the key of the certificate being renewed")
    if isinstance(key, rsa.RSAPrivateKey):
        if rsa_algorithm not in RSA_ALGORITHMS:
            raise ValueError(f"rsa_algorithm: {rsa_algorithm!r} is not one of RS256 ... PS512")
        algorithm = rsa_algorithm
    else:
        algorithm = algorithm_for_key(key)
    issued_at = int(now.timestamp())
    der = certificate.public_bytes(serialization.Encoding.DER)
    header = {"alg": algorithm, "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}
    claims = {
        "aud": audience,
        "iat": issued_at,
        "exp": issued_at + int(lifetime.total_seconds()),
        "jti": str(uuid.uuid4()),
        "sub": f"{certificate.serial_number:x}",
    }
    signing_input = f"{_b64url_json(header)}.{_b64url_json(claims)}".encode("ascii")
    signature = _sign(key, algorithm, signing_input)
    return f"{signing_input.decode('ascii')}.{_b64url(signature)}"


def _sign(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, alg: str, data: bytes) -> bytes:
    digest = _HASHES[alg[2:]]()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
        size = (key.curve.key_size + 7) // 8  # 66 bytes for P-521 (RFC 7518 section 3.4)
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if alg.startswith("PS"):
        pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
        return key.sign(data, pss, digest)
    return key.sign(data, padding.PKCS1v15(), digest)


def _b64url(data: bytes) -> str:
    # base64url without padding (RFC 7515 section 2, "Base64url Encoding").
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_json(value: object) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())
