"""Builders of CA certificates, bundles and CRLs for the trust store tests.

Every knob breaks one ALB trust store rule on purpose: the key, the signature hash and
padding, the basic constraints, the key usage, an oversized extension, or X.509 v1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from albca.ca.der import primitives as der
from tests.factories import T0

_CA_USAGE = {
    "digital_signature": False,
    "content_commitment": False,
    "key_encipherment": False,
    "data_encipherment": False,
    "key_agreement": False,
    "key_cert_sign": True,
    "crl_sign": True,
    "encipher_only": False,
    "decipher_only": False,
}


@dataclass(frozen=True)
class BuiltCA:
    certificate: x509.Certificate
    key: object  # the private key

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()


def name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def make_ca(
    common_name: str = "Test Root",
    *,
    issuer: BuiltCA | None = None,
    key=None,
    organization: str | None = None,
    subject: x509.Name | None = None,
    hash_algorithm: hashes.HashAlgorithm | None = None,
    pss: bool = False,
    ca: bool | None = True,
    key_cert_sign: bool | None = True,
    extra_extension_bytes: int = 0,
) -> BuiltCA:
    """A CA certificate, self-signed unless ``issuer`` is given.

    ``ca=None`` leaves basicConstraints out; ``key_cert_sign=None`` leaves keyUsage out;
    ``subject`` overrides the name built from ``common_name`` and ``organization``;
    ``extra_extension_bytes`` adds a private non-critical extension of that size.
    """
    key = key or ec.generate_private_key(ec.SECP256R1())
    signer = issuer.key if issuer else key
    subject = subject or name(common_name, organization)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0 - timedelta(days=1))
        .not_valid_after(T0 + timedelta(days=365))
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
    if key_cert_sign is not None:
        usage = dict(_CA_USAGE, key_cert_sign=key_cert_sign)
        builder = builder.add_extension(x509.KeyUsage(**usage), critical=True)
    if extra_extension_bytes:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(
                x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x00" * extra_extension_bytes
            ),
            critical=False,
        )
    if isinstance(signer, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        algorithm = hash_algorithm or hashes.SHA256()
    else:
        algorithm = None  # Ed25519 and Ed448 take no separate hash
    rsa_padding = padding.PSS(padding.MGF1(algorithm), padding.PSS.DIGEST_LENGTH) if pss else None
    certificate = builder.sign(signer, algorithm, rsa_padding=rsa_padding)
    return BuiltCA(certificate, key)


def make_v1_ca(common_name: str, *, issuer: BuiltCA) -> BuiltCA:
    """An X.509 v1 certificate signed by ``issuer`` (EC, SHA-256).

    cryptography builds only v3, so the TBSCertificate is written here (RFC 5280 section
    4.1): without the version field (v1 is the DEFAULT) and without extensions.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    algorithm = der.sequence(der.object_identifier("1.2.840.10045.4.3.2"))  # ecdsa-with-SHA256
    tbs = der.sequence(
        der.integer(x509.random_serial_number()),
        algorithm,
        issuer.certificate.subject.public_bytes(),
        der.sequence(der.time(T0 - timedelta(days=1)), der.time(T0 + timedelta(days=365))),
        name(common_name).public_bytes(),
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    signature = issuer.key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    certificate = x509.load_der_x509_certificate(
        der.sequence(tbs, algorithm, der.bit_string(signature))
    )
    assert certificate.version is x509.Version.v1
    return BuiltCA(certificate, key)


# AlgorithmIdentifiers cryptography no longer signs with (RFC 3279 section 2.2, RFC 4055).
SHA1_WITH_RSA = der.sequence(der.object_identifier("1.2.840.113549.1.1.5"), b"\x05\x00")
ECDSA_WITH_SHA1 = der.sequence(der.object_identifier("1.2.840.10045.4.1"))
# RSASSA-PSS with every parameter at its default: SHA-1, MGF1 with SHA-1, salt 20.
RSASSA_PSS_SHA1 = der.sequence(der.object_identifier("1.2.840.113549.1.1.10"), der.sequence())


def make_sha1_ca(common_name: str, *, issuer: BuiltCA, algorithm: bytes) -> BuiltCA:
    """A CA certificate whose signature by ``issuer`` uses SHA-1 (``algorithm`` is one of
    the identifiers above). cryptography refuses to sign certificates with SHA-1, so the
    certificate is built with SHA-256, then its TBSCertificate's signature field is
    replaced and the result signed again by hand."""
    built = make_ca(common_name, issuer=issuer)
    fields = _elements(_content(built.certificate.tbs_certificate_bytes))
    fields[2] = algorithm  # version, serialNumber, signature, ... (RFC 5280 section 4.1)
    tbs = der.sequence(*fields)
    key = issuer.key
    if algorithm == ECDSA_WITH_SHA1:
        signature = key.sign(tbs, ec.ECDSA(hashes.SHA1()))
    elif algorithm == RSASSA_PSS_SHA1:
        signature = key.sign(tbs, padding.PSS(padding.MGF1(hashes.SHA1()), 20), hashes.SHA1())
    else:
        signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    certificate = x509.load_der_x509_certificate(
        der.sequence(tbs, algorithm, der.bit_string(signature))
    )
    return BuiltCA(certificate, built.key)


def _header(tlv: bytes) -> tuple[int, int]:
    """(header length, content length) of a DER TLV with a one-byte tag."""
    first = tlv[1]
    if first < 0x80:
        return 2, first
    count = first & 0x7F
    return 2 + count, int.from_bytes(tlv[2 : 2 + count], "big")


def _content(tlv: bytes) -> bytes:
    header, size = _header(tlv)
    return tlv[header : header + size]


def _elements(content: bytes) -> list[bytes]:
    elements = []
    while content:
        header, size = _header(content)
        elements.append(content[: header + size])
        content = content[header + size :]
    return elements


def bundle_pem(cas: Sequence[BuiltCA], *, comments: bool = True) -> bytes:
    """The certificates as one PEM bundle, each after a comment line as TrustBundle writes."""
    parts = []
    for ca in cas:
        if comments:
            # No "-" in a comment line (the trust store bundle format), as TrustBundle does.
            parts.append(f"# {ca.subject.replace('-', '_')}\n".encode())
        parts.append(ca.pem)
    return b"".join(parts)


def make_crl(
    issuer: BuiltCA,
    *,
    serials: Sequence[int] = (),
    signing_key=None,
    number: int = 1,
) -> x509.CertificateRevocationList:
    """A CRL in ``issuer``'s name, signed by its key unless ``signing_key`` is given."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(T0)
        .next_update(T0 + timedelta(days=7))
        .add_extension(x509.CRLNumber(number), critical=False)
    )
    for serial in serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(T0).build()
        )
    return builder.sign(signing_key or issuer.key, hashes.SHA256())


def crl_pem(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.PEM)
