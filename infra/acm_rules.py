"""ACM's rules on what it imports, checked by albca before it issues or imports.

- The leaf's key algorithm must be its signing CA's (ImportCertificate API reference): an
  EC leaf under an RSA CA is refused at import, after albca would have issued it. So the
  leaf's key type defaults to the CA's algorithm (an RSA CA: rsa-2048; an EC CA: ec-p256,
  the sizes both ALB and CloudFront take) and a requested key type of the other algorithm
  is refused before anything is issued.
- A re-import in place (same ``CertificateArn``; ACM User Guide, "Reimport a certificate"
  and "Prerequisites for importing ACM certificates") keeps the key type and size, may not
  remove Key Usage or Extended Key Usage values (except keyEncipherment from an ECDSA
  certificate, RFC 5480 section 3, and the clientAuth EKU), may not add either extension
  where the old certificate had none, and takes no tags. A renewal therefore keeps the
  current certificate's key type unless told otherwise; when the rules cannot be met it
  imports a new certificate and the caller points its user at it.
- Tag keys and values match ``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*`` (ACM API reference, "Tag"):
  what albca writes in a tag (a wildcard domain's ``*``, a CloudFront origin id) is
  encoded so that it does (``acm_tag_value``).
"""

from __future__ import annotations

import hashlib
import unicodedata

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from albca.ca.errors import UnsupportedKey
from albca.ca.keys import KeySpec, key_spec_of
from albca.infra.errors import SetupRefused

__all__ = [
    "MAX_TAG_VALUE",
    "acm_tag_value",
    "acm_tag_text",
    "has_key_spec",
    "key_algorithm",
    "leaf_key_spec",
    "reimport_refusal",
]

MAX_TAG_VALUE = 256  # ACM API reference, "Tag": Value, 0-256 characters
_TAG_PUNCTUATION = frozenset("_.:/+-@")  # and "=", kept for the escape below
_DEFAULT_FOR = {"EC": KeySpec.EC_P256, "RSA": KeySpec.RSA_2048}
_KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def acm_tag_value(text: str) -> str:
    """``text`` as an ACM tag value: each character outside letters, separators, numbers
    and ``_.:/+-@`` becomes ``=`` and the hex of its UTF-8 bytes (``*`` is ``=2A``, ``=``
    itself ``=3D``), so distinct texts stay distinct; past 256 characters the value is cut
    and ends with a hash of the whole."""
    out: list[str] = []
    for char in text:
        if unicodedata.category(char)[0] in "LZN" or char in _TAG_PUNCTUATION:
            out.append(char)
        else:
            out.extend(f"={byte:02X}" for byte in char.encode())
    value = "".join(out)
    if len(value) > MAX_TAG_VALUE:
        digest = hashlib.sha256(value.encode()).hexdigest()[:16]
        value = f"{value[: MAX_TAG_VALUE - 17]}:{digest}"
    return value


def acm_tag_text(value: str) -> str:
    """The text ``acm_tag_value`` encoded as ``value`` (a cut value stays as it is)."""
    out = bytearray()
    at = 0
    while at < len(value):
        escaped = value[at + 1 : at + 3]
        if value[at] == "=" and len(escaped) == 2 and all(c in "0123456789ABCDEF" for c in escaped):
            out.append(int(escaped, 16))
            at += 3
        else:
            out += value[at].encode()
            at += 1
    return out.decode(errors="replace")


def key_algorithm(key: CertificatePublicKeyTypes | KeySpec) -> str:
    """RSA or EC (or the key class's name for anything else)."""
    if isinstance(key, KeySpec):
        return "EC" if key.is_ec else "RSA"
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC"
    return type(key).__name__


def has_key_spec(certificate: x509.Certificate, wanted: KeySpec | None) -> bool:
    """Whether the certificate's key is of type ``wanted`` (None: any)."""
    if wanted is None:
        return True
    try:
        return key_spec_of(certificate.public_key()) == wanted
    except UnsupportedKey:
        return False


def leaf_key_spec(
    requested: KeySpec | None,
    signing_ca: x509.Certificate,
    current: x509.Certificate | None = None,
    *,
    field: str = "--key-type",
) -> KeySpec:
    """The key type of a leaf ``signing_ca`` will sign for ACM: ``requested`` if its
    algorithm is the CA's (else ``SetupRefused`` naming both), else the ``current``
    certificate's key type when it has the CA's algorithm (a re-import in place must keep
    it), else the CA algorithm's default."""
    algorithm = key_algorithm(signing_ca.public_key())
    if requested is not None:
        if key_algorithm(requested) != algorithm:
            raise SetupRefused(
                f"{field} {requested.value} is an {key_algorithm(requested)} key but the "
                f"issuing CA ({signing_ca.subject.rfc4514_string()}) has an {algorithm} key: "
                f"ACM imports a certificate only when its key algorithm is its signing CA's; "
                f"give an {algorithm} key type or leave {field} out",
                rule="leaf key algorithm matches the signing CA's (ACM ImportCertificate)",
            )
        return requested
    if current is not None:
        try:
            spec = key_spec_of(current.public_key())
        except UnsupportedKey:
            spec = None
        if spec is not None and key_algorithm(spec) == algorithm:
            return spec
    try:
        return _DEFAULT_FOR[algorithm]
    except KeyError:
        raise SetupRefused(
            f"the issuing CA ({signing_ca.subject.rfc4514_string()}) has an {algorithm} key: "
            "ACM imports RSA and ECDSA certificates only",
            rule="leaf key algorithm matches the signing CA's (ACM ImportCertificate)",
        ) from None


def reimport_refusal(old: x509.Certificate, new: x509.Certificate) -> str | None:
    """Why ACM would refuse ``new`` as a re-import in place of ``old``, or None."""
    old_type, new_type = _key_type(old.public_key()), _key_type(new.public_key())
    if old_type != new_type:
        return f"the key type would change from {old_type} to {new_type}"
    old_usage, new_usage = _key_usages(old), _key_usages(new)
    if old_usage is None and new_usage is not None:
        return "the new certificate adds a Key Usage extension"
    if old_usage is not None:
        dropped = old_usage - (new_usage or frozenset())
        if new_type.startswith("EC"):
            dropped -= {"key_encipherment"}  # RFC 5480: not a usage of an ECDSA key
        if dropped:
            return f"Key Usage would lose {', '.join(sorted(dropped))}"
    old_eku, new_eku = _extended_key_usages(old), _extended_key_usages(new)
    if old_eku is None and new_eku is not None:
        return "the new certificate adds an Extended Key Usage extension"
    if old_eku is not None:
        lost = old_eku - (new_eku or frozenset()) - {ExtendedKeyUsageOID.CLIENT_AUTH}
        if lost:
            names = sorted(getattr(oid, "_name", oid.dotted_string) for oid in lost)
            return f"Extended Key Usage would lose {', '.join(names)}"
    return None


def _key_type(key: CertificatePublicKeyTypes) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    return type(key).__name__


def _key_usages(certificate: x509.Certificate) -> frozenset[str] | None:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    return frozenset(name for name in _KEY_USAGES if getattr(usage, name))


def _extended_key_usages(certificate: x509.Certificate) -> frozenset[x509.ObjectIdentifier] | None:
    try:
        return frozenset(
            certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        )
    except x509.ExtensionNotFound:
        return None
