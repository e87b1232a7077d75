"""Does a certificate verify: chain, validity, purpose, name and revocation, with the
reason when it does not.

The chain is built and checked by ``cryptography.x509.verification`` against the roots
of a bundle (its other certificates are candidate intermediates). The CA certificates are
held to the Web PKI profile (``webpki_defaults_ca``: basicConstraints, keyUsage
keyCertSign, RFC 5280 section 4.2.1.9); the leaf's purpose is checked here from its
extendedKeyUsage (RFC 5280 section 4.2.1.12), because a client certificate with only a
common name is valid for an ALB but not under the Web PKI leaf rules. A name is checked
by the server verifier (RFC 6125 matching of DNS and IP SANs). cryptography does no
revocation checking, so a CRL is checked here: signed by the leaf's issuer, for that
issuer, not past its nextUpdate (RFC 5280 sections 5.1.2.4-5 and 6.3.3).
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

from albca.ca.keys import CAKey
from albca.holder.errors import UnreadableFile, VerificationFailed

__all__ = ["Verified", "verify_certificate", "load_certificates", "same_public_key"]

_PURPOSES = {"client": ExtendedKeyUsageOID.CLIENT_AUTH, "server": ExtendedKeyUsageOID.SERVER_AUTH}


@dataclass(frozen=True)
class Verified:
    chain: tuple[x509.Certificate, ...]  # leaf first, root last
    purpose: str
    server_name: str | None
    revocation: str  # "not checked" or "not revoked (CRL number N)"


def load_certificates(data: bytes, what: str) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle, or the one certificate of a DER file."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise UnreadableFile(f"{what}: not a PEM or DER certificate") from None


def same_public_key(certificate: x509.Certificate, key: CAKey) -> bool:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    ours = certificate.public_key().public_bytes(serialization.Encoding.DER, spki)
    return ours == key.public_key().public_bytes(serialization.Encoding.DER, spki)


def verify_certificate(
    leaf: x509.Certificate,
    trusted: Sequence[x509.Certificate],
    *,
    now: datetime,
    intermediates: Sequence[x509.Certificate] = (),
    purpose: str | None = None,
    server_name: str | None = None,
    crl: x509.CertificateRevocationList | None = None,
) -> Verified:
    roots = [cert for cert in trusted if cert.issuer == cert.subject]
    if not roots:
        raise VerificationFailed("the bundle holds no root (self-signed) certificate")
    candidates = [cert for cert in (*trusted, *intermediates) if cert.issuer != cert.subject]
    if now < leaf.not_valid_before_utc:
        raise VerificationFailed(
            f"certificate {leaf.serial_number:x} is not valid before "
            f"{leaf.not_valid_before_utc.isoformat()}"
        )
    if now >= leaf.not_valid_after_utc:
        raise VerificationFailed(
            f"certificate {leaf.serial_number:x} expired at {leaf.not_valid_after_utc.isoformat()}"
        )
    builder = (
        verification.PolicyBuilder()
        .store(verification.Store(roots))
        .time(now)
        .extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=verification.ExtensionPolicy.permit_all(),
        )
    )
    try:
        chain = tuple(builder.build_client_verifier().verify(leaf, candidates).chain)
    except verification.VerificationError as exc:
        raise VerificationFailed(
            f"certificate {leaf.serial_number:x} does not chain to the bundle's roots: {exc}"
        ) from None
    chosen = purpose or ("server" if server_name else _purpose_of(leaf))
    _check_purpose(leaf, chosen)
    if server_name is not None:
        _check_name(leaf, candidates, roots, now, server_name)
    revocation = "not checked"
    if crl is not None:
        issuer = chain[1] if len(chain) > 1 else chain[0]
        revocation = _check_crl(leaf, issuer, crl, now)
    return Verified(chain=chain, purpose=chosen, server_name=server_name, revocation=revocation)


def _eku(leaf: x509.Certificate) -> list[x509.ObjectIdentifier] | None:
    try:
        return list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return None


def _purpose_of(leaf: x509.Certificate) -> str:
    usages = _eku(leaf)
    if usages is None or ExtendedKeyUsageOID.CLIENT_AUTH in usages:
        return "client"
    return "server" if ExtendedKeyUsageOID.SERVER_AUTH in usages else "client"


def _check_purpose(leaf: x509.Certificate, purpose: str) -> None:
    if purpose not in _PURPOSES:
        raise ValueError(f"purpose: {purpose!r} is not client or server")
    usages = _eku(leaf)
    # No extendedKeyUsage means any purpose (RFC 5280 section 4.2.1.12).
    if usages is not None and _PURPOSES[purpose] not in usages:
        names = ", ".join(oid._name for oid in usages) or "none"
        raise VerificationFailed(
            f"certificate {leaf.serial_number:x} is not for {purpose} authentication "
            f"(extendedKeyUsage: {names})"
        )


def _check_name(
    leaf: x509.Certificate,
    candidates: list[x509.Certificate],
    roots: list[x509.Certificate],
    now: datetime,
    server_name: str,
) -> None:
    subject: x509.verification.Subject
    try:
        subject = x509.IPAddress(ipaddress.ip_address(server_name))
    except ValueError:
        subject = x509.DNSName(server_name)
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store(roots))
        .time(now)
        .extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
            # A server certificate's names are in its SAN (RFC 6125 section 6.4.4; the
            # verifier refuses a policy that does not require it).
            ee_policy=verification.ExtensionPolicy.webpki_defaults_ee(),
        )
        .build_server_verifier(subject)
    )
    try:
        verifier.verify(leaf, candidates)
    except verification.VerificationError:
        raise VerificationFailed(
            f"certificate {leaf.serial_number:x} is not valid for {server_name} "
            f"(its names: {', '.join(_san_names(leaf)) or 'no subjectAltName'})"
        ) from None


def _san_names(leaf: x509.Certificate) -> list[str]:
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [*san.get_values_for_type(x509.DNSName)] + [
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    ]


def _check_crl(
    leaf: x509.Certificate,
    issuer: x509.Certificate,
    crl: x509.CertificateRevocationList,
    now: datetime,
) -> str:
    if crl.issuer != leaf.issuer:
        raise VerificationFailed(
            f"the CRL is issued by {crl.issuer.rfc4514_string()}, not by the certificate's "
            f"issuer {leaf.issuer.rfc4514_string()}"
        )
    if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
        raise VerificationFailed("the CRL's signature does not verify with the issuer's key")
    next_update = crl.next_update_utc
    if next_update is not None and now > next_update:
        raise VerificationFailed(
            f"the CRL is stale: its nextUpdate was {next_update.isoformat()}; fetch a new one"
        )
    entry = crl.get_revoked_certificate_by_serial_number(leaf.serial_number)
    if entry is not None:
        reason = "unspecified"
        with contextlib.suppress(x509.ExtensionNotFound):
            reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.value
        raise VerificationFailed(
            f"certificate {leaf.serial_number:x} was revoked at "
            f"{entry.revocation_date_utc.isoformat()} (reason: {reason})"
        )
    number = _crl_number(crl)
    return f"not revoked (CRL number {number})" if number is not None else "not revoked"


def _crl_number(crl: x509.CertificateRevocationList) -> int | None:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return None
