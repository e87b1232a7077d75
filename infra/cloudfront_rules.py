"""CloudFront's rules for the client certificate it presents to an origin (origin mTLS).

From AWS_NOTES ("CloudFront origin mutual TLS") and the CloudFront developer guide
("Certificate management with AWS Certificate Manager"): the certificate is X.509 v3 with
EKU clientAuth, an RSA 2048 or ECDSA P-256 key, signed with SHA-256/384/512 with RSA or
SHA-256 with ECDSA; certificate, key and chain in PEM; the chain at most 3 deep (leaf,
intermediate, root) and 64 KB; the key at most 5 KB; imported into ACM in us-east-1.

``check_ca_for_cloudfront`` runs before anything is issued: an issuing CA with a P-384
key signs with ECDSA-SHA384, which CloudFront refuses, so albca says so instead of
issuing a certificate nobody can use. ``check_client_certificate`` checks the issued
certificate itself (and is what the emulated CloudFront enforces).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID

from albca.ca.keys import KeySpec, key_spec_of, signature_hash
from albca.infra.errors import CloudFrontRuleViolation

__all__ = [
    "CloudFrontRule",
    "CLIENT_KEY_SPECS",
    "MAX_CHAIN_DEPTH",
    "check_ca_for_cloudfront",
    "check_client_certificate",
]


class CloudFrontRule(enum.StrEnum):
    X509_V3 = "X.509 version 3"
    CLIENT_AUTH = "extended key usage includes clientAuth"
    KEY = "key is RSA 2048 or ECDSA P-256"
    SIGNATURE = "signed with SHA-256/384/512 with RSA, or SHA-256 with ECDSA"
    CHAIN_DEPTH = "chain depth at most 3 (leaf, intermediate, root)"
    CHAIN_SIZE = "certificate chain at most 64 KB"
    KEY_SIZE = "private key at most 5 KB"


CLIENT_KEY_SPECS = frozenset({KeySpec.RSA_2048, KeySpec.EC_P256})
MAX_CHAIN_DEPTH = 3
MAX_CHAIN_BYTES = 64 * 1024
MAX_KEY_BYTES = 5 * 1024
_SIGNATURES = {
    SignatureAlgorithmOID.RSA_WITH_SHA256,
    SignatureAlgorithmOID.RSA_WITH_SHA384,
    SignatureAlgorithmOID.RSA_WITH_SHA512,
    SignatureAlgorithmOID.ECDSA_WITH_SHA256,
}
_SIGNATURE_NAMES = {
    value: name
    for name, value in vars(SignatureAlgorithmOID).items()
    if isinstance(value, x509.ObjectIdentifier)
}


def check_ca_for_cloudfront(
    issuing_ca: x509.Certificate, above: Sequence[x509.Certificate], key_spec: KeySpec
) -> None:
    """Can this CA issue a client certificate CloudFront accepts? ``above`` is the chain
    from the issuing CA's issuer up to the root; ``key_spec`` the leaf key to be made."""
    depth = 2 + len(above)
    if depth > MAX_CHAIN_DEPTH:
        raise _violation(
            CloudFrontRule.CHAIN_DEPTH,
            f"the chain would be {depth} certificates deep",
            issuing_ca,
        )
    if key_spec not in CLIENT_KEY_SPECS:
        allowed = " or ".join(sorted(CLIENT_KEY_SPECS))
        raise _violation(
            CloudFrontRule.KEY,
            f"a {key_spec} client key was asked for; CloudFront takes {allowed}",
            issuing_ca,
        )
    issuer_spec = key_spec_of(issuing_ca.public_key())
    hash_name = signature_hash(issuer_spec).name.upper()
    algorithm = f"{'ECDSA' if issuer_spec.is_ec else 'RSA'} with {hash_name}"
    if issuer_spec.is_ec and hash_name != "SHA256":
        raise _violation(
            CloudFrontRule.SIGNATURE,
            f"the issuing CA has a {issuer_spec} key and would sign with {algorithm}; use a "
            "CA home whose issuing CA is EC P-256 or RSA (albca init --issuing-key-type ec-p256)",
            issuing_ca,
        )
    for certificate in (issuing_ca, *above[:-1]):
        _check_signature(certificate)


def check_client_certificate(
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    *,
    private_key_pem: bytes | None = None,
) -> None:
    """The issued certificate (and its chain above it, root optional) meets every rule."""
    for member in (certificate, *chain):
        if member.version is not x509.Version.v3:
            raise _violation(CloudFrontRule.X509_V3, "the certificate is X.509 v1", member)
    try:
        usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is None or ExtendedKeyUsageOID.CLIENT_AUTH not in usage:
        raise _violation(CloudFrontRule.CLIENT_AUTH, "clientAuth is missing", certificate)
    key = certificate.public_key()
    if not (
        (isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048)
        or (isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1")
    ):
        raise _violation(CloudFrontRule.KEY, f"the key is {_key_name(key)}", certificate)
    path = _issuance_path(certificate, chain)
    for member in path:
        if member.issuer != member.subject:  # a root's self-signature is not checked
            _check_signature(member)
    # The root counts even when the chain leaves it out (CloudFront: "leaf, intermediate,
    # root"); certificates of the chain not on the issuance path do not.
    depth = len(path) + (0 if path[-1].issuer == path[-1].subject else 1)
    if depth > MAX_CHAIN_DEPTH:
        raise _violation(
            CloudFrontRule.CHAIN_DEPTH, f"the chain is {depth} certificates deep", certificate
        )
    size = sum(len(c.public_bytes(serialization.Encoding.PEM)) for c in (certificate, *chain))
    if size > MAX_CHAIN_BYTES:
        raise _violation(CloudFrontRule.CHAIN_SIZE, f"the chain takes {size} bytes", certificate)
    if private_key_pem is not None and len(private_key_pem) > MAX_KEY_BYTES:
        raise _violation(
            CloudFrontRule.KEY_SIZE, f"the key takes {len(private_key_pem)} bytes", certificate
        )


def _issuance_path(
    certificate: x509.Certificate, chain: Sequence[x509.Certificate]
) -> list[x509.Certificate]:
    """The certificate, then each certificate of ``chain`` that signed the one before."""
    path = [certificate]
    while path[-1].issuer != path[-1].subject:
        parent = next((c for c in chain if c not in path and _signed(path[-1], by=c)), None)
        if parent is None:
            break
        path.append(parent)
    return path


def _signed(certificate: x509.Certificate, *, by: x509.Certificate) -> bool:
    if certificate.issuer != by.subject:
        return False
    try:
        certificate.verify_directly_issued_by(by)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _check_signature(certificate: x509.Certificate) -> None:
    if certificate.signature_algorithm_oid not in _SIGNATURES:
        name = _SIGNATURE_NAMES.get(
            certificate.signature_algorithm_oid, certificate.signature_algorithm_oid.dotted_string
        )
        raise _violation(CloudFrontRule.SIGNATURE, f"it is signed with {name}", certificate)


def _key_name(key: object) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    return type(key).__name__.removeprefix("_")


def _violation(
    rule: CloudFrontRule, detail: str, certificate: x509.Certificate
) -> CloudFrontRuleViolation:
    subject = certificate.subject.rfc4514_string()
    return CloudFrontRuleViolation(
        f"CloudFront origin mTLS needs '{rule.value}': {detail} ({subject or 'empty subject'})",
        rule=rule.value,
        subject=subject,
    )
