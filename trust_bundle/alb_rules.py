"""Every documented rule of ALB trust stores, checked before anything is uploaded.

AWS answers a bundle that breaks a rule with a bare ``InvalidCaCertificatesBundle``, so albca
checks each rule itself and says which certificate broke which one. Sources: AWS_NOTES.md
("Trust stores"), the ALB user guide ("Mutual authentication with TLS", "Quotas for your
Application Load Balancers": CA certificate size 16 KB, 25 CA certificates per trust store,
10,000 of CA subject names, chain depth 4, 500,000 revocation entries, 50 MB per revocation
file, 30 revocation files per trust store).

Where a limit can be read two ways, the stricter reading is taken, so that a bundle albca
accepts is never one AWS refuses:

- "16 KB per certificate" is measured on the certificate's PEM encoding (the bundle is a PEM
  file), which is about a third larger than its DER.
- "50 MB per CRL file" is 50,000,000 bytes.
- "chain depth 4" counts the certificates of the longest issuer chain inside the bundle.
- "10,000 of CA subject names" is the sum of the DER sizes of the subjects the listener
  would advertise (one per certificate), checked only when CA names are advertised.
- Every certificate in a bundle is taken to be a CA certificate: a trust store holds CAs.

Each check raises (``BundleRejected``/``RevocationRejected``) on the first broken rule, in a
fixed order: bundle-wide rules first, then certificate by certificate, then chain rules.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import SignatureAlgorithmOID

from albca.trust_bundle.errors import BundleRejected, BundleRule, RevocationRejected, RevocationRule

__all__ = [
    "TrustStoreLimits",
    "ALB_LIMITS",
    "CheckedBundle",
    "CheckedCRL",
    "check_bundle",
    "check_crl",
    "check_revocation_totals",
    "ca_names_size",
]


@dataclass(frozen=True)
class TrustStoreLimits:
    """The trust store quotas (ALB user guide, "Quotas for your Application Load
    Balancers"). The defaults are the page's; most are adjustable per account (Service
    Quotas), so an account's raised quotas come from configuration
    (``ALBCA_TRUST_STORE_QUOTAS``), never from a constant in the code."""

    max_trust_stores: int = 20  # per account and region
    max_certificates: int = 25
    max_certificate_bytes: int = 16 * 1024
    max_chain_depth: int = 4
    max_ca_names_bytes: int = 10_000
    max_crl_bytes: int = 50_000_000
    max_revoked_entries: int = 500_000
    max_crls: int = 30

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"TrustStoreLimits.{name} must be an int")
            if value < 1:
                raise ValueError(f"TrustStoreLimits.{name} must be at least 1, not {value}")

    @classmethod
    def with_quotas(cls, quotas: Mapping[str, int]) -> TrustStoreLimits:
        """The defaults with ``quotas`` (field name -> value) raised or lowered."""
        unknown = sorted(set(quotas) - {f.name for f in fields(cls)})
        if unknown:
            known = ", ".join(f.name for f in fields(cls))
            raise ValueError(f"unknown trust store quota {unknown[0]!r}; known: {known}")
        return cls(**quotas)


ALB_LIMITS = TrustStoreLimits()

_EC_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_MIN_RSA_BITS = 2048
_MAX_RSA_BITS = 8192
_SIGNATURES = {
    SignatureAlgorithmOID.RSA_WITH_SHA256,
    SignatureAlgorithmOID.RSA_WITH_SHA384,
    SignatureAlgorithmOID.RSA_WITH_SHA512,
    SignatureAlgorithmOID.ECDSA_WITH_SHA256,
    SignatureAlgorithmOID.ECDSA_WITH_SHA384,
    SignatureAlgorithmOID.ECDSA_WITH_SHA512,
    SignatureAlgorithmOID.RSASSA_PSS,  # its hash is checked separately
}
_PSS_HASHES = (hashes.SHA256, hashes.SHA384, hashes.SHA512)
# Names for messages: RSA_WITH_SHA1, ECDSA_WITH_SHA224, ...
_SIGNATURE_NAMES = {
    value: name
    for name, value in vars(SignatureAlgorithmOID).items()
    if isinstance(value, x509.ObjectIdentifier)
}
_Reject = Callable[[BundleRule, str], BundleRejected]

# RFC 7468 section 2: a label in BEGIN/END lines; text outside the blocks (our comment
# lines) is ignored by parsers.
_PEM_BLOCK = re.compile(rb"-----BEGIN ([^-\r\n]*)-----(.*?)-----END \1-----", re.DOTALL)
_PEM_BEGIN = re.compile(rb"-----BEGIN ([^-\r\n]*)-----")


@dataclass(frozen=True)
class CheckedBundle:
    """A bundle that meets every rule, and the figures the rules were measured on."""

    certificates: tuple[x509.Certificate, ...]
    chain_depth: int
    ca_names_bytes: int


def check_bundle(
    pem: bytes, *, advertise_ca_names: bool = False, limits: TrustStoreLimits = ALB_LIMITS
) -> CheckedBundle:
    """Parse a PEM CA bundle and check it against every ALB trust store rule.

    ``advertise_ca_names``: the listener will send the CA names to clients
    (``AdvertiseTrustStoreCaNames=on``), which caps their total size.
    """
    if not isinstance(pem, bytes):
        raise TypeError("pem must be bytes")
    _check_lines(pem)
    certificates = _parse_certificates(pem)
    if not certificates:
        raise BundleRejected(BundleRule.NOT_EMPTY, "no PEM CERTIFICATE block was found")
    if len(certificates) > limits.max_certificates:
        raise BundleRejected(
            BundleRule.MAX_CERTIFICATES,
            f"the bundle holds {len(certificates)} certificates; "
            f"the limit is {limits.max_certificates}",
        )
    for position, certificate in enumerate(certificates, start=1):
        _check_certificate(certificate, position, limits)
    depth = _check_chain_depth(certificates, limits)
    names_bytes = ca_names_size(certificates)
    if advertise_ca_names and names_bytes > limits.max_ca_names_bytes:
        raise BundleRejected(
            BundleRule.CA_NAMES_SIZE,
            f"the {len(certificates)} CA subject names take {names_bytes} bytes; the limit "
            f"is {limits.max_ca_names_bytes} (advertise fewer CAs, shorter names, or turn "
            "CA name advertising off)",
        )
    return CheckedBundle(tuple(certificates), depth, names_bytes)


def ca_names_size(certificates: Sequence[x509.Certificate]) -> int:
    """Bytes of CA subject names a listener advertising CA names would send."""
    return sum(len(certificate.subject.public_bytes()) for certificate in certificates)


def _check_lines(pem: bytes) -> None:
    """The bundle file's format (ALB user guide, "Mutual authentication with TLS", CA
    certificate bundle; AWS_NOTES.md, "Trust stores"): PEM certificates, comment lines that
    start with "#" and contain no "-" (so a date like 2036-12-04 breaks one), no blank lines.
    The newline that ends the last line is not a blank line."""
    lines = pem.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    inside = False
    for number, raw in enumerate(lines, start=1):
        line = raw.removesuffix(b"\r")
        if not line.strip():
            raise BundleRejected(BundleRule.NO_BLANK_LINES, f"line {number} is blank")
        if inside:
            inside = not line.startswith(b"-----END ")
        elif line.startswith(b"-----BEGIN "):
            inside = True
        elif not line.startswith(b"#"):
            raise BundleRejected(
                BundleRule.COMMENT_LINES,
                f"line {number} is neither part of a PEM block nor a comment line ('#')",
            )
        elif b"-" in line:
            raise BundleRejected(
                BundleRule.COMMENT_LINES, f"comment line {number} contains '-': {_shown(line)}"
            )


def _shown(line: bytes) -> str:
    text = line.decode("ascii", "backslashreplace")
    return text if len(text) <= 80 else text[:77] + "..."


def _parse_certificates(pem: bytes) -> list[x509.Certificate]:
    certificates = []
    end = 0
    for position, match in enumerate(_PEM_BLOCK.finditer(pem), start=1):
        _reject_unterminated(pem[end : match.start()], position)
        end = match.end()
        label = match.group(1).decode("ascii", "replace")
        if label != "CERTIFICATE":
            # Never echo the block: it may be a private key pasted in by mistake.
            raise BundleRejected(
                BundleRule.PARSEABLE,
                f"PEM block is a {label!r}, not a CERTIFICATE",
                position=position,
            )
        try:
            der = binascii.a2b_base64(match.group(2))
            certificates.append(x509.load_der_x509_certificate(der))
        except (binascii.Error, ValueError) as exc:
            raise BundleRejected(
                BundleRule.PARSEABLE, f"not a valid X.509 certificate ({exc})", position=position
            ) from None
    _reject_unterminated(pem[end:], len(certificates) + 1)
    return certificates


def _reject_unterminated(text: bytes, position: int) -> None:
    if _PEM_BEGIN.search(text):
        raise BundleRejected(
            BundleRule.PARSEABLE, "PEM block has no matching END line", position=position
        )


def _check_certificate(
    certificate: x509.Certificate, position: int, limits: TrustStoreLimits
) -> None:
    subject = certificate.subject.rfc4514_string()

    def reject(rule: BundleRule, detail: str) -> BundleRejected:
        return BundleRejected(rule, detail, position=position, subject=subject)

    size = len(certificate.public_bytes(serialization.Encoding.PEM))
    if size > limits.max_certificate_bytes:
        raise reject(
            BundleRule.CERTIFICATE_SIZE,
            f"its PEM encoding is {size} bytes; the limit is {limits.max_certificate_bytes}",
        )
    if certificate.version is not x509.Version.v3:
        raise reject(BundleRule.X509_V3, f"it is X.509 {certificate.version.name}")
    _check_key(certificate, reject)
    _check_signature(certificate, reject)
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        raise reject(BundleRule.CA_BASIC_CONSTRAINTS, "it has no basicConstraints") from None
    if not constraints.value.ca:
        raise reject(BundleRule.CA_BASIC_CONSTRAINTS, "its basicConstraints say CA:FALSE")
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound:
        raise reject(BundleRule.CA_KEY_USAGE, "it has no keyUsage extension") from None
    if not usage.value.key_cert_sign:
        raise reject(BundleRule.CA_KEY_USAGE, "its keyUsage lacks keyCertSign")


def _check_key(certificate: x509.Certificate, reject: _Reject) -> None:
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if not _MIN_RSA_BITS <= key.key_size <= _MAX_RSA_BITS:
            raise reject(
                BundleRule.KEY,
                f"its RSA key has {key.key_size} bits; {_MIN_RSA_BITS}-{_MAX_RSA_BITS} "
                "are accepted",
            )
        return
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _EC_CURVES:
            raise reject(BundleRule.KEY, f"its EC key is on curve {key.curve.name}")
        return
    raise reject(BundleRule.KEY, f"its key is {type(key).__name__.removeprefix('_')}")


def _check_signature(certificate: x509.Certificate, reject: _Reject) -> None:
    oid = certificate.signature_algorithm_oid
    name = _SIGNATURE_NAMES.get(oid, oid.dotted_string)
    if oid not in _SIGNATURES:
        raise reject(BundleRule.SIGNATURE, f"it is signed with {name}")
    if oid == SignatureAlgorithmOID.RSASSA_PSS:
        algorithm = certificate.signature_hash_algorithm
        if not isinstance(algorithm, _PSS_HASHES):
            used = algorithm.name if algorithm is not None else "no hash"
            raise reject(BundleRule.SIGNATURE, f"it is signed with RSASSA-PSS over {used}")


def _issuer_in(certificate: x509.Certificate, candidates: Sequence[x509.Certificate]) -> int | None:
    """Index of the bundle certificate that signed ``certificate`` (not itself), if any."""
    for index, candidate in enumerate(candidates):
        if candidate is certificate or candidate.subject != certificate.issuer:
            continue
        try:
            certificate.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return index
    return None


def _check_chain_depth(certificates: Sequence[x509.Certificate], limits: TrustStoreLimits) -> int:
    """The longest issuer chain inside the bundle, in certificates; raises past the limit."""
    parents = [_issuer_in(certificate, certificates) for certificate in certificates]
    deepest = 0
    for start in range(len(certificates)):
        chain = [start]
        parent = parents[start]
        while parent is not None and parent not in chain:  # a cycle ends the chain
            chain.append(parent)
            parent = parents[parent]
        if len(chain) > limits.max_chain_depth:
            subjects = " <- ".join(certificates[i].subject.rfc4514_string() for i in chain[::-1])
            raise BundleRejected(
                BundleRule.CHAIN_DEPTH,
                f"its chain holds {len(chain)} certificates ({subjects}); the limit is "
                f"{limits.max_chain_depth}",
                position=start + 1,
                subject=certificates[start].subject.rfc4514_string(),
            )
        deepest = max(deepest, len(chain))
    return deepest


@dataclass(frozen=True)
class CheckedCRL:
    """A CRL a trust store will take: who issued it and how many entries it holds."""

    crl: x509.CertificateRevocationList
    issuer: x509.Certificate
    entries: int


_CRL_BEGIN = b"-----BEGIN X509 CRL-----"


def check_crl(
    data: bytes,
    bundle: Sequence[x509.Certificate],
    *,
    limits: TrustStoreLimits = ALB_LIMITS,
) -> CheckedCRL:
    """Check one CRL file against what a trust store whose CAs are ``bundle`` accepts."""
    if not isinstance(data, bytes):
        raise TypeError("data must be bytes")
    if len(data) > limits.max_crl_bytes:
        raise RevocationRejected(
            RevocationRule.FILE_SIZE,
            f"the file is {len(data)} bytes; the limit is {limits.max_crl_bytes}",
        )
    blocks = data.count(_CRL_BEGIN)
    if blocks != 1:
        found = "DER or other non-PEM data" if blocks == 0 else f"{blocks} CRL blocks"
        raise RevocationRejected(
            RevocationRule.PEM, f"expected one '-----BEGIN X509 CRL-----' block, found {found}"
        )
    try:
        crl = x509.load_pem_x509_crl(data)
    except ValueError as exc:
        raise RevocationRejected(RevocationRule.PARSEABLE, str(exc)) from None
    issuer_name = crl.issuer.rfc4514_string()
    issuers = [certificate for certificate in bundle if certificate.subject == crl.issuer]
    if not issuers:
        raise RevocationRejected(
            RevocationRule.ISSUER_IN_BUNDLE,
            "no CA in the bundle has that subject",
            issuer=issuer_name,
        )
    for issuer in issuers:
        if _crl_signed_by(crl, issuer):
            return CheckedCRL(crl=crl, issuer=issuer, entries=len(crl))
    raise RevocationRejected(
        RevocationRule.SIGNATURE,
        f"the signature does not verify with the key of any of the {len(issuers)} bundle CA(s) "
        "of that subject",
        issuer=issuer_name,
    )


def _crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    key = issuer.public_key()
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return False
    return crl.is_signature_valid(key)


def check_revocation_totals(
    entries_per_crl: Sequence[int], *, limits: TrustStoreLimits = ALB_LIMITS
) -> None:
    """Check the CRLs a trust store would hold at once (existing and added together)."""
    if len(entries_per_crl) > limits.max_crls:
        raise RevocationRejected(
            RevocationRule.MAX_CRLS,
            f"the trust store would hold {len(entries_per_crl)} CRLs; the limit is "
            f"{limits.max_crls}",
        )
    total = sum(entries_per_crl)
    if total > limits.max_revoked_entries:
        raise RevocationRejected(
            RevocationRule.MAX_ENTRIES,
            f"the trust store would hold {total} revoked entries; the limit is "
            f"{limits.max_revoked_entries}",
        )
