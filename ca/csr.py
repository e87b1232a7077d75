"""Certificate signing requests: parse, verify the proof of possession, extract names.

The CA takes only the public key and the names from a CSR. Every other requested
attribute or extension (a basicConstraints CA:TRUE, a key usage, an organisation) is
ignored: the profile decides what the certificate says.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from albca.ca.errors import InvalidCSR, InvalidName
from albca.ca.keys import KeySpec, is_ec_public_key, key_spec_of
from albca.ca.names import RequestedNames

__all__ = ["MAX_CSR_BYTES", "ParsedCSR", "parse_csr"]

#: Far above any real CSR (an RSA-4096 CSR with 100 SANs is under 8 KB), small enough that
#: parsing can never be used to exhaust memory.
MAX_CSR_BYTES = 64 * 1024

# A CSR's signature only proves possession of the key, but a collision-prone hash makes
# even that proof forgeable; refuse what RFC 9155 and NIST SP 800-131A retire.
# Exact types, not isinstance: cryptography's hash classes are ABCs, and an isinstance check
# against an ABC costs more than the rest of this check (the CSR is parsed on every issuance).
_WEAK_HASHES = frozenset({hashes.MD5, hashes.SHA1})

# The ECDSA signature algorithms of ordinary requests, with the verifier parameters made
# once. ``is_signature_valid`` does what ``_verified_public_key`` does (load the key,
# build ``ec.ECDSA(hash)``, verify, RFC 5758 section 3.2) but parses the key a second time
# for ``public_key()`` and builds the ECDSA object (an ABC check) on every call: parse_csr
# inside the issuing loop went from ~159 to ~140 us (issue 17). None of these hashes is weak.
_ECDSA_OF_ALGORITHM = {
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: ec.ECDSA(hashes.SHA256()),
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: ec.ECDSA(hashes.SHA384()),
    SignatureAlgorithmOID.ECDSA_WITH_SHA512: ec.ECDSA(hashes.SHA512()),
}


@dataclass(frozen=True)
class ParsedCSR:
    public_key: CertificatePublicKeyTypes
    key_spec: KeySpec
    names: RequestedNames


def parse_csr(data: bytes | str) -> ParsedCSR:
    """Parse and verify a PEM or DER CSR; ``InvalidCSR``/``InvalidName`` say what is wrong."""
    raw = data.encode("ascii", "replace") if isinstance(data, str) else data
    if not isinstance(raw, bytes):
        raise TypeError(f"csr must be bytes or str, not {type(data).__name__}")
    if not raw.strip():
        raise InvalidCSR("csr: the request is empty")
    if len(raw) > MAX_CSR_BYTES:
        raise InvalidCSR(f"csr: the request is larger than {MAX_CSR_BYTES} bytes")
    request = _load(raw)
    public_key = _verified_public_key(request)
    key_spec = key_spec_of(public_key, field="csr.public_key")
    return ParsedCSR(public_key=public_key, key_spec=key_spec, names=_names_of(request))


def _load(raw: bytes) -> x509.CertificateSigningRequest:
    is_pem = raw.lstrip().startswith(b"-----BEGIN")
    try:
        if is_pem:
            return x509.load_pem_x509_csr(raw)
        return x509.load_der_x509_csr(raw)
    except (ValueError, x509.InvalidVersion):
        form = "PEM" if is_pem else "DER"
        raise InvalidCSR(f"csr: not a valid {form} certificate signing request (PKCS#10)") from None


def _verified_public_key(request: x509.CertificateSigningRequest) -> CertificatePublicKeyTypes:
    """The request's public key, once the request's signature has verified against it.

    An EC key under an ECDSA signature is verified here, with the refusals
    ``is_signature_valid`` would give; any other pairing goes through it.
    """
    ecdsa = _ECDSA_OF_ALGORITHM.get(request.signature_algorithm_oid)
    if ecdsa is not None:
        public_key = _public_key(request)
        if is_ec_public_key(public_key):
            try:
                cast(ec.EllipticCurvePublicKey, public_key).verify(
                    request.signature, request.tbs_certrequest_bytes, ecdsa
                )
            except InvalidSignature:
                raise _not_signed_by_its_key() from None
            return public_key
    _check_signature(request)
    return _public_key(request)


def _public_key(request: x509.CertificateSigningRequest) -> CertificatePublicKeyTypes:
    try:
        return request.public_key()
    except ValueError:
        raise InvalidCSR("csr: the request's public key cannot be decoded") from None
    except UnsupportedAlgorithm:
        # is_signature_valid answers False for a key of a type it cannot load.
        raise _not_signed_by_its_key() from None


def _not_signed_by_its_key() -> InvalidCSR:
    return InvalidCSR(
        "csr: the signature does not verify against the request's public key "
        "(the request was altered, or not signed by its key)"
    )


def _check_signature(request: x509.CertificateSigningRequest) -> None:
    try:
        algorithm = request.signature_hash_algorithm
    except UnsupportedAlgorithm:
        raise InvalidCSR("csr: the request is signed with an unsupported algorithm") from None
    if algorithm is not None and type(algorithm) in _WEAK_HASHES:
        raise InvalidCSR(
            f"csr: the request is signed with {algorithm.name.upper()}; use SHA-256 or stronger"
        )
    try:
        valid = request.is_signature_valid
    except UnsupportedAlgorithm:
        valid = False
    except x509.InvalidVersion:
        # cryptography parses the version lazily: a damaged request fails only here.
        raise InvalidCSR("csr: the request has an invalid version (PKCS#10 has only v1)") from None
    except ValueError:
        raise InvalidCSR("csr: the request's public key cannot be decoded") from None
    if not valid:
        raise _not_signed_by_its_key()


def _names_of(request: x509.CertificateSigningRequest) -> RequestedNames:
    try:
        common_names = request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        raise InvalidCSR("csr.subject: the subject cannot be decoded") from None
    if len(common_names) > 1:
        raise InvalidCSR("csr.subject: the subject holds more than one common name")
    common_name = _text(common_names[0].value) if common_names else None

    dns_names: list[str] = []
    ip_addresses: list[str] = []
    try:
        extension = request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        extension = None
    except (ValueError, x509.DuplicateExtension):
        raise InvalidCSR("csr.extensions: the requested extensions cannot be decoded") from None
    if extension is not None:
        for general_name in extension.value:
            # Exact types (cryptography makes no subclasses of them): isinstance against
            # these ABC-derived classes is the slow path.
            kind = type(general_name)
            if kind is x509.DNSName:
                dns_names.append(general_name.value)
            elif kind is x509.IPAddress:
                if not isinstance(general_name.value, (IPv4Address, IPv6Address)):
                    raise InvalidCSR("csr.subject_alt_name: IP ranges are not host addresses")
                ip_addresses.append(str(general_name.value))
            else:
                raise InvalidCSR(
                    f"csr.subject_alt_name: {kind.__name__} names are not supported; use DNS "
                    "names and IP addresses",
                    field="csr.subject_alt_name",
                )
    try:
        return RequestedNames.of(
            common_name=common_name, dns_names=dns_names, ip_addresses=ip_addresses
        )
    except InvalidName as exc:
        raise InvalidName(f"csr.{exc.message}", field=exc.field) from None


def _text(value: str | bytes) -> str:
    if isinstance(value, bytes):
        raise InvalidCSR("csr.subject: the common name is not a text string")
    return value
