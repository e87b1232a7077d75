"""The names in a certificate signing request, read straight from its DER.

cryptography builds a ``Name`` and an ``Extensions`` object (with every attribute and
general name as Python objects) only for ``csr._names_of`` to take a common name and a
subjectAltName out of them, on every issuance. This reader takes the same names from the
bytes: ``parse_csr`` measured inside the issuing loop went from ~166 to ~160 us (issue 17,
median per call of the bench CSR).

It reads only the plain shape that OpenSSL, Go, cryptography and cert-manager's default
requests have, and answers ``None`` for anything else, so that the caller falls back to
cryptography's objects and every refusal stays cryptography's own. The plain shape, in
the ASN.1 of RFC 2986 section 4.1 and RFC 5280 sections 4.1.2.4 and 4.2.1.6:

- the subject: RDNs of one attribute each, of the types in ``_PLAIN_SUBJECT_TYPES``,
  each a UTF8String or a PrintableString;
- the attributes: none, or exactly one, an extensionRequest (PKCS#9, RFC 2985 section
  5.4.2) holding one Extensions value with one extension, the subjectAltName;
- the subjectAltName: one or more dNSNames and iPAddresses of 4 or 16 octets;
- every length in its shortest definite form (X.690 section 10.1), every tag one octet,
  no octet left over anywhere.

It is only ever given a request cryptography has already loaded (``load_der_x509_csr``
checked the outer structure) and whose signature verified; it still checks each length
and tag it steps over, because the attributes' contents are ones cryptography reads only
when asked.
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

__all__ = ["PlainNames", "plain_names"]

_SEQUENCE = 0x30
_SET = 0x31
_OID = 0x06
_BOOLEAN = 0x01
_OCTET_STRING = 0x04
_UTF8_STRING = 0x0C
_PRINTABLE_STRING = 0x13
_ATTRIBUTES = 0xA0  # [0] IMPLICIT SET OF Attribute, constructed
_DNS_NAME = 0x82  # GeneralName [2] IMPLICIT IA5String
_IP_ADDRESS = 0x87  # GeneralName [7] IMPLICIT OCTET STRING

# The contents octets of the OIDs read here (X.690 section 8.19).
_COMMON_NAME = bytes.fromhex("550403")  # 2.5.4.3
_COUNTRY_NAME = bytes.fromhex("550406")  # 2.5.4.6
_EXTENSION_REQUEST = bytes.fromhex("2a864886f70d01090e")  # 1.2.840.113549.1.9.14
_SUBJECT_ALT_NAME = bytes.fromhex("551d11")  # 2.5.29.17

# Subject attribute types whose values cryptography takes as they are, within the limits
# below: common name, country, locality, state, organisation and organisational unit.
_PLAIN_SUBJECT_TYPES = frozenset(
    bytes.fromhex(oid) for oid in ("550403", "550406", "550407", "550408", "55040a", "55040b")
)
# cryptography's NameAttribute warns when a common name or a country name is outside these
# lengths in UTF-8 octets (``_NAMEOID_LENGTH_LIMIT``); such a value is not plain, so that
# the warning stays cryptography's own.
_LENGTH_LIMITS = {_COMMON_NAME: (1, 64), _COUNTRY_NAME: (2, 2)}

# PrintableString's characters (X.680 section 41.4): a value with any other octet is
# cryptography's to refuse or accept.
_PRINTABLE = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?"
)


class PlainNames(NamedTuple):
    """The names as cryptography's objects would give them: the common names in subject
    order, the DNS names and the IP addresses (as text) in the subjectAltName's order."""

    common_names: list[str]
    dns_names: list[str]
    ip_addresses: list[str]


class _NotPlain(Exception):
    """The request is not in the plain shape: cryptography's objects must read it."""


def plain_names(request_info: bytes) -> PlainNames | None:
    """The names of a DER ``CertificationRequestInfo``, or None if it is not plain."""
    try:
        return _read_request_info(request_info)
    except _NotPlain:
        return None


def _read_request_info(der: bytes) -> PlainNames:
    at, info_end = _filling(der, 0, len(der), _SEQUENCE)
    _, at = _expect(der, at, info_end, 0x02)  # version INTEGER
    subject_at, subject_end = _expect(der, at, info_end, _SEQUENCE)
    common_names = _common_names(der, subject_at, subject_end)
    _, at = _expect(der, subject_end, info_end, _SEQUENCE)  # subjectPKInfo
    attributes_at, attributes_end = _filling(der, at, info_end, _ATTRIBUTES)
    dns_names: list[str] = []
    ip_addresses: list[str] = []
    if attributes_at != attributes_end:
        san_at, san_end = _subject_alt_name(der, attributes_at, attributes_end)
        _general_names(der, san_at, san_end, dns_names, ip_addresses)
    return PlainNames(common_names, dns_names, ip_addresses)


def _common_names(der: bytes, at: int, end: int) -> list[str]:
    found = []
    while at < end:
        rdn_at, at = _expect(der, at, end, _SET)
        type_at, rdn_end = _filling(der, rdn_at, at, _SEQUENCE)  # one attribute per RDN
        oid_at, value_tlv_at = _expect(der, type_at, rdn_end, _OID)
        oid = der[oid_at:value_tlv_at]
        value_at, value_end = _element(der, value_tlv_at, rdn_end)
        if value_end != rdn_end:
            raise _NotPlain
        value = der[value_at:value_end]
        # The octet counts cryptography's NameAttribute warns outside of (UTF-8 octets).
        low, high = _LENGTH_LIMITS.get(oid, (0, len(value)))
        if not low <= len(value) <= high:
            raise _NotPlain
        if oid not in _PLAIN_SUBJECT_TYPES:
            raise _NotPlain
        tag = der[value_tlv_at]
        if tag == _UTF8_STRING:
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError:
                raise _NotPlain from None
        elif tag == _PRINTABLE_STRING and _PRINTABLE.issuperset(value):
            text = value.decode("ascii")
        else:
            raise _NotPlain
        if oid == _COMMON_NAME:
            found.append(text)
    return found


def _subject_alt_name(der: bytes, at: int, end: int) -> tuple[int, int]:
    """The span of the subjectAltName's GeneralNames inside the attributes ``at..end``.

    Each ``_filling`` below refuses a second element after the first: a second attribute,
    value or extension, or octets after the GeneralNames.
    """
    attribute_at, attribute_end = _filling(der, at, end, _SEQUENCE)
    oid_at, values_tlv_at = _expect(der, attribute_at, attribute_end, _OID)
    if der[oid_at:values_tlv_at] != _EXTENSION_REQUEST:
        raise _NotPlain
    values_at, values_end = _filling(der, values_tlv_at, attribute_end, _SET)
    extensions_at, extensions_end = _filling(der, values_at, values_end, _SEQUENCE)
    extension_at, extension_end = _filling(der, extensions_at, extensions_end, _SEQUENCE)
    oid_at, at = _expect(der, extension_at, extension_end, _OID)
    if der[oid_at:at] != _SUBJECT_ALT_NAME:
        raise _NotPlain
    if at < extension_end and der[at] == _BOOLEAN:
        # critical: DER writes TRUE as 0xFF and never writes the default FALSE.
        flag_at, at = _expect(der, at, extension_end, _BOOLEAN)
        if der[flag_at:at] != b"\xff":
            raise _NotPlain
    value_at, value_end = _filling(der, at, extension_end, _OCTET_STRING)
    names_at, names_end = _filling(der, value_at, value_end, _SEQUENCE)
    if names_at == names_end:
        raise _NotPlain  # GeneralNames holds at least one name (RFC 5280 section 4.2.1.6)
    return names_at, names_end


def _general_names(
    der: bytes, at: int, end: int, dns_names: list[str], ip_addresses: list[str]
) -> None:
    while at < end:
        tag = der[at]
        value_at, at = _element(der, at, end)
        value = der[value_at:at]
        if tag == _DNS_NAME:
            # cryptography reads an IA5String as UTF-8 text without checking it is ASCII;
            # normalize_dns_name then refuses what is not ASCII.
            try:
                dns_names.append(value.decode("utf-8"))
            except UnicodeDecodeError:
                raise _NotPlain from None
        elif tag == _IP_ADDRESS and len(value) in (4, 16):
            ip_addresses.append(str(ipaddress.ip_address(value)))
        else:
            raise _NotPlain  # another kind of name, or an address range


def _filling(der: bytes, at: int, end: int, tag: int) -> tuple[int, int]:
    """``_expect``, for an element that must end exactly at ``end``."""
    contents_at, contents_end = _expect(der, at, end, tag)
    if contents_end != end:
        raise _NotPlain
    return contents_at, contents_end


def _expect(der: bytes, at: int, end: int, tag: int) -> tuple[int, int]:
    """The span of the contents of the element at ``at``, which must have tag ``tag``."""
    if at + 2 > end or der[at] != tag:
        raise _NotPlain
    size = der[at + 1]
    if size < 0x80:
        # The short form, that of almost every element here, read inline: this reader
        # exists to be cheaper than cryptography's objects.
        at += 2
        if at + size > end:
            raise _NotPlain
        return at, at + size
    return _element(der, at, end)


def _element(der: bytes, at: int, end: int) -> tuple[int, int]:
    """The span (start, end) of the contents of the element at ``at``, within ``end``."""
    if at + 2 > end or der[at] & 0x1F == 0x1F:
        raise _NotPlain  # truncated, or a tag of several octets
    size = der[at + 1]
    at += 2
    if size >= 0x80:
        count = size - 0x80
        # Lengths of one or two octets cover any CSR parse_csr takes (64 KiB); a length
        # that fits a shorter form is not DER (X.690 section 10.1).
        if count not in (1, 2) or at + count > end:
            raise _NotPlain
        size = int.from_bytes(der[at : at + count], "big")
        at += count
        if size < (0x80 if count == 1 else 0x100):
            raise _NotPlain
    if at + size > end:
        raise _NotPlain
    return at, at + size
