"""The CA bundle: the PEM file relying parties (ALB trust stores, TLS servers) trust."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

__all__ = ["TrustBundle"]


@dataclass(frozen=True)
class TrustBundle:
    """CA certificates in the order the bundle lists them: roots first, then the CAs they
    signed. ALB trust stores accept any order (they build paths themselves); trust anchor
    first is the order people read, and what OpenSSL's ``-CAfile`` documentation shows."""

    certificates: tuple[x509.Certificate, ...]

    @classmethod
    def of(cls, certificates: Sequence[x509.Certificate]) -> TrustBundle:
        if not certificates:
            raise ValueError("a trust bundle needs at least one CA certificate")
        return cls(tuple(certificates))

    @property
    def pem(self) -> bytes:
        blocks = []
        for certificate in self.certificates:
            # A comment line per certificate, so that a person (or a diff of two bundle
            # versions) can tell which CA is which; PEM parsers skip text between blocks.
            blocks.append(_comment(certificate))
            blocks.append(certificate.public_bytes(serialization.Encoding.PEM))
        return b"".join(blocks)


def _comment(certificate: x509.Certificate) -> bytes:
    role = "root CA" if certificate.issuer == certificate.subject else "issuing CA"
    subject = certificate.subject.rfc4514_string()
    expires = certificate.not_valid_after_utc.date().isoformat()
    # ASCII only: a trust store parser has no reason to accept anything else.
    return f"# {role}: {subject} (expires {expires})\n".encode("ascii", "backslashreplace")
