"""Serials as people type them: a unique prefix of 8+ hex digits, colons and case ignored."""

from __future__ import annotations

from albca.ca.stores.sqlite import SqliteStore
from tests.factories import issue_event, make_record


def with_colons(digits: str) -> str:
    return ":".join(digits[i : i + 2] for i in range(0, len(digits), 2)).upper()


def test_show_and_revoke_take_a_unique_prefix_with_colons_in_any_case(initialized):
    cli = initialized
    serial = cli.json("issue", "client", "--cn", "alice")["serial"]
    cli.json("issue", "client", "--cn", "bob")
    shown = cli.json("show", with_colons(serial[:10]))
    assert shown["serial"] == serial
    assert cli.json("revoke", serial[:8])["serial"] == serial
    assert cli.json("show", serial)["status"] == "revoked"
    events = cli.json("audit", "--serial", serial[:12])
    assert {event["action"] for event in events} >= {"issue", "revoke"}


def test_a_prefix_shorter_than_8_digits_is_not_taken(initialized):
    cli = initialized
    serial = cli.json("issue", "client", "--cn", "alice")["serial"]
    assert cli.fails("show", serial[:7]) == f"no certificate with serial {serial[:7]}"


def test_an_ambiguous_prefix_lists_the_matches(initialized):
    cli = initialized
    store = SqliteStore(cli.home / "albca.db")
    for serial in (0x5A792AA7C4B1, 0x5A792AA7C4B2):
        record = make_record(serial)
        store.add_certificate(record, issue_event(record))
    store.close()
    line = cli.fails("show", "5a792aa7c4")
    assert line == "serial: 5a792aa7c4 is the start of several serials: 5a792aa7c4b1, 5a792aa7c4b2"
    assert cli.fails("revoke", "5A:79:2A:A7") == line.replace("5a792aa7c4", "5a792aa7", 1)
    assert cli.json("show", "5a792aa7c4b2")["serial"] == "5a792aa7c4b2"
