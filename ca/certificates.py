"""Building certificates: the root, the issuing CA, and the leaves it signs.

Each builder is one chain read top to bottom. Every extension states ``critical=``;
the choices follow RFC 5280 section 4.2 unless a comment says otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from albca.ca.keys import signature_hash
from albca.ca.names import RequestedNames, normalize_common_name
from albca.ca.profiles import CertificateKind
from albca.ca.signer import Signer

__all__ = [
    "ISSUER_PLACEHOLDER",
    "IssuerContext",
    "ca_subject",
    "build_root_certificate",
    "build_issuing_certificate",
    "build_leaf_certificate",
    "leaf_subject",
    "leaf_subject_text",
    "leaf_key_usage",
    "LEAF_CONSTRAINTS",
    "EXTENDED_KEY_USAGE",
    "random_serial",
    "key_id_of",
]


def random_serial() -> int:
    """A positive serial of at most 20 octets with 159 bits of entropy (RFC 5280 4.1.2.2)."""
    return x509.random_serial_number()


# In a CRL distribution point URL, the key id of the CA that issues the certificate: each
# certificate then names its own CA's CRL, which is still right after a rotation, when the
# previous CA's certificates are still valid and only its CRL lists their revocations
# (``https://ca.example/v1/ca/crl.der?issuer={issuer}``).
ISSUER_PLACEHOLDER = "{issuer}"


def key_id_of(certificate: x509.Certificate) -> str:
    """The subject key identifier of a CA certificate, in hex: how records name a CA."""
    return certificate.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier
    ).value.digest.hex()


def ca_subject(
    common_name: str, organization: str | None = None, *, field: str = "common_name"
) -> x509.Name:
    """A CA's subject. The common name follows the rules of a leaf's
    (``normalize_common_name``); ``InvalidName`` names ``field`` when it does not."""
    common_name = normalize_common_name(common_name, field=field)
    attributes = []
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,  # ALB trust stores require it of every CA (AWS_NOTES.md)
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def build_root_certificate(
    *, signer: Signer, subject: x509.Name, not_before: datetime, not_after: datetime
) -> x509.Certificate:
    public_key = signer.public_key
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public_key)
        .serial_number(random_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        # path_length=1: the root signs issuing CAs, which sign only leaves.
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(signer.builder_key, signature_hash(signer.key_spec))
    )


def build_issuing_certificate(
    *,
    root: x509.Certificate,
    root_signer: Signer,
    public_key: CertificatePublicKeyTypes,
    subject: x509.Name,
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(root.subject)
        .public_key(public_key)
        .serial_number(random_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        # path_length=0: an issuing CA signs end-entity certificates only.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(_authority_key_identifier(root), critical=False)
        .sign(root_signer.builder_key, signature_hash(root_signer.key_spec))
    )


def _authority_key_identifier(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


@dataclass(frozen=True)
class IssuerContext:
    """An issuing CA ready to sign leaves: its certificate, its signer, and the extensions
    every leaf it signs repeats, built once rather than per certificate."""

    certificate: x509.Certificate
    signer: Signer
    key_id: str
    authority_key_identifier: x509.AuthorityKeyIdentifier
    crl_distribution_points: x509.CRLDistributionPoints | None
    authority_information_access: x509.AuthorityInformationAccess | None

    @classmethod
    def of(
        cls,
        certificate: x509.Certificate,
        signer: Signer,
        *,
        crl_urls: Sequence[str] = (),
        ca_issuers_urls: Sequence[str] = (),
    ) -> IssuerContext:
        if certificate.public_key() != signer.public_key:
            raise ValueError(
                f"the signer at {signer.location} does not hold the key of CA "
                f"{certificate.subject.rfc4514_string()}"
            )
        key_id = key_id_of(certificate)
        crl_urls = [url.replace(ISSUER_PLACEHOLDER, key_id) for url in crl_urls]
        distribution_points = (
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(url) for url in crl_urls],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            )
            if crl_urls
            else None
        )
        information_access = (
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier(url),
                    )
                    for url in ca_issuers_urls
                ]
            )
            if ca_issuers_urls
            else None
        )
        return cls(
            certificate=certificate,
            signer=signer,
            key_id=key_id,
            authority_key_identifier=_authority_key_identifier(certificate),
            crl_distribution_points=distribution_points,
            authority_information_access=information_access,
        )


LEAF_CONSTRAINTS = x509.BasicConstraints(ca=False, path_length=None)
EXTENDED_KEY_USAGE = {
    CertificateKind.CLIENT: x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
    CertificateKind.SERVER: x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
}


def leaf_key_usage(kind: CertificateKind, *, rsa_key: bool) -> x509.KeyUsage:
    # ECDHE key exchange needs only digitalSignature. An RSA server certificate also gets
    # keyEncipherment, which TLS 1.2 RSA key transport requires (RFC 5246 section 7.4.2).
    rsa_server = kind is CertificateKind.SERVER and rsa_key
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=rsa_server,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def leaf_subject(names: RequestedNames) -> x509.Name:
    """A leaf's subject: its common name, or empty when the SAN carries the identity."""
    if names.common_name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names.common_name)])
    return x509.Name([])


# RFC 4514 section 2.4: characters escaped with a backslash anywhere in a value.
_RFC4514_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        '"': '\\"',
        "+": "\\+",
        ",": "\\,",
        ";": "\\;",
        "<": "\\<",
        ">": "\\>",
        "\0": "\\00",
    }
)
# Whether a value holds any of them: most common names hold none, and a search is a sixth
# of the cost of ``translate`` with its table (0.11 us against 0.65 for a 20-character name).
_RFC4514_ESCAPED = re.compile("[" + re.escape("".join(map(chr, _RFC4514_ESCAPES))) + "]")


def leaf_subject_text(names: RequestedNames) -> str:
    """``leaf_subject(names).rfc4514_string()``, the way records show the subject, without
    building the Name (the issuing hot path writes one per certificate)."""
    if not names.common_name:
        return ""
    value = names.common_name
    if _RFC4514_ESCAPED.search(value):
        value = value.translate(_RFC4514_ESCAPES)
    # A leading "#" or space, and a trailing space, are escaped too (as cryptography does).
    if value[0] == "#" or (value[0] == " " and len(value) > 1):
        value = "\\" + value
    if value[-1] == " ":
        value = value[:-1] + "\\ "
    return "CN=" + value


def build_leaf_certificate(
    *,
    issuer: IssuerContext,
    kind: CertificateKind,
    public_key: CertificatePublicKeyTypes,
    names: RequestedNames,
    serial: int,
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    subject = leaf_subject(names)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(LEAF_CONSTRAINTS, critical=True)
        .add_extension(
            leaf_key_usage(kind, rsa_key=isinstance(public_key, rsa.RSAPublicKey)), critical=True
        )
        .add_extension(EXTENDED_KEY_USAGE[kind], critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(issuer.authority_key_identifier, critical=False)
    )
    general_names: list[x509.GeneralName] = [x509.DNSName(name) for name in names.dns_names]
    general_names += [x509.IPAddress(ip) for ip in names.ip_addresses]
    if general_names:
        # With an empty subject the SAN carries the identity and must be critical
        # (RFC 5280 section 4.2.1.6).
        builder = builder.add_extension(
            x509.SubjectAlternativeName(general_names), critical=not names.common_name
        )
    if issuer.crl_distribution_points is not None:
        builder = builder.add_extension(issuer.crl_distribution_points, critical=False)
    if issuer.authority_information_access is not None:
        builder = builder.add_extension(issuer.authority_information_access, critical=False)
    return builder.sign(issuer.signer.builder_key, signature_hash(issuer.signer.key_spec))
