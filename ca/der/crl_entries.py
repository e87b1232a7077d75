"""A CRL's revokedCertificates entries as DER: encoded one by one, or many at once, and
read back.

An entry is fixed the moment its certificate is revoked (serial, revocation time, reason;
RFC 5280 section 5.1.2.6), so both stores encode it then and keep the bytes (SQLite a row
per entry, DynamoDB packed per expiry day): a CRL of 500,000 entries is then a read of
concatenated bytes instead of 500,000 encodings (issue 17, point 3). ``crl`` encodes the
entries it is given as plain values the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from albca.ca.der import primitives as der
from albca.ca.records import RevocationReason, RevokedEntry

__all__ = ["EncodedEntries", "encode_entry", "encode_entries", "entry_spans"]

_REASON_CODE_OID = der.object_identifier("2.5.29.21")


def _reason_extensions() -> dict[int, bytes]:
    """The crlEntryExtensions field for each reason, encoded once.

    unspecified gets no extension: RFC 5280 section 5.3.1 says the reasonCode SHOULD be
    absent rather than carry unspecified (0).
    """
    encoded = {0: b""}
    for reason in RevocationReason:
        if reason is RevocationReason.UNSPECIFIED:
            continue
        enumerated = bytes((0x0A, 0x01, int(reason)))
        extension = der.sequence(_REASON_CODE_OID, der.octet_string(enumerated))
        encoded[int(reason)] = der.sequence(extension)
    return encoded


_REASON_EXTENSIONS = _reason_extensions()
_REASON_OF_EXTENSION = {extension: reason for reason, extension in _REASON_EXTENSIONS.items()}


@dataclass(frozen=True)
class EncodedEntries:
    """The content of a CRL's revokedCertificates SEQUENCE (every entry's DER, one after
    the other) and how many entries it holds. Iterating decodes the entries (tests, and
    callers that want the serials); a CRL is built from ``der`` as it is."""

    der: bytes
    count: int

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[RevokedEntry]:
        return _decode(self.der)


def encode_entry(serial: int, revoked_at: int, reason: int) -> bytes:
    """One revokedCertificates entry: SEQUENCE { serial, revocationDate, extensions }."""
    return _entry(serial, der.time(revoked_at), _REASON_EXTENSIONS[reason])


def encode_entries(entries: Iterable[RevokedEntry]) -> EncodedEntries:
    """``encode_entry`` for many entries: the hot loop when entries come as values (the
    root's CRL, DynamoDB revocations from before issue 17), with times cached per day
    (``der.EpochTimes``)."""
    encode_time = der.EpochTimes()
    reasons = _REASON_EXTENSIONS
    parts = [
        _entry(serial, encode_time(revoked_at), reasons[reason])
        for serial, revoked_at, reason in entries
    ]
    return EncodedEntries(b"".join(parts), len(parts))


def _entry(serial: int, when: bytes, extensions: bytes) -> bytes:
    serial_bytes = serial.to_bytes(serial.bit_length() // 8 + 1, "big")
    body = b"\x02" + bytes((len(serial_bytes),)) + serial_bytes + when + extensions
    size = len(body)
    # A single length byte whenever the entry fits in 127 bytes (always, for 20-byte serials).
    return b"\x30" + (bytes((size,)) if size < 0x80 else der.length(size)) + body


def entry_spans(data: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of each entry in ``data``, entries as ``encode_entry`` writes them one
    after another: to pick some of them without decoding any."""
    position = 0
    while position < len(data):
        end, _ = _content(data, position, 0x30)
        yield position, end
        position = end


def _decode(data: bytes) -> Iterator[RevokedEntry]:
    """Read back what ``encode_entry`` wrote (and nothing else: this is not a DER parser)."""
    days: dict[bytes, int] = {}  # the date part's epoch, parsed once per day
    position = 0
    while position < len(data):
        end, position = _content(data, position, 0x30)
        serial_end, start = _content(data, position, 0x02)
        serial = int.from_bytes(data[start:serial_end], "big")
        tag = data[serial_end]
        time_end, start = _content(data, serial_end, tag)
        revoked_at = _epoch_cached(days, data[start:time_end], utc_time=tag == 0x17)
        reason = _REASON_OF_EXTENSION.get(data[time_end:end])
        if reason is None:
            raise ValueError(f"not an entry albca encodes at offset {position}")
        yield RevokedEntry(serial, revoked_at, reason)
        position = end


def _epoch_cached(days: dict[bytes, int], text: bytes, *, utc_time: bool) -> int:
    """``_epoch`` with the date part's epoch looked up in ``days`` (YYMMDD or YYYYMMDD,
    then HHMMSSZ): reading back 500,000 entries parses about a hundred dates, not 500,000."""
    date, clock = text[:-7], text[-7:]
    day = days.get(date)
    if day is None:
        day = days[date] = _epoch(date.decode("ascii") + "000000Z", utc_time=utc_time)
    return day + int(clock[:2]) * 3600 + int(clock[2:4]) * 60 + int(clock[4:6])


def _epoch(text: str, *, utc_time: bool) -> int:
    if utc_time:  # YY: 50-99 are 19YY, 00-49 are 20YY (RFC 5280 section 4.1.2.5.1)
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    return int(datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC).timestamp())


def _content(data: bytes, position: int, tag: int) -> tuple[int, int]:
    """(end of the element, start of its content) of the element with ``tag`` at
    ``position``."""
    if data[position] != tag:
        raise ValueError(f"expected tag {tag:#x} at offset {position}")
    size = data[position + 1]
    start = position + 2
    if size & 0x80:
        octets = size & 0x7F
        size = int.from_bytes(data[start : start + octets], "big")
        start += octets
    return start + size, start
