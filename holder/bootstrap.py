"""Trust on first use, made safe by a fingerprint the operator hands out (as
``step ca bootstrap`` does): fetch the CA bundle, keep it only if a root in it has that
SHA-256 fingerprint, then check that the API's own TLS chains to it.

The first fetch cannot be verified (the holder trusts nothing yet), so nothing from it is
believed except what the fingerprint vouches for: the root with that fingerprint and the
certificates whose signatures chain up to it. Any other certificate in the answer (a root
a man in the middle slipped in) is dropped.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from albca.holder.client import CaClient
from albca.holder.errors import FingerprintMismatch, UnreadableFile, VerificationFailed

__all__ = ["Bootstrapped", "bootstrap", "fingerprint", "normalize_fingerprint"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 over the DER certificate, lowercase hex (what ``albca ca fingerprint``
    prints and ``openssl x509 -fingerprint -sha256`` shows with colons)."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def normalize_fingerprint(text: str) -> str:
    value = text.strip().lower().removeprefix("sha256:").removeprefix("sha256=")
    value = value.replace(":", "").replace(" ", "")
    if not _HEX64.match(value):
        raise FingerprintMismatch(
            f"--fingerprint: {text!r} is not a SHA-256 fingerprint (64 hex digits, colons "
            "allowed); get it with `albca ca fingerprint` on the CA"
        )
    return value


@dataclass(frozen=True)
class Bootstrapped:
    root: x509.Certificate
    bundle_pem: bytes  # the root and what chains to it
    dropped: int  # certificates of the answer that did not chain to the root


def bootstrap(
    ca_url: str,
    expected: str,
    *,
    make_client: Callable[[bytes | None], CaClient],
) -> Bootstrapped:
    wanted = normalize_fingerprint(expected)
    with make_client(None) as unverified:
        answer = unverified.bundle()
    try:
        certificates = x509.load_pem_x509_certificates(answer)
    except ValueError:
        raise UnreadableFile(f"{ca_url}/v1/ca/bundle: not a PEM bundle") from None
    roots = [cert for cert in certificates if fingerprint(cert) == wanted]
    if not roots:
        # The fingerprints found are not shown: a user must not be invited to copy the one
        # an impostor's server offers.
        raise FingerprintMismatch(
            f"no root in the bundle from {ca_url} has fingerprint {wanted}; nothing was "
            "saved; check the fingerprint with the CA's operator (albca ca fingerprint)"
        )
    root = roots[0]
    if root.issuer != root.subject:
        raise FingerprintMismatch(f"{wanted} is not a root (self-signed) certificate")
    kept = [root]
    rest = [cert for cert in certificates if cert is not root]
    grew = True
    while grew:
        grew = False
        for cert in list(rest):
            if any(_signed_by(cert, issuer) for issuer in kept):
                kept.append(cert)
                rest.remove(cert)
                grew = True
    pem = b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in kept)
    # The API's TLS must chain to what was just accepted: proof that this bundle is the
    # one this server's CA uses, and that every later call can be verified.
    try:
        with make_client(pem) as verified:
            verified.health()
    except VerificationFailed:
        raise VerificationFailed(
            f"{ca_url}: the API's TLS certificate does not chain to the root with fingerprint "
            f"{wanted}; nothing was saved"
        ) from None
    return Bootstrapped(root=root, bundle_pem=pem, dropped=len(rest))


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
