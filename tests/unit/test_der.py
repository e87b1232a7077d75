"""The DER helpers of the CRL encoder, against known encodings (ITU-T X.690) and against an
independent encoder (pyasn1, which pkilint brings along)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pyasn1.codec.der import encoder as pyasn1_der
from pyasn1.type import univ

from albca.ca.der import primitives as der


def read_time(encoded: bytes) -> datetime:
    """A UTCTime or GeneralizedTime TLV read the way RFC 5280 section 4.1.2.5 says."""
    tag, size, text = encoded[0], encoded[1], encoded[2:].decode("ascii")
    assert size == len(text)
    if tag == 0x17:
        year = int(text[:2])
        # YY >= 50 is 19YY, YY < 50 is 20YY (RFC 5280 section 4.1.2.5.1).
        full = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    else:
        assert tag == 0x18
        full = text
    return datetime.strptime(full, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "8180"),
        (255, "81ff"),
        (256, "820100"),
        (65535, "82ffff"),
        (65536, "83010000"),
        (500_000 * 40, "8401312d00"),
    ],
)
def test_length_uses_the_short_form_below_128_and_the_minimal_long_form_above(size, expected):
    assert der.length(size).hex() == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "020100"),
        (1, "020101"),
        (127, "02017f"),
        (128, "02020080"),  # a leading zero keeps the sign bit clear
        (255, "020200ff"),
        (256, "02020100"),
        (32767, "02027fff"),
        (32768, "0203008000"),
        (2**159 - 1, "0214" + "7f" + "ff" * 19),  # the largest serial: exactly 20 octets
        (2**159, "0215" + "0080" + "00" * 19),
    ],
)
def test_integer_is_minimal_and_never_negative(value, expected):
    assert der.integer(value).hex() == expected
    assert der.integer(value) == pyasn1_der.encode(univ.Integer(value))


def test_integer_refuses_negative_values():
    with pytest.raises(ValueError, match="non-negative"):
        der.integer(-1)


@pytest.mark.parametrize(
    ("dotted", "expected"),
    [
        ("2.5.29.20", "0603551d14"),  # cRLNumber
        ("2.5.29.21", "0603551d15"),  # reasonCode
        ("2.5.29.35", "0603551d23"),  # authorityKeyIdentifier
        ("1.2.840.10045.4.3.2", "06082a8648ce3d040302"),  # ecdsa-with-SHA256
        ("1.2.840.113549.1.1.11", "06092a864886f70d01010b"),  # sha256WithRSAEncryption
        ("2.999.3", "0603883703"),  # X.690 section 8.19.5: first arcs 2.999 -> 1079
    ],
)
def test_object_identifier_matches_known_encodings(dotted, expected):
    assert der.object_identifier(dotted).hex() == expected
    assert der.object_identifier(dotted) == pyasn1_der.encode(univ.ObjectIdentifier(dotted))


@pytest.mark.parametrize("dotted", ["1", "3.1", "4.5.6"])
def test_object_identifier_refuses_what_is_not_one(dotted):
    with pytest.raises(ValueError, match="not an object identifier"):
        der.object_identifier(dotted)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(1950, 1, 1, tzinfo=UTC), b"\x17\x0d500101000000Z"),
        (datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC), b"\x17\x0d260304050607Z"),
        (datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC), b"\x17\x0d491231235959Z"),
        (datetime(2050, 1, 1, tzinfo=UTC), b"\x18\x0f20500101000000Z"),
        (datetime(2100, 2, 28, 1, 2, 3, tzinfo=UTC), b"\x18\x0f21000228010203Z"),
    ],
)
def test_time_is_utctime_through_2049_and_generalizedtime_from_2050(moment, expected):
    assert der.time(moment) == expected
    assert der.time(int(moment.timestamp())) == expected
    assert read_time(der.time(moment)) == moment


def test_time_converts_other_timezones_to_utc():
    moment = datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    assert der.time(moment) == b"\x17\x0d251231230000Z"


def test_time_before_1950_reads_back_as_the_same_moment():
    moment = datetime(1949, 6, 1, 12, tzinfo=UTC)
    assert read_time(der.time(moment)) == moment


def test_epoch_times_agree_with_time_across_days_and_the_2050_switch():
    encode = der.EpochTimes()
    start = int(datetime(2049, 12, 30, tzinfo=UTC).timestamp())
    # Every 7919 seconds for four days (crossing into 2050), plus the exact boundaries.
    moments = [*range(start, start + 4 * 86_400, 7919), start + 2 * 86_400 - 1]
    moments += [
        start + 2 * 86_400,
        0,
        86_399,
        86_400,
        int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()),
    ]
    for seconds in moments:
        assert encode(seconds) == der.time(seconds), seconds


def test_epoch_times_agree_with_time_for_every_second_of_a_day():
    encode = der.EpochTimes()
    start = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())
    for seconds in range(start, start + 86_400):
        assert encode(seconds) == der.time(seconds), seconds


def test_wrappers_tag_and_length_their_content():
    assert der.sequence(b"\x05\x00", b"\x05\x00").hex() == "300405000500"
    assert der.octet_string(b"\x01\x02").hex() == "04020102"
    assert der.bit_string(b"\xff").hex() == "030200ff"  # no unused bits
    assert der.explicit(0, b"\x05\x00").hex() == "a0020500"
    assert der.boolean_true().hex() == "0101ff"
    long = der.sequence(b"\x00" * 200)
    assert long[:3].hex() == "3081c8"
    assert len(long) == 203
