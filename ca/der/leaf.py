"""Leaf certificates encoded straight to DER: the issuing hot path.

cryptography's ``CertificateBuilder`` takes 105-155 us per leaf on this machine, of which
the ECDSA signature is 25-35: the rest is building Python objects (names, extensions,
their checks). This encoder makes the same leaf in about 70 us, signature included.

Every leaf this CA signs has one shape, so most of its bytes are fixed per issuing CA and
certificate kind: the version, signature algorithm, issuer name, basicConstraints,
keyUsage, extendedKeyUsage, authorityKeyIdentifier, CRL distribution points and AIA.
Those are encoded once, by
cryptography itself (``ExtensionType.public_bytes``), and kept in a ``LeafTemplate``; each
certificate adds only its serial, validity, subject, key, key identifier and SANs, then
is signed by the issuer's ``Signer`` (a local key or KMS) like any TBS.

The result is byte for byte the TBSCertificate ``certificates.build_leaf_certificate``
builds with cryptography: the tests compare the two over every key type, kind and name
shape, and lint, verify and handshake with what this module makes.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from albca.ca.certificates import (
    EXTENDED_KEY_USAGE,
    LEAF_CONSTRAINTS,
    IssuerContext,
    leaf_key_usage,
)
from albca.ca.crl import signature_algorithm_identifier
from albca.ca.der import primitives as der
from albca.ca.names import RequestedNames
from albca.ca.profiles import CertificateKind
from albca.ca.signer import sign_bytes

try:
    # CPython's own SHA-1 (the module behind ``hashlib``'s fallback): 1.8 us per key
    # identifier inside the issuing loop, where OpenSSL's (``hashlib.sha1``) takes 5.6 us,
    # its digest set-up gone cold between requests (both 0.3 us in a loop of hashes alone).
    from _sha1 import sha1 as _new_sha1  # type: ignore[import-not-found]
except ImportError:  # a Python built without it
    _new_sha1 = functools.partial(hashlib.sha1, usedforsecurity=False)

__all__ = ["LeafTemplate", "encode_leaf_der", "pem_of_certificate"]

_VERSION_3 = der.explicit(0, der.integer(2))
_CRITICAL = der.boolean_true()
_COMMON_NAME = der.object_identifier("2.5.4.3")
_UTF8_STRING = 0x0C
_SET = 0x31
_DNS_NAME = 0x82  # [2] IMPLICIT IA5String
_IP_ADDRESS = 0x87  # [7] IMPLICIT OCTET STRING
# A subjectKeyIdentifier extension is these bytes and then the 20-byte SHA-1.
_SUBJECT_KEY_ID_PREFIX = der.sequence(
    der.object_identifier("2.5.29.14"), der.octet_string(der.octet_string(bytes(20)))
)[:-20]
_SUBJECT_ALT_NAME = der.object_identifier("2.5.29.17")
_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
_PEM_BEGIN = "-----BEGIN CERTIFICATE-----\n"
_PEM_END = "-----END CERTIFICATE-----\n"


def _extension(value: x509.ExtensionType, *, critical: bool) -> bytes:
    oid = der.object_identifier(value.oid.dotted_string)
    flag = _CRITICAL if critical else b""
    return der.sequence(oid, flag, der.octet_string(value.public_bytes()))


@dataclass(frozen=True)
class LeafTemplate:
    """What every leaf of one issuing CA repeats, encoded once."""

    issuer: IssuerContext
    # What a leaf presents above itself: the issuing CA. One tuple shared by every leaf, so
    # that an answer's chain PEM is found by identity (``api.issuing._chain_pem``).
    chain: tuple[x509.Certificate, ...]
    # The issuing CA's notAfter, which no leaf may outlive (read once: cryptography makes a
    # new datetime on every read, 1.7 us inside the issuing loop).
    not_valid_after: datetime
    algorithm: bytes  # AlgorithmIdentifier of the issuer's signature
    # The TBSCertificate between the serial and the validity: the signature algorithm and
    # the issuer's name.
    after_serial: bytes
    # The extensions, in the builder's order: basicConstraints, keyUsage and EKU (which
    # depend on the kind and on whether the leaf key is RSA), then the leaf's own SKI
    # (``up_to_key_id`` ends with its header, the key identifier follows), then
    # authorityKeyIdentifier, then the leaf's SANs, then CRL distribution points and AIA.
    up_to_key_id: dict[tuple[CertificateKind, bool], bytes]
    after_key_id: bytes
    tail: bytes

    @classmethod
    def of(cls, issuer: IssuerContext) -> LeafTemplate:
        up_to_key_id: dict[tuple[CertificateKind, bool], bytes] = {}
        for kind in CertificateKind:
            for is_rsa in (False, True):
                usage = leaf_key_usage(kind, rsa_key=is_rsa)
                up_to_key_id[(kind, is_rsa)] = (
                    _extension(LEAF_CONSTRAINTS, critical=True)
                    + _extension(usage, critical=True)
                    + _extension(EXTENDED_KEY_USAGE[kind], critical=False)
                    + _SUBJECT_KEY_ID_PREFIX
                )
        tail = b""
        if issuer.crl_distribution_points is not None:
            tail += _extension(issuer.crl_distribution_points, critical=False)
        if issuer.authority_information_access is not None:
            tail += _extension(issuer.authority_information_access, critical=False)
        algorithm = signature_algorithm_identifier(issuer.signer)
        return cls(
            issuer=issuer,
            chain=(issuer.certificate,),
            not_valid_after=issuer.certificate.not_valid_after_utc,
            algorithm=algorithm,
            after_serial=algorithm + issuer.certificate.subject.public_bytes(),
            up_to_key_id=up_to_key_id,
            after_key_id=_extension(issuer.authority_key_identifier, critical=False),
            tail=tail,
        )


def encode_leaf_der(
    template: LeafTemplate,
    *,
    kind: CertificateKind,
    public_key: CertificatePublicKeyTypes,
    names: RequestedNames,
    serial: int,
    not_before: datetime,
    not_after: datetime,
) -> bytes:
    """Sign a leaf: the DER of the certificate ``build_leaf_certificate`` makes, faster."""
    spki = public_key.public_bytes(serialization.Encoding.DER, _SPKI)
    extensions = [
        template.up_to_key_id[(kind, isinstance(public_key, rsa.RSAPublicKey))],
        _key_identifier(spki),
        template.after_key_id,
    ]
    general_names = _general_names(names)
    if general_names:
        # With an empty subject the SAN carries the identity and must be critical
        # (RFC 5280 section 4.2.1.6).
        flag = b"" if names.common_name else _CRITICAL
        extensions.append(
            der.sequence(_SUBJECT_ALT_NAME, flag, der.octet_string(der.sequence(general_names)))
        )
    extensions.append(template.tail)
    tbs = der.sequence(
        _VERSION_3,
        der.integer(serial),
        template.after_serial,
        der.sequence(_time(not_before), _time(not_after)),
        _subject(names.common_name),
        spki,
        der.explicit(3, der.sequence(*extensions)),
    )
    signature = sign_bytes(template.issuer.signer, tbs)
    return der.sequence(tbs, template.algorithm, der.bit_string(signature))


def pem_of_certificate(certificate_der: bytes) -> str:
    """The PEM text of a DER certificate, as cryptography's ``public_bytes(PEM)`` writes it
    (RFC 7468: base64 in lines of 64 characters) without parsing the DER again."""
    lines = [
        binascii.b2a_base64(certificate_der[start : start + 48])
        for start in range(0, len(certificate_der), 48)
    ]
    return _PEM_BEGIN + b"".join(lines).decode("ascii") + _PEM_END


_epoch_times = der.EpochTimes()


def _time(moment: datetime) -> bytes:
    # Whole seconds, as cryptography's builder writes them; the day's encoding is cached.
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; use timezone-aware UTC")
    return _epoch_times(int(moment.timestamp()))


def _key_identifier(spki: bytes) -> bytes:
    """RFC 5280 4.2.1.2 method 1, as cryptography computes it: the SHA-1 of the
    subjectPublicKey BIT STRING's bytes (without tag, length and unused-bits octet)."""
    _, body, _ = _tlv_at(spki, 0)  # SubjectPublicKeyInfo
    _, _, after_algorithm = _tlv_at(spki, body)  # AlgorithmIdentifier
    tag, key_start, key_end = _tlv_at(spki, after_algorithm)
    if tag != 0x03 or spki[key_start] != 0:
        raise ValueError("not a SubjectPublicKeyInfo with a whole-octet BIT STRING key")
    digest: bytes = _new_sha1(spki[key_start + 1 : key_end]).digest()
    return digest


def _tlv_at(data: bytes, offset: int) -> tuple[int, int, int]:
    """The tag, content start and content end of the DER element at ``offset``."""
    tag, first = data[offset], data[offset + 1]
    if first < 0x80:
        return tag, offset + 2, offset + 2 + first
    size = first & 0x7F
    length = int.from_bytes(data[offset + 2 : offset + 2 + size], "big")
    start = offset + 2 + size
    return tag, start, start + length


def _subject(common_name: str | None) -> bytes:
    if not common_name:
        return der.sequence()
    value = der.tlv(_UTF8_STRING, common_name.encode("utf-8"))
    return der.sequence(der.tlv(_SET, der.sequence(_COMMON_NAME, value)))


def _general_names(names: RequestedNames) -> bytes:
    encoded = [der.tlv(_DNS_NAME, name.encode("ascii")) for name in names.dns_names]
    encoded += [der.tlv(_IP_ADDRESS, ip.packed) for ip in names.ip_addresses]
    return b"".join(encoded)
