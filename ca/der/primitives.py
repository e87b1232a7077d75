"""The few DER encodings (ITU-T X.690) the CRL and leaf encoders need, and nothing else.

Kept deliberately small: lengths, integers, OIDs, times and the wrappers around them. Every
output is checked in the tests by parsing it back with cryptography and OpenSSL.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = [
    "length",
    "tlv",
    "sequence",
    "integer",
    "object_identifier",
    "time",
    "EpochTimes",
    "explicit",
    "octet_string",
    "bit_string",
    "boolean_true",
]

_SEQUENCE = 0x30
_INTEGER = 0x02
_OID = 0x06
_OCTET_STRING = 0x04
_BIT_STRING = 0x03
_UTC_TIME = 0x17
_GENERALIZED_TIME = 0x18


def length(size: int) -> bytes:
    if size < 0x80:
        return bytes((size,))
    encoded = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(encoded),)) + encoded


def tlv(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:  # the short form, most elements of a leaf: no call to length()
        return bytes((tag, size)) + content
    return bytes((tag,)) + length(size) + content


def sequence(*parts: bytes) -> bytes:
    return tlv(_SEQUENCE, b"".join(parts))


def integer(value: int) -> bytes:
    if value < 0:
        raise ValueError("only non-negative integers are needed here")
    # One more bit than the value needs keeps the sign bit clear (X.690 section 8.3).
    return tlv(_INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def object_identifier(dotted: str) -> bytes:
    arcs = [int(arc) for arc in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2:
        raise ValueError(f"not an object identifier: {dotted}")
    body = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return tlv(_OID, bytes(body))


def time(moment: datetime | int) -> bytes:
    """UTCTime for 1950-2049, GeneralizedTime otherwise (RFC 5280 section 4.1.2.5)."""
    if isinstance(moment, int):
        moment = datetime.fromtimestamp(moment, UTC)
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; use timezone-aware UTC")
    moment = moment.astimezone(UTC)
    if 1950 <= moment.year < 2050:
        return tlv(_UTC_TIME, moment.strftime("%y%m%d%H%M%SZ").encode("ascii"))
    return tlv(_GENERALIZED_TIME, moment.strftime("%Y%m%d%H%M%SZ").encode("ascii"))


# "HHMM" for each minute of a day and "SSZ" for each second of a minute: 1,500 small
# constants that turn the time of day into two lookups instead of a formatting call.
_HOURS_MINUTES = tuple(b"%02d%02d" % divmod(minute, 60) for minute in range(1_440))
_SECONDS = tuple(b"%02dZ" % second for second in range(60))


class EpochTimes:
    """``time()`` for many epoch-second values, about twelve times faster.

    The date part (tag, length and YYMMDD or YYYYMMDD) is encoded once per day and cached;
    the time of day is two table lookups. For the CRL's hot loop.
    """

    def __init__(self) -> None:
        self._days: dict[int, bytes] = {}

    def __call__(self, seconds: int) -> bytes:
        day, rest = divmod(seconds, 86_400)
        prefix = self._days.get(day)
        if prefix is None:
            full = time(day * 86_400)
            prefix = self._days[day] = full[:-7]  # drop "000000Z"
        minute, second = divmod(rest, 60)
        return prefix + _HOURS_MINUTES[minute] + _SECONDS[second]


def explicit(tag_number: int, content: bytes) -> bytes:
    return tlv(0xA0 | tag_number, content)


def octet_string(content: bytes) -> bytes:
    return tlv(_OCTET_STRING, content)


def bit_string(content: bytes) -> bytes:
    # Leading 0: no unused bits in the last octet (signatures are whole octets).
    return tlv(_BIT_STRING, b"\x00" + content)


def boolean_true() -> bytes:
    return b"\x01\x01\xff"
