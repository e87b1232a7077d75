"""What an ALB trust store accepts, stated here from AWS's documentation for the fake.

The emulated trust store must not enforce a rule by calling albca's own check
(``albca.trust_bundle.alb_rules``): a fake that asks the code under test cannot catch a rule
the code gets wrong. So each rule is written out again below, next to its source, using only
the standard library and cryptography:

- ALB user guide, "Mutual authentication with TLS in Application Load Balancer" (the CA
  certificate bundle: PEM, comment lines, CA certificates; revocation lists: PEM CRLs of a
  CA in the bundle) -- https://docs.aws.amazon.com/elasticloadbalancing/latest/application/mutual-authentication.html
- ALB user guide, "Quotas for your Application Load Balancers" (trust store quotas; most of
  them adjustable, so every figure is a field of ``TrustStoreQuotas``) --
  https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html
- AWS_NOTES.md ("Trust stores"), which collects both.

Where AWS's wording can be read two ways, the strict reading is taken (as albca's own check
does, independently): a fake more lenient than AWS would let a product bug through.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import SignatureAlgorithmOID

__all__ = ["TrustStoreQuotas", "Refused", "LoadedBundle", "load_bundle", "load_crl"]


@dataclass(frozen=True)
class TrustStoreQuotas:
    """The trust store quotas of the ALB quotas page, as defaults. AWS lets an account raise
    the adjustable ones, so a test (or the demo) can set any of them."""

    trust_stores_per_account: int = 20  # "Trust stores per account"
    ca_certificates_per_trust_store: int = 25  # "CA certificates per trust store"
    ca_certificate_bytes: int = 16 * 1024  # "CA certificate size": 16 KB, read on the PEM
    ca_names_bytes: int = 10_000  # "CA subject names" advertised per trust store
    certificate_chain_depth: int = 4  # "Certificate chain depth"
    revocation_entries_per_trust_store: int = 500_000  # "Revocation entries per trust store"
    revocation_files_per_trust_store: int = 30  # "Revocation files per trust store"
    revocation_file_bytes: int = 50_000_000  # "Revocation file size": 50 MB, decimal

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"TrustStoreQuotas.{name} must be a positive integer")


class Refused(Exception):
    """The file breaks a documented rule. AWS answers with a bare error code; ``reason``
    says which rule, for whoever debugs a test."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LoadedBundle:
    certificates: tuple[x509.Certificate, ...]
    # Bytes of the DER subjects a listener would send with AdvertiseTrustStoreCaNames=on.
    ca_names_bytes: int


_BEGIN = b"-----BEGIN "
_END = b"-----END "

# Mutual authentication guide, "CA certificate bundle": "Certificates must be X.509 v3";
# keys "RSA 2048 - 8192 bits" or "ECDSA secp256r1, secp384r1, secp521r1"; signatures
# "SHA256, 384, 512 with RSA/SHA256, 384, 512 with EC/SHA256, 384, 512 hash with RSASSA-PSS".
_RSA_BITS = range(2048, 8192 + 1)
_EC_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
_SHA2 = (hashes.SHA256, hashes.SHA384, hashes.SHA512)
_SIGNED_WITH = {
    SignatureAlgorithmOID.RSA_WITH_SHA256,
    SignatureAlgorithmOID.RSA_WITH_SHA384,
    SignatureAlgorithmOID.RSA_WITH_SHA512,
    SignatureAlgorithmOID.ECDSA_WITH_SHA256,
    SignatureAlgorithmOID.ECDSA_WITH_SHA384,
    SignatureAlgorithmOID.ECDSA_WITH_SHA512,
    SignatureAlgorithmOID.RSASSA_PSS,
}


def load_bundle(
    data: bytes, quotas: TrustStoreQuotas, *, advertise_ca_names: bool = False
) -> LoadedBundle:
    """The CA certificates of a bundle file a trust store accepts; ``Refused`` otherwise."""
    blocks = _pem_blocks(data)
    if not blocks:
        raise Refused("no certificate in the bundle")
    certificates = []
    for label, der in blocks:
        if label != b"CERTIFICATE":
            raise Refused(f"a {label.decode('ascii', 'replace')} block in the bundle")
        try:
            certificates.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            raise Refused(f"unreadable certificate: {exc}") from None
    # Quotas page: "CA certificates per trust store: 25".
    if len(certificates) > quotas.ca_certificates_per_trust_store:
        raise Refused(f"{len(certificates)} CA certificates")
    for certificate in certificates:
        _accept_ca_certificate(certificate, quotas)
    _accept_chain_depth(certificates, quotas)
    names = sum(len(c.subject.public_bytes()) for c in certificates)
    # Quotas page: "CA subject names: 10K" -- what a listener advertising CA names sends.
    if advertise_ca_names and names > quotas.ca_names_bytes:
        raise Refused(f"{names} bytes of CA subject names are advertised")
    return LoadedBundle(tuple(certificates), names)


def _pem_blocks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(label, DER) of each PEM block, after the file's line rules.

    Mutual authentication guide, "CA certificate bundle": the file holds PEM certificates;
    a comment line starts with "#" and must not contain "-"; there are no blank lines."""
    text = data[:-1] if data.endswith(b"\n") else data  # the last line's newline
    blocks: list[tuple[bytes, bytes]] = []
    label: bytes | None = None
    body: list[bytes] = []
    for line in text.split(b"\n"):
        line = line.rstrip(b"\r")
        if line.strip() == b"":
            raise Refused("a blank line")
        if label is None:
            if line.startswith(b"#"):
                if b"-" in line:
                    raise Refused("a comment line contains '-'")
            elif line.startswith(_BEGIN) and line.endswith(b"-----"):
                label, body = line[len(_BEGIN) : -5], []
            else:
                raise Refused("a line that is neither a comment nor PEM")
        elif line == _END + label + b"-----":
            try:
                blocks.append((label, base64.b64decode(b"".join(body), validate=True)))
            except binascii.Error:
                raise Refused("a PEM block that is not base64") from None
            label = None
        else:
            body.append(line.strip())
    if label is not None:
        raise Refused("a PEM block without its END line")
    return blocks


def _accept_ca_certificate(certificate: x509.Certificate, quotas: TrustStoreQuotas) -> None:
    subject = certificate.subject.rfc4514_string()
    # Quotas page: "CA certificate size: 16K" (taken on the PEM, the larger encoding).
    if len(certificate.public_bytes(serialization.Encoding.PEM)) > quotas.ca_certificate_bytes:
        raise Refused(f"{subject}: larger than {quotas.ca_certificate_bytes} bytes")
    if certificate.version != x509.Version.v3:
        raise Refused(f"{subject}: not X.509 v3")
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size not in _RSA_BITS:
            raise Refused(f"{subject}: RSA {key.key_size}")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, _EC_CURVES):
            raise Refused(f"{subject}: EC {key.curve.name}")
    else:
        raise Refused(f"{subject}: a {type(key).__name__} key")
    if certificate.signature_algorithm_oid not in _SIGNED_WITH:
        raise Refused(f"{subject}: signed with {certificate.signature_algorithm_oid.dotted_string}")
    if certificate.signature_algorithm_oid == SignatureAlgorithmOID.RSASSA_PSS and not isinstance(
        certificate.signature_hash_algorithm, _SHA2
    ):
        raise Refused(f"{subject}: RSASSA-PSS without SHA-2")
    # A trust store holds CA certificates: RFC 5280 section 4.2.1.9 (cA TRUE) and 4.2.1.3
    # (keyCertSign) make a certificate one (AWS_NOTES.md, "Certificates").
    extensions = {type(e.value): e.value for e in certificate.extensions}
    constraints = extensions.get(x509.BasicConstraints)
    if not (isinstance(constraints, x509.BasicConstraints) and constraints.ca):
        raise Refused(f"{subject}: not a CA (basicConstraints)")
    usage = extensions.get(x509.KeyUsage)
    if not (isinstance(usage, x509.KeyUsage) and usage.key_cert_sign):
        raise Refused(f"{subject}: no keyCertSign")


def _accept_chain_depth(certificates: Sequence[x509.Certificate], quotas: TrustStoreQuotas) -> None:
    """Quotas page: "Certificate chain depth: 4" -- counted here as the certificates on the
    longest issuer path the bundle itself holds."""

    def depth(certificate: x509.Certificate, seen: tuple[x509.Certificate, ...]) -> int:
        parents = [
            c
            for c in certificates
            if c not in seen and c is not certificate and _issued(certificate, c)
        ]
        return 1 + max((depth(p, (*seen, certificate)) for p in parents), default=0)

    for certificate in certificates:
        if depth(certificate, ()) > quotas.certificate_chain_depth:
            raise Refused(f"a chain deeper than {quotas.certificate_chain_depth}")


def _issued(certificate: x509.Certificate, by: x509.Certificate) -> bool:
    if certificate.issuer != by.subject:
        return False
    try:
        certificate.verify_directly_issued_by(by)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def load_crl(
    data: bytes, bundle: Sequence[x509.Certificate], quotas: TrustStoreQuotas
) -> tuple[int, x509.Certificate]:
    """The number of entries of a CRL file a trust store whose CAs are ``bundle`` accepts,
    and the bundle CA that signed it.

    Mutual authentication guide, "Certificate revocation": the file is a PEM-encoded CRL
    ("-----BEGIN X509 CRL-----"), issued by a CA of the trust store's bundle; quotas page:
    "Revocation file size: 50 MB"."""
    if len(data) > quotas.revocation_file_bytes:
        raise Refused(f"a CRL file of {len(data)} bytes")
    if data.count(b"-----BEGIN X509 CRL-----") != 1:
        raise Refused("not one PEM CRL")
    try:
        crl = x509.load_pem_x509_crl(data)
    except ValueError as exc:
        raise Refused(f"unreadable CRL: {exc}") from None
    for ca in bundle:
        if ca.subject != crl.issuer:
            continue
        key = ca.public_key()
        if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey) and (
            crl.is_signature_valid(key)
        ):
            return len(crl), ca
    raise Refused(f"no CA of the bundle signed the CRL of {crl.issuer.rfc4514_string()}")
