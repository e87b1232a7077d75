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


# English month names whatever the locale (strftime's %b follows it).
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _comment(certificate: x509.Certificate) -> bytes:
    role = "root CA" if certificate.issuer == certificate.subject else "issuing CA"
    subject = certificate.subject.rfc4514_string()
    expires = certificate.not_valid_after_utc
    # "4 Dec 2036", not ISO 8601: a trust store's bundle file may hold comment lines that
    # start with "#" and contain no "-" at all (ALB user guide, "Mutual authentication with
    # TLS", CA certificate bundle format; AWS_NOTES.md, "Trust stores").
    date = f"{expires.day} {_MONTHS[expires.month - 1]} {expires.year}"
    return f"# {role}: {_comment_text(subject)} (expires {date})\n".encode("ascii")


def _comment_text(text: str) -> str:
    """``text`` as it may stand in a bundle comment line: printable ASCII without "-" (a
    hyphen in a name becomes "_"), anything else escaped, so the line stays one line."""
    shown = []
    for char in text:
        if char == "-":
            shown.append("_")
        elif " " <= char <= "~":
            shown.append(char)
        elif ord(char) < 0x80:  # a control character: a newline would end the comment
            shown.append(f"\\x{ord(char):02x}")
        else:
            shown.append(char.encode("ascii", "backslashreplace").decode("ascii"))
    return "".join(shown)
