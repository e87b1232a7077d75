"""Revocation reasons and serial numbers as operators type them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from albca.ca.errors import InvalidRequest, InvalidSerial
from albca.ca.records import RevocationReason, format_serial, parse_serial, utc_text
from tests.unit.assertions import assert_error_names_field


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("key-compromise", RevocationReason.KEY_COMPROMISE),
        ("keyCompromise", RevocationReason.KEY_COMPROMISE),
        ("KEY_COMPROMISE", RevocationReason.KEY_COMPROMISE),
        (" key compromise ", RevocationReason.KEY_COMPROMISE),
        ("1", RevocationReason.KEY_COMPROMISE),
        (1, RevocationReason.KEY_COMPROMISE),
        ("unspecified", RevocationReason.UNSPECIFIED),
        ("0", RevocationReason.UNSPECIFIED),
        ("cACompromise", RevocationReason.CA_COMPROMISE),
        ("affiliationChanged", RevocationReason.AFFILIATION_CHANGED),
        ("superseded", RevocationReason.SUPERSEDED),
        ("cessationOfOperation", RevocationReason.CESSATION_OF_OPERATION),
        ("privilegeWithdrawn", RevocationReason.PRIVILEGE_WITHDRAWN),
        ("9", RevocationReason.PRIVILEGE_WITHDRAWN),
        ("aACompromise", RevocationReason.AA_COMPROMISE),
        ("10", RevocationReason.AA_COMPROMISE),
    ],
)
def test_revocation_reason_accepts_every_spelling(text, reason):
    assert RevocationReason.parse(text) is reason


@pytest.mark.parametrize(
    "text",
    [
        "certificateHold",  # permanent revocation only: a hold could be undone
        "6",
        "removeFromCRL",  # delta CRLs only
        "8",
        "7",  # unassigned in RFC 5280
        "11",
        -1,
        "",
        "compromised",
    ],
)
def test_revocation_reason_refuses_what_albca_does_not_issue(text):
    with pytest.raises(InvalidRequest, match="is not a revocation reason") as caught:
        RevocationReason.parse(text)
    assert_error_names_field(caught, "reason")
    assert "key-compromise" in str(caught.value)  # the message lists the choices


def test_revocation_reasons_have_the_rfc_5280_codes():
    assert {reason.label: int(reason) for reason in RevocationReason} == {
        "unspecified": 0,
        "key-compromise": 1,
        "ca-compromise": 2,
        "affiliation-changed": 3,
        "superseded": 4,
        "cessation-of-operation": 5,
        "privilege-withdrawn": 9,
        "aa-compromise": 10,
    }


@pytest.mark.parametrize(
    ("text", "serial"),
    [
        ("1a2b", 0x1A2B),
        ("1A2B", 0x1A2B),
        ("1a:2b", 0x1A2B),
        ("1A:2B", 0x1A2B),
        ("0x1a2b", 0x1A2B),
        ("0X1A2B", 0x1A2B),
        ("  0x1a:2b\n", 0x1A2B),
        ("7f" + "ff" * 19, 2**159 - 1),  # the largest 20-octet serial
        ("01", 1),
        (0x1A2B, 0x1A2B),
    ],
)
def test_parse_serial_accepts_the_forms_operators_paste(text, serial):
    assert parse_serial(text) == serial


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "cannot be empty"),
        ("0x", "cannot be empty"),
        (":", "cannot be empty"),
        ("xyz", "is not a hexadecimal serial number"),
        ("12 34", "is not a hexadecimal serial number"),
        ("1a2b.", "is not a hexadecimal serial number"),
        ("0", "outside the range"),
        ("-1", "outside the range"),
        ("80" + "00" * 19, "outside the range"),  # 2**159: 21 octets once DER-encoded
        (0, "outside the range"),
    ],
)
def test_parse_serial_refuses_what_is_not_a_serial(text, message):
    with pytest.raises(InvalidSerial, match=message) as caught:
        parse_serial(text)
    assert_error_names_field(caught, "serial")


def test_format_serial_round_trips():
    serial = 0x00AB_CDEF_0123
    assert parse_serial(format_serial(serial)) == serial
    assert format_serial(serial) == "abcdef0123"


class _Shouting(datetime):
    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return super().isoformat(sep, timespec) + "!"


def test_utc_text_is_isoformat_for_every_moment_and_zone():
    base = datetime(2026, 12, 5, 2, 30, 15, tzinfo=UTC)
    moments = [base + timedelta(seconds=step) for step in range(200)]  # past the cache limit
    moments += [
        base.replace(microsecond=5),
        datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC),
        # The same instants as UTC ones already seen, told in other zones: their own text.
        base.astimezone(timezone(timedelta(hours=2))),
        base.replace(tzinfo=timezone(timedelta(0))),
        base.replace(tzinfo=None),
        _Shouting(2026, 12, 5, 2, 30, 15, tzinfo=UTC),  # equal to ``base``, its own text
    ]
    for _ in range(2):  # the second time from the cache
        assert [utc_text(moment) for moment in moments] == [m.isoformat() for m in moments]
