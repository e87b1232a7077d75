"""The DynamoDB backend under moto: the contract suite, and what only DynamoDB can show."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from pynamodb.connection.base import Connection

from albca.ca.errors import AlreadyRevoked, CertificateNotFound, DuplicateSerial, StoreUnavailable
from albca.ca.records import CertificateQuery, EffectiveStatus, KeyClaim, RevocationReason
from albca.ca.stores.dynamodb import DynamoDBStore
from albca.ca.stores.dynamodb_models import TTL_ATTRIBUTE, table_definition
from tests.aws.moto_support import REGION, clean_aws_environment, create_table, mocked_aws
from tests.factories import T0, issue_event, make_record
from tests.store.contract import ISSUER_A, StoreContract, revoke_event


class TestDynamoDBStore(StoreContract):
    answers_serial_prefixes = False  # a prefix would be a Scan of the whole table

    @pytest.fixture
    def open_store(self, dynamodb_table):
        return lambda: DynamoDBStore(dynamodb_table, region=REGION)


@pytest.fixture
def operations(monkeypatch):
    """The DynamoDB operations the store sends, in order."""
    sent: list[str] = []
    original = Connection.dispatch

    def dispatch(self, operation_name, operation_kwargs):
        sent.append(operation_name)
        return original(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "dispatch", dispatch)
    return sent


def test_missing_table_is_one_clear_error(serialized_aws):
    with pytest.raises(StoreUnavailable) as caught:
        DynamoDBStore("no-such-table", region=REGION)
    message = str(caught.value)
    assert "'no-such-table'" in message
    assert "does not exist" in message
    assert "albca aws bootstrap" in message
    assert "\n" not in message


def test_table_without_the_indexes_is_refused(serialized_aws):
    import boto3

    definition = table_definition("bare")
    del definition["GlobalSecondaryIndexes"]
    definition["AttributeDefinitions"] = [
        a for a in definition["AttributeDefinitions"] if a["AttributeName"] in ("pk", "sk")
    ]
    boto3.client("dynamodb", region_name=REGION).create_table(**definition)
    with pytest.raises(StoreUnavailable, match=r"lacks the indexes .*status-expiry"):
        DynamoDBStore("bare", region=REGION)


def test_listing_and_crls_query_indexes_and_never_scan(dynamodb_table, operations):
    store = DynamoDBStore(dynamodb_table, region=REGION)
    now = T0 + timedelta(days=1)
    for serial in range(1, 21):
        record = make_record(serial, profile="server" if serial % 2 else "client")
        store.add_certificate(record, issue_event(record))
    store.revoke_certificate(3, T0, RevocationReason.KEY_COMPROMISE, revoke_event(3))
    operations.clear()
    for status in EffectiveStatus:
        store.query_certificates(CertificateQuery(status=status), now)
    store.query_certificates(CertificateQuery(profile="server"), now)
    store.query_certificates(CertificateQuery(expiring_before=now + timedelta(days=60)), now)
    store.query_certificates(CertificateQuery(), now)
    assert [e.serial for e in store.revoked_entries(ISSUER_A, now)] == [3]
    store.issuer_counts(ISSUER_A, now)
    store.audit_events(limit=5)
    store.audit_events(serial=3)
    assert "Scan" not in operations
    assert set(operations) <= {"Query", "BatchGetItem", "GetItem"}  # GetItem: the CRL counter


def test_records_carry_a_ttl_of_expiry_plus_retention(dynamodb_table):
    import boto3

    store = DynamoDBStore(dynamodb_table, region=REGION, retention=timedelta(days=30))
    record = make_record(9, not_after=T0 + timedelta(days=90))
    store.add_certificate(record, issue_event(record))
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=dynamodb_table, Key={"pk": {"S": f"CERT#{9:040x}"}, "sk": {"S": "CERT"}}
    )["Item"]
    expected = int((record.not_after + timedelta(days=30)).timestamp())
    assert int(item[TTL_ATTRIBUTE]["N"]) == expected


def test_a_record_carrying_an_idempotency_claim_is_refused_and_nothing_written(
    dynamodb_table,
):
    # The API claims keys in its own table first on DynamoDB (``api.issuing``): a claim
    # reaching this store would otherwise be dropped without a word.
    store = DynamoDBStore(dynamodb_table, region=REGION)
    record = replace(
        make_record(10), idempotency=KeyClaim("tok", "k", "fp", T0 + timedelta(days=1))
    )
    with pytest.raises(ValueError, match="Idempotency-Key"):
        store.add_certificate(record, issue_event(record))
    assert not hasattr(store, "find_key_claim")
    with pytest.raises(CertificateNotFound):
        store.get_certificate(10)


def test_without_retention_records_never_age_out(dynamodb_table):
    import boto3

    store = DynamoDBStore(dynamodb_table, region=REGION, retention=None)
    record = make_record(9)
    store.add_certificate(record, issue_event(record))
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=dynamodb_table, Key={"pk": {"S": f"CERT#{9:040x}"}, "sk": {"S": "CERT"}}
    )["Item"]
    assert TTL_ATTRIBUTE not in item


def test_many_writers_issue_and_revoke_without_losing_or_duplicating(dynamodb_table):
    """Several stores (as several Lambda instances would hold) on one table, at once."""
    stores = [DynamoDBStore(dynamodb_table, region=REGION) for _ in range(4)]
    issued: list[int] = []
    duplicates: list[int] = []
    revocations: list[tuple[int, str]] = []
    crl_numbers: list[list[int]] = [[] for _ in stores]
    lock = threading.Lock()
    barrier = threading.Barrier(len(stores))

    def writer(index: int) -> None:
        store = stores[index]
        barrier.wait()
        # Every writer tries serials 1..15: each serial must be won by exactly one.
        for serial in range(1, 16):
            record = make_record(serial, requested_by=f"writer-{index}")
            try:
                store.add_certificate(record, issue_event(record))
                with lock:
                    issued.append(serial)
            except DuplicateSerial:
                with lock:
                    duplicates.append(serial)
            crl_numbers[index].append(store.next_crl_number(ISSUER_A))
        barrier.wait()
        # Then every writer revokes serials 1..14: one revocation of each must win.
        for serial in range(1, 15):
            try:
                store.revoke_certificate(
                    serial, T0, RevocationReason.SUPERSEDED, revoke_event(serial)
                )
                outcome = "revoked"
            except AlreadyRevoked:
                outcome = "already"
            with lock:
                revocations.append((serial, outcome))
            crl_numbers[index].append(store.next_crl_number(ISSUER_A))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(issued) == list(range(1, 16))  # no serial twice, none lost
    assert len(duplicates) == 15 * (len(stores) - 1)
    for serial in range(1, 15):
        outcomes = sorted(o for s, o in revocations if s == serial)
        assert outcomes == ["already"] * (len(stores) - 1) + ["revoked"]
    reader = stores[0]
    page = reader.query_certificates(CertificateQuery(limit=100), T0)
    assert sorted(r.serial for r in page.records) == list(range(1, 16))
    revoked = reader.query_certificates(CertificateQuery(status=EffectiveStatus.REVOKED), T0)
    assert sorted(r.serial for r in revoked.records) == list(range(1, 15))
    events = reader.audit_events(limit=1000)
    assert sorted(e.serial for e in events if e.action == "issue") == list(range(1, 16))
    assert sorted(e.serial for e in events if e.action == "revoke") == list(range(1, 15))
    assert len({e.id for e in events}) == len(events)
    every_number = [n for numbers in crl_numbers for n in numbers]
    assert sorted(every_number) == list(range(1, len(every_number) + 1))
    for numbers in crl_numbers:  # each writer sees its numbers strictly increase
        assert numbers == sorted(set(numbers))


def test_table_definition_keeps_the_rules_dynamodb_enforces_and_moto_does_not():
    definition = table_definition("albca")
    schemas = [definition["KeySchema"]] + [
        index["KeySchema"] for index in definition["GlobalSecondaryIndexes"]
    ]
    defined = {a["AttributeName"] for a in definition["AttributeDefinitions"]}
    used = set()
    for schema in schemas:
        assert [key["KeyType"] for key in schema] == ["HASH", "RANGE"]  # HASH first
        used |= {key["AttributeName"] for key in schema}
    assert defined == used  # every defined attribute is a key somewhere, and no more
    assert len(definition["GlobalSecondaryIndexes"]) <= 20
    assert 3 <= len(definition["TableName"]) <= 255


def test_revoked_entries_follow_every_page(dynamodb_table, monkeypatch):
    import albca.ca.stores.dynamodb_crl_entries as module

    monkeypatch.setattr(module, "PAGE_ITEMS", 2)
    store = DynamoDBStore(dynamodb_table, region=REGION)
    for serial in range(1, 8):
        record = make_record(serial)
        store.add_certificate(record, issue_event(record))
        store.revoke_certificate(serial, T0, RevocationReason.SUPERSEDED, revoke_event(serial))
    entries = store.revoked_entries(ISSUER_A, T0)
    assert sorted(entry.serial for entry in entries) == list(range(1, 8))


@pytest.fixture
def failing_transactions(monkeypatch):
    """Answers the next TransactWriteItems calls with the given AWS error codes."""
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.responses import DynamoHandler

    codes: list[str] = []
    calls: list[str] = []
    original = DynamoHandler.transact_write_items

    def transact_write_items(self):
        if codes:
            code = codes.pop(0)
            calls.append(code)
            raise JsonRESTError(code, f"injected {code}")
        calls.append("ok")
        return original(self)

    monkeypatch.setattr(DynamoHandler, "transact_write_items", transact_write_items)
    return codes, calls


def test_throttled_writes_are_retried_and_commit_once(dynamodb_table, failing_transactions):
    codes, calls = failing_transactions
    store = DynamoDBStore(dynamodb_table, region=REGION)
    codes.append("ProvisionedThroughputExceededException")
    record = make_record(5)
    store.add_certificate(record, issue_event(record))
    assert calls == ["ProvisionedThroughputExceededException", "ok"]
    assert store.get_certificate(5) == record
    assert [e.serial for e in store.audit_events()] == [5]


def test_other_aws_errors_are_store_unavailable_naming_the_table(
    dynamodb_table, failing_transactions
):
    codes, _ = failing_transactions
    store = DynamoDBStore(dynamodb_table, region=REGION)
    codes.append("AccessDeniedException")
    record = make_record(6)
    with pytest.raises(StoreUnavailable) as caught:
        store.add_certificate(record, issue_event(record))
    assert str(caught.value) == (
        f"DynamoDB table '{dynamodb_table}' in {REGION}: add a certificate failed: "
        "AccessDeniedException: injected AccessDeniedException"
    )


# Last in the module: the module-scoped moto of `spread` must not overlap other tests'.
@pytest.fixture(scope="module")
def spread():
    """60 records over every shard, many sharing an expiry, 15 of them revoked; built once."""
    import random

    rng = random.Random(3)
    with pytest.MonkeyPatch.context() as monkeypatch:
        clean_aws_environment(monkeypatch)
        with mocked_aws():
            create_table("spread")
            store = DynamoDBStore("spread", region=REGION)
            records = []
            for _ in range(60):
                record = make_record(
                    rng.randrange(1, 1 << 64),
                    profile=rng.choice(["client", "server"]),
                    issuer_key_id=rng.choice([ISSUER_A, "bb" * 20]),
                    not_after=T0 + timedelta(days=rng.choice([10, 20, 30, 40])),
                )
                store.add_certificate(record, issue_event(record))
                records.append(record)
            for record in rng.sample(records, 15):
                store.revoke_certificate(
                    record.serial, T0, RevocationReason.UNSPECIFIED, revoke_event(1)
                )
            everything = [store.get_certificate(r.serial) for r in records]
            yield store, everything


@pytest.mark.parametrize(
    "query",
    [
        CertificateQuery(limit=7),
        CertificateQuery(limit=7, status=EffectiveStatus.ACTIVE),
        CertificateQuery(limit=7, status=EffectiveStatus.EXPIRED),
        CertificateQuery(limit=7, status=EffectiveStatus.REVOKED),
        CertificateQuery(limit=7, profile="server"),
        CertificateQuery(limit=7, profile="server", status=EffectiveStatus.ACTIVE),
        CertificateQuery(limit=7, issuer_key_id=ISSUER_A),
        CertificateQuery(limit=7, expiring_before=T0 + timedelta(days=25)),
    ],
    ids=lambda q: ",".join(f"{k}={v}" for k, v in vars(q).items() if v and k != "limit"),
)
def test_paging_merges_the_shards_exactly(spread, query):
    """Pages come in (not_after, serial) order with nothing missed or repeated."""
    store, everything = spread
    now = T0 + timedelta(days=15)

    def wanted(record):
        if query.status is not None and record.effective_status(now) is not query.status:
            return False
        if query.profile is not None and record.profile != query.profile:
            return False
        if query.issuer_key_id is not None and record.issuer_key_id != query.issuer_key_id:
            return False
        return query.expiring_before is None or record.not_after < query.expiring_before

    expected = [
        r.serial for r in sorted(everything, key=lambda r: (r.not_after, r.serial)) if wanted(r)
    ]
    seen = []
    cursor = None
    while True:
        page = store.query_certificates(CertificateQuery(**{**vars(query), "cursor": cursor}), now)
        assert len(page.records) <= query.limit
        seen += [r.serial for r in page.records]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected
    assert expected  # the case is not empty


def test_audit_pages_are_exact_when_the_newest_events_crowd_one_shard(dynamodb_table):
    """The trail is read a little deep in each shard (``_newest_audit_items``); when the
    ids the clock and the random bits gave put the newest events in one shard, the full
    shard is read deeper until the page is exact."""
    store = DynamoDBStore(dynamodb_table, region=REGION)
    # Ids chosen: 12 spread over the shards, then 20 all in shard 0 (multiples of 8).
    ids = iter([*range(1_001, 1_013), *range(2_000, 2_160, 8)])
    store._ids.next = lambda: next(ids)  # type: ignore[method-assign]
    for serial in range(1, 33):
        record = make_record(serial)
        store.add_certificate(record, issue_event(record))
    newest_first = list(range(32, 0, -1))
    for size in (1, 3, 8, 21, 40):
        walked, before = [], None
        while page := store.audit_events(limit=size, before_id=before):
            assert len(page) == min(size, 32 - len(walked))
            walked += [event.serial for event in page]
            before = page[-1].id
        assert walked == newest_first, size


def test_a_batch_of_claims_is_one_read_and_one_transaction(dynamodb_table, operations):
    store = DynamoDBStore(dynamodb_table, region=REGION)
    lease = timedelta(minutes=15)
    assert store.claim_notice("k1", owner="run-a", now=T0, lease=lease)
    store.mark_notice_sent("k1", owner="run-a", now=T0)
    operations.clear()
    keys = [f"k{n}" for n in range(1, 151)]
    assert store.claim_notices(keys, owner="run-b", now=T0, lease=lease) == set(keys[1:])
    # 150 keys: two batches (TransactWriteItems takes up to 100 actions), none per key.
    assert operations == ["BatchGetItem", "TransactWriteItems"] * 2
    assert store.claim_notices(keys, owner="run-c", now=T0, lease=lease) == set()


def test_a_claim_taken_between_the_read_and_the_transaction_falls_back_per_key(
    dynamodb_table, monkeypatch
):
    """Another run claims k2 after this run's read: the transaction is cancelled whole
    (its condition on k2 fails) and each key is claimed alone; k2 stays the other's."""
    store = DynamoDBStore(dynamodb_table, region=REGION)
    rival = DynamoDBStore(dynamodb_table, region=REGION)
    lease = timedelta(minutes=15)
    sent: list[str] = []
    original = Connection.dispatch

    def dispatch(self, operation_name, operation_kwargs):
        sent.append(operation_name)
        answer = original(self, operation_name, operation_kwargs)
        if operation_name == "BatchGetItem" and sent.count("BatchGetItem") == 1:
            assert rival.claim_notice("k2", owner="rival", now=T0, lease=lease)
        return answer

    monkeypatch.setattr(Connection, "dispatch", dispatch)
    claimed = store.claim_notices(["k1", "k2", "k3"], owner="run-a", now=T0, lease=lease)
    assert claimed == {"k1", "k3"}
    assert "TransactWriteItems" in sent
    assert not rival.claim_notice("k1", owner="rival", now=T0, lease=lease)
    store.release_notices(["k2"], owner="run-a")  # not its own: k2 stays the rival's
    assert not store.claim_notice("k2", owner="run-c", now=T0, lease=lease)
