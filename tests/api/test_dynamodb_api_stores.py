"""The API's stores on DynamoDB under moto: the contract suite, and what only DynamoDB shows
(several instances racing, TTL that lags, AWS errors)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import boto3
import pytest

from albca.api.errors import DuplicateTokenName, RenewalTokenReplayed
from albca.api.stores.dynamodb import (
    DynamoDBApiTable,
    DynamoDBIdempotencyStore,
    DynamoDBReplayGuard,
    DynamoDBTokenStore,
)
from albca.ca.errors import StoreUnavailable
from albca.ca.stores.dynamodb_models import TTL_ATTRIBUTE
from albca.ca.stores.dynamodb_table import DynamoDBTable
from tests.api.store_contract import ApiStoreContract, entry, make_token
from tests.aws.moto_support import REGION
from tests.factories import T0


def open_stores(table: str):
    """What one API instance (one Lambda container) holds."""
    database = DynamoDBApiTable(DynamoDBTable(table, region=REGION))
    return (
        DynamoDBTokenStore(database),
        DynamoDBIdempotencyStore(database),
        DynamoDBReplayGuard(database),
    )


class TestDynamoDBApiStores(ApiStoreContract):
    @pytest.fixture
    def open_stores(self, dynamodb_table):
        return lambda: open_stores(dynamodb_table)


def raw_item(table: str, pk: str, sk: str) -> dict | None:
    response = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
    )
    return response.get("Item")


def race(count: int, work) -> list:
    """Run ``work(index)`` on ``count`` threads at once; what each returned or raised."""
    outcomes: list = [None] * count
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = work(index)
        except Exception as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


# -- several instances at once -----------------------------------------------------------
def test_racing_claims_from_several_instances_agree_on_one_winner(dynamodb_table):
    instances = [open_stores(dynamodb_table)[1] for _ in range(6)]
    winners = race(6, lambda i: instances[i].claim(entry(serial=100 + i)))
    assert len({w.serial for w in winners}) == 1
    assert winners[0].serial in range(100, 106)
    assert instances[0].find("c1", "k", T0) == winners[0]


def test_racing_claims_over_an_expired_entry_agree_on_one_winner(dynamodb_table):
    """Both racers see the old entry as absent; only one of them may replace it."""
    stores = open_stores(dynamodb_table)[1]
    stores.claim(entry(serial=1))
    later = T0 + timedelta(days=2)
    instances = [open_stores(dynamodb_table)[1] for _ in range(6)]
    winners = race(6, lambda i: instances[i].claim(entry(serial=200 + i, at=later)))
    assert len({w.serial for w in winners}) == 1
    assert winners[0].serial != 1


def test_racing_replays_let_exactly_one_renewal_through(dynamodb_table):
    guards = [open_stores(dynamodb_table)[2] for _ in range(6)]
    outcomes = race(6, lambda i: guards[i].use_once("1f:jti-1", T0 + timedelta(minutes=5), T0))
    assert outcomes.count(None) == 1
    assert sum(isinstance(o, RenewalTokenReplayed) for o in outcomes) == 5


def test_racing_creates_of_one_name_make_one_token(dynamodb_table):
    instances = [open_stores(dynamodb_table)[0] for _ in range(4)]
    made = [make_token("shared") for _ in range(4)]
    outcomes = race(4, lambda i: instances[i].add(made[i]))
    assert outcomes.count(None) == 1
    assert sum(isinstance(o, DuplicateTokenName) for o in outcomes) == 3
    winner = made[outcomes.index(None)]
    assert [t.token_id for t in instances[0].list()] == [winner.token_id]
    for loser in made:
        if loser is not winner:
            assert instances[0].find(loser.token_id) is None  # no half-written token


def test_racing_revocations_keep_one_time(dynamodb_table):
    instances = [open_stores(dynamodb_table)[0] for _ in range(4)]
    instances[0].add(make_token())
    times = [T0 + timedelta(minutes=m) for m in (4, 1, 3, 2)]
    revoked = race(4, lambda i: instances[i].revoke("ci", times[i]))
    stored = instances[0].by_name("ci").revoked_at
    assert stored in times
    assert all(token.revoked_at == stored for token in revoked)


def test_a_revoked_token_is_refused_by_every_instance_at_once(dynamodb_table):
    tokens = [open_stores(dynamodb_table)[0] for _ in range(2)]
    token = make_token()
    tokens[0].add(token)
    assert tokens[1].find(token.token_id).revoked_at is None
    tokens[0].revoke("ci", T0)
    assert tokens[1].find(token.token_id).revoked_at == T0


# -- TTL: what DynamoDB deletes, and what the reads ignore before it does -----------------
def test_idempotency_entries_carry_their_expiry_as_the_table_ttl(dynamodb_table):
    idempotency = open_stores(dynamodb_table)[1]
    claimed = idempotency.claim(entry(serial=3))
    item = raw_item(dynamodb_table, "IDEMPOTENCY#c1", "k")
    assert int(item[TTL_ATTRIBUTE]["N"]) == int(claimed.expires_at.timestamp())


def test_used_renewal_tokens_carry_their_expiry_as_the_table_ttl(dynamodb_table):
    guard = open_stores(dynamodb_table)[2]
    guard.use_once("1f:jti-1", T0 + timedelta(minutes=5), T0)
    item = raw_item(dynamodb_table, "USEDTOKEN#1f:jti-1", "USEDTOKEN")
    assert int(item[TTL_ATTRIBUTE]["N"]) == int((T0 + timedelta(minutes=5)).timestamp())


def test_tokens_and_their_names_never_age_out(dynamodb_table):
    """The token's own expiry is not the TTL attribute: its name must stay taken."""
    tokens = open_stores(dynamodb_table)[0]
    token = make_token()
    tokens.add(token)
    for pk, sk in ((f"TOKEN#{token.token_id}", "TOKEN"), ("TOKENNAMES", "ci")):
        assert TTL_ATTRIBUTE not in raw_item(dynamodb_table, pk, sk)


def test_an_expired_entry_ttl_has_not_deleted_yet_counts_as_absent(dynamodb_table):
    idempotency = open_stores(dynamodb_table)[1]
    idempotency.claim(entry(serial=1))
    later = T0 + timedelta(hours=25)
    assert raw_item(dynamodb_table, "IDEMPOTENCY#c1", "k") is not None  # still there
    assert idempotency.find("c1", "k", later) is None
    assert idempotency.find("c1", "k", later - timedelta(hours=2)).serial == 1


def test_a_used_renewal_token_that_expired_may_be_recorded_again(dynamodb_table):
    guard = open_stores(dynamodb_table)[2]
    guard.use_once("1f:jti-1", T0 + timedelta(minutes=5), T0)
    with pytest.raises(RenewalTokenReplayed):
        guard.use_once("1f:jti-1", T0 + timedelta(minutes=5), T0 + timedelta(minutes=4))
    guard.use_once("1f:jti-1", T0 + timedelta(minutes=15), T0 + timedelta(minutes=5))


def test_sealed_keys_are_stored_as_given_and_come_back_whole(dynamodb_table):
    idempotency = open_stores(dynamodb_table)[1]
    sealed = bytes(range(256)) * 8  # any bytes: sealing is api.idempotency's job
    claimed = idempotency.claim(replace(entry(serial=1), sealed_private_key=sealed))
    assert claimed.sealed_private_key == sealed
    assert raw_item(dynamodb_table, "IDEMPOTENCY#c1", "k")["sealed_private_key"]["B"] == sealed
    assert idempotency.find("c1", "k", T0).sealed_private_key == sealed


# -- errors ------------------------------------------------------------------------------
def test_missing_table_is_one_clear_line(serialized_aws):
    with pytest.raises(StoreUnavailable) as caught:
        DynamoDBApiTable(DynamoDBTable("no-such-table", region=REGION))
    assert str(caught.value) == (
        f"DynamoDB table 'no-such-table' in {REGION} does not exist; create it with "
        "`albca aws bootstrap`"
    )


@pytest.fixture
def failing(monkeypatch):
    """Answers the next calls of the named DynamoDB operations with the given error codes."""
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.responses import DynamoHandler

    planned: dict[str, list[str]] = {}
    seen: list[tuple[str, str]] = []

    def failing_handler(operation: str):
        original = getattr(DynamoHandler, operation)

        def handler(self):
            codes = planned.get(operation, [])
            if codes:
                code = codes.pop(0)
                seen.append((operation, code))
                raise JsonRESTError(code, f"injected {code}")
            seen.append((operation, "ok"))
            return original(self)

        return handler

    for operation in ("put_item", "get_item", "transact_write_items"):
        monkeypatch.setattr(DynamoHandler, operation, failing_handler(operation))
    return planned, seen


def test_throttled_claims_and_replays_are_retried_and_written_once(dynamodb_table, failing):
    planned, seen = failing
    _, idempotency, guard = open_stores(dynamodb_table)
    planned["put_item"] = ["ProvisionedThroughputExceededException", "ThrottlingException"]
    assert idempotency.claim(entry(serial=7)).serial == 7
    assert seen == [
        ("put_item", "ProvisionedThroughputExceededException"),
        ("put_item", "ThrottlingException"),
        ("put_item", "ok"),
    ]
    planned["put_item"] = ["ProvisionedThroughputExceededException"]
    guard.use_once("1f:jti-1", T0 + timedelta(minutes=5), T0)
    with pytest.raises(RenewalTokenReplayed):  # the retry did not count as a first use
        guard.use_once("1f:jti-1", T0 + timedelta(minutes=5), T0)


def test_throttled_token_transactions_are_retried(dynamodb_table, failing):
    planned, seen = failing
    tokens = open_stores(dynamodb_table)[0]
    planned["transact_write_items"] = ["ProvisionedThroughputExceededException"]
    tokens.add(make_token())
    assert [code for op, code in seen if op == "transact_write_items"] == [
        "ProvisionedThroughputExceededException",
        "ok",
    ]
    assert [t.name for t in tokens.list()] == ["ci"]


@pytest.mark.parametrize(
    ("operation", "call", "action"),
    [
        ("get_item", lambda s: s[0].find("0" * 16), "read an API token"),
        ("transact_write_items", lambda s: s[0].add(make_token()), "add an API token"),
        ("put_item", lambda s: s[1].claim(entry()), "claim an idempotency key"),
        ("get_item", lambda s: s[1].find("c1", "k", T0), "read an idempotency key"),
        (
            "put_item",
            lambda s: s[2].use_once("k", T0 + timedelta(minutes=1), T0),
            "record a used renewal token",
        ),
    ],
)
def test_other_aws_errors_are_store_unavailable_naming_the_table(
    dynamodb_table, failing, operation, call, action
):
    planned, _ = failing
    stores = open_stores(dynamodb_table)
    planned[operation] = ["AccessDeniedException"]
    with pytest.raises(StoreUnavailable) as caught:
        call(stores)
    assert str(caught.value) == (
        f"DynamoDB table '{dynamodb_table}' in {REGION}: {action} failed: "
        "AccessDeniedException: injected AccessDeniedException"
    )
