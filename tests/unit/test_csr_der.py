"""``csr_der.plain_names`` against cryptography's own reading of the same requests.

Whenever the reader answers, its names must be exactly the ones cryptography's ``Name`` and
``SubjectAlternativeName`` objects give, and cryptography must read that request without an
error or a warning: otherwise the reader must answer None (so that ``parse_csr`` falls back
to cryptography's objects and keeps its refusals). The requests: generated ones of every
kind, every one of them damaged byte by byte, and hand-written DER that cryptography's
builders cannot make.
"""

from __future__ import annotations

import ipaddress
import warnings

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from albca.ca.csr_der import PlainNames, plain_names
from tests.factories import _der_tlv, ec_key

_KEY = ec_key()
# An ecdsa-with-SHA256 AlgorithmIdentifier and a dummy signature: load_der_x509_csr does not
# verify signatures, so damaged request infos can be wrapped and read by cryptography.
_SIGNATURE_TAIL = bytes.fromhex("300a06082a8648ce3d040302") + _der_tlv(0x03, b"\x00" + b"\x30" * 8)


def _request(
    subject: list[x509.NameAttribute] | None = None,
    extensions: list[tuple[x509.ExtensionType, bool]] = (),  # type: ignore[assignment]
    attributes: list[tuple[x509.ObjectIdentifier, bytes]] = (),  # type: ignore[assignment]
) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject or []))
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    for oid, value in attributes:
        builder = builder.add_attribute(oid, value)
    return builder.sign(_KEY, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _san(*names: x509.GeneralName, critical: bool = False) -> tuple[x509.ExtensionType, bool]:
    return x509.SubjectAlternativeName(list(names)), critical


def _cn(value: str, kind: x509.name._ASN1Type | None = None) -> x509.NameAttribute:
    if kind is None:
        return x509.NameAttribute(NameOID.COMMON_NAME, value)
    return x509.NameAttribute(NameOID.COMMON_NAME, value, kind)


_Printable = x509.name._ASN1Type.PrintableString

GENERATED = {
    "no-names": _request(),
    "cn-only": _request([_cn("alice")]),
    "cn-printable": _request([_cn("alice.example.com", _Printable)]),
    "cn-non-ascii": _request([_cn("Zoë Müller")]),
    "cn-ia5": _request([_cn("alice", x509.name._ASN1Type.IA5String)]),
    "cn-bmp": _request([_cn("alice", x509.name._ASN1Type.BMPString)]),
    "cn-universal": _request([_cn("alice", x509.name._ASN1Type.UniversalString)]),
    "two-cns": _request([_cn("alice"), _cn("admin")]),
    "cn-and-organisation": _request(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "GB"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Kent"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Dover"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Ltd"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Ops"),
            _cn("alice"),
        ]
    ),
    "email-in-subject": _request([x509.NameAttribute(NameOID.EMAIL_ADDRESS, "a@example.com")]),
    "san-dns": _request([_cn("a.svc.internal")], [_san(x509.DNSName("a.svc.internal"))]),
    "san-no-cn": _request(None, [_san(x509.DNSName("a.example"), x509.DNSName("b.example"))]),
    "san-ips": _request(
        [_cn("host")],
        [
            _san(
                x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
                x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
                x509.DNSName("host.example"),
            )
        ],
    ),
    "san-critical": _request(None, [_san(x509.DNSName("a.example"), critical=True)]),
    "san-many": _request(None, [_san(*(x509.DNSName(f"h{i}.example") for i in range(60)))]),
    "san-ip-network": _request(None, [_san(x509.IPAddress(ipaddress.ip_network("10.0.0.0/24")))]),
    "san-email": _request(None, [_san(x509.RFC822Name("a@example.com"))]),
    "san-uri": _request(None, [_san(x509.UniformResourceIdentifier("https://a.example"))]),
    "san-registered-id": _request(None, [_san(x509.RegisteredID(NameOID.COMMON_NAME))]),
    "san-directory-name": _request(None, [_san(x509.DirectoryName(x509.Name([_cn("inner")])))]),
    "san-other-name": _request(
        None, [_san(x509.OtherName(NameOID.COMMON_NAME, bytes.fromhex("0c0161")))]
    ),
    "san-and-key-usage": _request(
        None,
        [
            _san(x509.DNSName("a.example")),
            (x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False),
        ],
    ),
    "only-basic-constraints": _request(
        None, [(x509.BasicConstraints(ca=True, path_length=None), True)]
    ),
    "challenge-password": _request(
        [_cn("alice")],
        [_san(x509.DNSName("a.example"))],
        [(x509.oid.AttributeOID.CHALLENGE_PASSWORD, b"secret")],
    ),
}


def _info_of(der: bytes) -> bytes:
    return x509.load_der_x509_csr(der).tbs_certrequest_bytes


def _wrap(info: bytes) -> bytes:
    return _der_tlv(0x30, info + _SIGNATURE_TAIL)


def _cryptography_names(request: x509.CertificateSigningRequest) -> PlainNames:
    """What cryptography's objects hold, as ``plain_names`` would say it; raises what they
    raise (warnings are errors here, as in the whole suite)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        common_names = [
            attribute.value
            for attribute in request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        ]
        try:
            san = request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        except x509.ExtensionNotFound:
            return PlainNames(common_names, [], [])  # type: ignore[arg-type]
    dns_names: list[str] = []
    ip_addresses: list[str] = []
    for name in san.value:
        if type(name) is x509.DNSName:
            dns_names.append(name.value)
        elif type(name) is x509.IPAddress:
            ip_addresses.append(str(name.value))
        else:
            raise AssertionError(f"plain_names must not read a {type(name).__name__}")
    return PlainNames(common_names, dns_names, ip_addresses)  # type: ignore[arg-type]


def _assert_reads_as_cryptography(info: bytes) -> PlainNames | None:
    """The reader's answer for ``info``, checked against cryptography's reading of it."""
    try:
        request = x509.load_der_x509_csr(_wrap(info))
    except (ValueError, x509.InvalidVersion):
        # cryptography cannot load it: parse_csr refuses it before the names are read.
        return None
    read = plain_names(request.tbs_certrequest_bytes)
    if read is None:
        return None
    assert read == _cryptography_names(request)
    return read


@pytest.mark.parametrize("kind", list(GENERATED))
def test_plain_names_reads_what_cryptography_reads(kind):
    _assert_reads_as_cryptography(_info_of(GENERATED[kind]))


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("no-names", PlainNames([], [], [])),
        ("cn-only", PlainNames(["alice"], [], [])),
        ("cn-printable", PlainNames(["alice.example.com"], [], [])),
        ("cn-non-ascii", PlainNames(["Zoë Müller"], [], [])),
        ("two-cns", PlainNames(["alice", "admin"], [], [])),
        ("cn-and-organisation", PlainNames(["alice"], [], [])),
        ("san-dns", PlainNames(["a.svc.internal"], ["a.svc.internal"], [])),
        ("san-ips", PlainNames(["host"], ["host.example"], ["10.0.0.1", "2001:db8::1"])),
        ("san-critical", PlainNames([], ["a.example"], [])),
        ("san-many", PlainNames([], [f"h{i}.example" for i in range(60)], [])),
    ],
)
def test_plain_names_reads_the_plain_shape(kind, expected):
    # The shapes every common client sends must take the fast path, or it is not one.
    assert _assert_reads_as_cryptography(_info_of(GENERATED[kind])) == expected


@pytest.mark.parametrize(
    "kind",
    [
        "cn-ia5",
        "cn-bmp",
        "cn-universal",
        "email-in-subject",
        "san-ip-network",
        "san-email",
        "san-uri",
        "san-registered-id",
        "san-directory-name",
        "san-other-name",
        "san-and-key-usage",
        "only-basic-constraints",
        "challenge-password",
    ],
)
def test_plain_names_leaves_every_other_shape_to_cryptography(kind):
    assert plain_names(_info_of(GENERATED[kind])) is None


@pytest.mark.parametrize("kind", ["san-ips", "cn-and-organisation", "san-critical", "san-many"])
def test_plain_names_agrees_with_cryptography_on_every_damaged_byte(kind):
    info = _info_of(GENERATED[kind])
    read = 0
    for index in range(len(info)):
        for value in {0x00, 0x01, 0x04, 0x0C, 0x13, 0x30, 0x7F, 0x80, 0x81, 0x82, 0xFF}:
            damaged = bytearray(info)
            damaged[index] = value
            if _assert_reads_as_cryptography(bytes(damaged)) is not None:
                read += 1
    assert read > len(info)  # many damaged requests are still plain (other names, lengths)


@pytest.mark.parametrize("kind", ["san-ips", "cn-and-organisation"])
def test_plain_names_answers_none_for_every_truncation(kind):
    info = _info_of(GENERATED[kind])
    for end in range(len(info)):
        assert plain_names(info[:end]) is None
        assert plain_names(info[end:]) is None or end == 0


def _info(subject: bytes, extensions: bytes | None) -> bytes:
    """A CertificationRequestInfo written by hand (RFC 2986 section 4.1)."""
    spki = (
        x509.load_der_x509_csr(GENERATED["no-names"])
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    attributes = b""
    if extensions is not None:
        extension_request = bytes.fromhex("06092a864886f70d01090e")
        attributes = _der_tlv(0x30, extension_request + _der_tlv(0x31, _der_tlv(0x30, extensions)))
    return _der_tlv(0x30, bytes.fromhex("020100") + subject + spki + _der_tlv(0xA0, attributes))


def _rdn(oid: str, tag: int, value: bytes) -> bytes:
    return _der_tlv(0x31, _der_tlv(0x30, _der_tlv(0x06, bytes.fromhex(oid)) + _der_tlv(tag, value)))


def _san_extension(names: bytes, critical: bytes = b"") -> bytes:
    return _der_tlv(
        0x30,
        _der_tlv(0x06, bytes.fromhex("551d11")) + critical + _der_tlv(0x04, _der_tlv(0x30, names)),
    )


_CN = "550403"
_PLAIN_SUBJECT = _der_tlv(0x30, _rdn(_CN, 0x0C, b"alice"))

HAND_WRITTEN = {
    "cn-invalid-utf8": _info(_der_tlv(0x30, _rdn(_CN, 0x0C, b"\xff\xfe")), None),
    "cn-printable-star": _info(_der_tlv(0x30, _rdn(_CN, 0x13, b"*.example")), None),
    "cn-printable-nul": _info(_der_tlv(0x30, _rdn(_CN, 0x13, b"a\x00b")), None),
    "cn-empty": _info(_der_tlv(0x30, _rdn(_CN, 0x0C, b"")), None),
    "cn-65-octets": _info(_der_tlv(0x30, _rdn(_CN, 0x0C, b"a" * 65)), None),
    "cn-64-octets": _info(_der_tlv(0x30, _rdn(_CN, 0x0C, b"a" * 64)), None),
    "country-three-letters": _info(_der_tlv(0x30, _rdn("550406", 0x13, b"GBR")), None),
    "cn-bit-string": _info(_der_tlv(0x30, _rdn(_CN, 0x03, b"\x00ab")), None),
    "cn-unknown-tag": _info(_der_tlv(0x30, _rdn(_CN, 0x05, b"")), None),
    "multi-valued-rdn": _info(
        _der_tlv(
            0x30,
            _der_tlv(
                0x31,
                _der_tlv(0x30, _der_tlv(0x06, bytes.fromhex(_CN)) + _der_tlv(0x0C, b"a"))
                + _der_tlv(0x30, _der_tlv(0x06, bytes.fromhex("55040a")) + _der_tlv(0x0C, b"o")),
            ),
        ),
        None,
    ),
    "dns-non-ascii": _info(_PLAIN_SUBJECT, _san_extension(_der_tlv(0x82, "é.example".encode()))),
    "dns-invalid-utf8": _info(_PLAIN_SUBJECT, _san_extension(_der_tlv(0x82, b"\xffa.example"))),
    "dns-empty": _info(_PLAIN_SUBJECT, _san_extension(_der_tlv(0x82, b""))),
    "ip-five-octets": _info(
        _PLAIN_SUBJECT, _san_extension(_der_tlv(0x87, b"\x0a\x00\x00\x01\x02"))
    ),
    "san-empty": _info(_PLAIN_SUBJECT, _san_extension(b"")),
    "critical-false-written": _info(
        _PLAIN_SUBJECT, _san_extension(_der_tlv(0x82, b"a.example"), critical=b"\x01\x01\x00")
    ),
    "critical-true-as-01": _info(
        _PLAIN_SUBJECT, _san_extension(_der_tlv(0x82, b"a.example"), critical=b"\x01\x01\x01")
    ),
    "two-sans": _info(
        _PLAIN_SUBJECT,
        _san_extension(_der_tlv(0x82, b"a.example")) + _san_extension(_der_tlv(0x82, b"b.example")),
    ),
    "long-form-length-not-shortest": _info(
        _PLAIN_SUBJECT, _san_extension(b"\x82\x81\x09a.example")
    ),
    "octets-after-the-names": _info(
        _PLAIN_SUBJECT,
        _der_tlv(
            0x30,
            _der_tlv(0x06, bytes.fromhex("551d11"))
            + _der_tlv(0x04, _der_tlv(0x30, _der_tlv(0x82, b"a.example")) + b"\x00"),
        ),
    ),
}


@pytest.mark.parametrize("kind", list(HAND_WRITTEN))
def test_plain_names_agrees_with_cryptography_on_hand_written_der(kind):
    _assert_reads_as_cryptography(HAND_WRITTEN[kind])


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("cn-64-octets", PlainNames(["a" * 64], [], [])),
        ("dns-non-ascii", PlainNames(["alice"], ["é.example"], [])),
        ("dns-empty", PlainNames(["alice"], [""], [])),
    ],
)
def test_plain_names_reads_names_that_albca_then_checks(kind, expected):
    # cryptography takes these as they are; normalize_dns_name refuses the last two.
    assert _assert_reads_as_cryptography(HAND_WRITTEN[kind]) == expected


@pytest.mark.parametrize(
    "kind",
    [
        "cn-invalid-utf8",
        "cn-printable-star",
        "cn-printable-nul",
        "cn-empty",
        "cn-65-octets",
        "country-three-letters",
        "cn-bit-string",
        "cn-unknown-tag",
        "multi-valued-rdn",
        "dns-invalid-utf8",
        "ip-five-octets",
        "san-empty",
        "critical-false-written",
        "critical-true-as-01",
        "two-sans",
        "long-form-length-not-shortest",
        "octets-after-the-names",
    ],
)
def test_plain_names_leaves_unusual_der_to_cryptography(kind):
    assert plain_names(HAND_WRITTEN[kind]) is None
