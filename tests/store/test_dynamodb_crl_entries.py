"""The DynamoDB store's CRL entries (issue 17, point 3): packed at revocation, read in a
few pages, exact at the day's boundary, safe under a racing revocation, and correct on
tables written before packs (and before ``REVOKED#`` items) existed."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest
from pynamodb.connection.base import Connection

import albca.ca.stores.dynamodb_crl_entries as crl_entries
from albca.ca.der.crl_entries import EncodedEntries, encode_entry
from albca.ca.records import RevocationReason
from albca.ca.stores.dynamodb import DynamoDBStore
from albca.ca.stores.dynamodb_crl_entries import SLOTS
from tests.aws.moto_support import REGION
from tests.factories import T0, issue_event, make_record
from tests.store.contract import ISSUER_A, revoke_event

KEY_COMPROMISE = RevocationReason.KEY_COMPROMISE
NOT_AFTER = T0 + timedelta(days=30)  # 12:00 UTC: every such certificate expires that day


@pytest.fixture
def requests(monkeypatch):
    """(operation, index read or None) of every DynamoDB request the store sends."""
    sent: list[tuple[str, str | None]] = []
    original = Connection.dispatch

    def dispatch(self, operation_name, operation_kwargs):
        sent.append((operation_name, operation_kwargs.get("IndexName")))
        return original(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "dispatch", dispatch)
    return sent


def items(table: str, pk: str) -> list[dict]:
    client = boto3.client("dynamodb", region_name=REGION)
    return client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
        ConsistentRead=True,
    )["Items"]


def issue_and_revoke(store, serial, *, not_after=NOT_AFTER, revoke=True):
    record = make_record(serial, not_after=not_after)
    store.add_certificate(record, issue_event(record))
    if revoke:
        store.revoke_certificate(serial, T0, KEY_COMPROMISE, revoke_event(serial))


def serials(entries) -> list[int]:
    return sorted(entry.serial for entry in entries)


def test_revocations_expiring_on_one_day_share_a_pack_read_in_one_query(dynamodb_table, requests):
    store = DynamoDBStore(dynamodb_table, region=REGION)
    same_slot = [7, 7 + SLOTS, 7 + 2 * SLOTS]
    for serial in [*same_slot, 8]:
        issue_and_revoke(store, serial)
    packs = items(dynamodb_table, f"CRLENTRIES#{ISSUER_A}")
    assert sorted(int(pack["count"]["N"]) for pack in packs) == [1, 3]
    assert items(dynamodb_table, f"REVOKED#{ISSUER_A}") == []  # every entry found a pack
    store.next_crl(ISSUER_A, T0)  # the first CRL reads the revoked index, once
    requests.clear()
    snapshot = store.next_crl(ISSUER_A, T0)
    assert isinstance(snapshot.entries, EncodedEntries)  # DER, used as it is
    assert serials(snapshot.entries) == sorted([*same_slot, 8])
    assert {entry.reason for entry in snapshot.entries} == {int(KEY_COMPROMISE)}
    # The counter, the packs, the REVOKED# items, the number: no index, no per-entry read.
    assert requests == [("GetItem", None), ("Query", None), ("Query", None), ("UpdateItem", None)]


def test_a_crl_keeps_only_the_entries_of_todays_pack_that_have_not_expired(dynamodb_table):
    store = DynamoDBStore(dynamodb_table, region=REGION)
    day_start = NOT_AFTER - timedelta(hours=12)
    expiring = {
        1: day_start + timedelta(hours=1),
        1 + SLOTS: day_start + timedelta(hours=5),
        1 + 2 * SLOTS: day_start + timedelta(hours=23, minutes=59, seconds=59),
        2: day_start + timedelta(hours=5),  # another slot, the same day
    }
    for serial, not_after in expiring.items():
        issue_and_revoke(store, serial, not_after=not_after)
    assert len(items(dynamodb_table, f"CRLENTRIES#{ISSUER_A}")) == 2  # one pack per slot
    now = day_start + timedelta(hours=5)  # expired at not_after: not_after <= now
    assert serials(store.next_crl(ISSUER_A, now).entries) == [1 + 2 * SLOTS]
    earlier = day_start + timedelta(hours=4, minutes=59, seconds=59)
    assert serials(store.next_crl(ISSUER_A, earlier).entries) == [2, 1 + SLOTS, 1 + 2 * SLOTS]
    assert serials(store.next_crl(ISSUER_A, day_start - timedelta(seconds=1)).entries) == sorted(
        expiring
    )
    assert store.next_crl(ISSUER_A, day_start + timedelta(days=1)).entries.count == 0


def test_full_packs_send_revocations_up_a_level_then_to_items_of_their_own(
    dynamodb_table, monkeypatch
):
    slot = 1 + SLOTS * 4  # one slot on level 0; serials of two bytes each
    revoked = [slot + SLOTS * 2 * n for n in range(5)]  # one slot on level 1 as well
    entry_bytes = len(encode_entry(revoked[0], 0, int(KEY_COMPROMISE))) + 3  # and its expiry
    monkeypatch.setattr(crl_entries, "PACK_BYTES", 2 * entry_bytes)
    monkeypatch.setattr(crl_entries, "LEVELS", 2)
    store = DynamoDBStore(dynamodb_table, region=REGION)
    for serial in revoked:
        issue_and_revoke(store, serial)
    packs = items(dynamodb_table, f"CRLENTRIES#{ISSUER_A}")
    assert [(pack["sk"]["S"][13], int(pack["count"]["N"])) for pack in packs] == [
        ("0", 2),
        ("1", 2),
    ]
    (single,) = items(dynamodb_table, f"REVOKED#{ISSUER_A}")
    assert int(single["sk"]["S"].split("#")[1], 16) == revoked[-1]
    assert "entry" in single
    snapshot = store.next_crl(ISSUER_A, T0)
    assert serials(snapshot.entries) == revoked
    assert snapshot.revocations == 5


def test_a_revocation_that_loses_the_race_for_its_pack_is_listed_all_the_same(dynamodb_table):
    first = DynamoDBStore(dynamodb_table, region=REGION)
    second = DynamoDBStore(dynamodb_table, region=REGION)
    for serial in (5, 5 + SLOTS):
        issue_and_revoke(first, serial, revoke=False)
    read_pack = first._crl_entries._pack

    def pack_read_then_overtaken(issuer_key_id, key):
        pack = read_pack(issuer_key_id, key)
        # Between this read and the first store's transaction, another writer appends
        # to the same pack: the first store's append must not overwrite it.
        second.revoke_certificate(5 + SLOTS, T0, KEY_COMPROMISE, revoke_event(5 + SLOTS))
        first._crl_entries._pack = read_pack  # once
        return pack

    first._crl_entries._pack = pack_read_then_overtaken
    first.revoke_certificate(5, T0, RevocationReason.SUPERSEDED, revoke_event(5))
    (pack,) = items(dynamodb_table, f"CRLENTRIES#{ISSUER_A}")
    assert int(pack["count"]["N"]) == 1  # the winner's entry, kept
    (single,) = items(dynamodb_table, f"REVOKED#{ISSUER_A}")  # the loser's, on its own
    assert single["sk"]["S"].endswith(f"{5:040x}")
    entries = sorted(first.next_crl(ISSUER_A, T0).entries)
    assert [(e.serial, e.reason) for e in entries] == [
        (5, int(RevocationReason.SUPERSEDED)),
        (5 + SLOTS, int(KEY_COMPROMISE)),
    ]


def write_old_revocations(store, table):
    """Serial 1 revoked the way albca did before issue 12 (the certificate item alone,
    found through the revoked index), serial 2 the way issue 12 did (a REVOKED# item
    without its DER), serial 3 expired before issue 12; all written as those versions
    wrote them."""
    client = boto3.client("dynamodb", region_name=REGION)
    for serial, not_after in ((1, NOT_AFTER), (2, NOT_AFTER), (3, T0 - timedelta(days=1))):
        record = make_record(serial, not_after=not_after, issued_at=T0 - timedelta(days=60))
        revoked = record.revoked(T0 - timedelta(hours=serial), KEY_COMPROMISE)
        store.add_certificate(revoked, issue_event(revoked))  # status, revoked_issuer: set
    expiry = f"{int(NOT_AFTER.timestamp()):012d}#{2:040x}"
    client.put_item(
        TableName=table,
        Item={
            "pk": {"S": f"REVOKED#{ISSUER_A}"},
            "sk": {"S": expiry},
            "revoked_at": {"N": str(int((T0 - timedelta(hours=2)).timestamp()))},
            "revocation_reason": {"N": str(int(KEY_COMPROMISE))},
        },
    )


def test_a_table_written_before_packs_lists_every_revocation_and_reads_the_index_once(
    dynamodb_table, requests
):
    store = DynamoDBStore(dynamodb_table, region=REGION)
    write_old_revocations(store, dynamodb_table)
    issue_and_revoke(store, 4)  # and one revoked by this version: packed
    assert serials(store.revoked_entries(ISSUER_A, T0)) == [1, 2, 4]  # before any CRL
    requests.clear()
    first = store.next_crl(ISSUER_A, T0)
    assert serials(first.entries) == [1, 2, 4]
    assert ("Query", "revoked-by-issuer") in requests
    # What only the index held is now a REVOKED# item with its DER, the expired one too.
    copied = {item["sk"]["S"][-40:]: item for item in items(dynamodb_table, f"REVOKED#{ISSUER_A}")}
    assert sorted(int(serial, 16) for serial in copied) == [1, 2, 3]
    assert copied[f"{1:040x}"]["entry"]["B"] == encode_entry(
        1, int((T0 - timedelta(hours=1)).timestamp()), int(KEY_COMPROMISE)
    )
    issue_and_revoke(store, 5)
    requests.clear()
    second = store.next_crl(ISSUER_A, T0)
    assert serials(second.entries) == [1, 2, 4, 5]
    assert second.number == first.number + 1
    assert all(index is None for _, index in requests)  # the index is not read again
    assert serials(store.revoked_entries(ISSUER_A, T0 - timedelta(days=2))) == [1, 2, 3, 4, 5]


def test_the_first_crl_of_an_issuer_with_nothing_in_the_index_marks_it_complete(
    dynamodb_table, requests
):
    store = DynamoDBStore(dynamodb_table, region=REGION)
    assert store.next_crl(ISSUER_A, T0).entries.count == 0
    requests.clear()
    issue_and_revoke(store, 9)
    requests.clear()
    assert serials(store.next_crl(ISSUER_A, T0).entries) == [9]
    assert all(index is None for _, index in requests)
