"""``dynamodb_at_scale`` changes no answer of moto's: one script of writes and reads, run on
moto as it is and on moto with the stand-in, gets the same answer to every request.

The table has what the stand-in must get right: a global secondary index keyed by a
string and sorted by a number (with an INCLUDE projection), a sparse keys-only index, an
index with no sort key, and a local secondary index (which shares the table's partitions).
The writes move items between index partitions (an update that changes the index key, a
REMOVE that drops an item out of a sparse index), delete and overwrite items, batch-write,
and run transactions, one of which fails and must leave everything as it was.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.dynamo_type import Item

from tests.aws.moto_at_scale import dynamodb_at_scale
from tests.aws.moto_support import REGION, clean_aws_environment

TABLE = "things"


@pytest.fixture(autouse=True)
def _environment(monkeypatch):
    clean_aws_environment(monkeypatch)


def create(client) -> None:
    client.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": kind}
            for name, kind in (
                ("pk", "S"),
                ("sk", "S"),
                ("group", "S"),
                ("rank", "N"),
                ("flag", "S"),
                ("kind", "S"),
            )
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-group",
                "KeySchema": [
                    {"AttributeName": "group", "KeyType": "HASH"},
                    {"AttributeName": "rank", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["name"]},
            },
            {
                "IndexName": "by-flag",
                "KeySchema": [
                    {"AttributeName": "flag", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
            {
                "IndexName": "by-kind",
                "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "local-rank",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "rank", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )


def item(n: int) -> dict[str, Any]:
    found: dict[str, Any] = {
        "pk": {"S": f"P#{n % 4}"},
        "sk": {"S": f"{n:04d}"},
        "name": {"S": f"thing {n}"},
        "extra": {"S": "x" * (n % 7)},
    }
    if n % 3:
        found["group"] = {"S": f"g{n % 2}"}
        found["rank"] = {"N": str(100 - n)}
    if n % 5 == 0:
        found["flag"] = {"S": "open"}  # sparse: one item in five
    if n % 2:
        found["kind"] = {"S": "odd"}
    return found


def queries() -> list[dict[str, Any]]:
    """Query parameters covering each kind of partition and each part of a Query."""
    eq = "#h = :h"
    asked: list[dict[str, Any]] = []
    for pk in ("P#0", "P#1", "P#9"):  # P#9: no such partition
        asked += [
            {"KeyConditionExpression": eq, "Values": {":h": {"S": pk}}, "Names": {"#h": "pk"}},
            {
                "KeyConditionExpression": "#h = :h AND sk BETWEEN :a AND :b",
                "Values": {":h": {"S": pk}, ":a": {"S": "0004"}, ":b": {"S": "0030"}},
                "Names": {"#h": "pk"},
                "ScanIndexForward": False,
            },
            {
                "IndexName": "local-rank",
                "KeyConditionExpression": "#h = :h AND #r >= :r",
                "Values": {":h": {"S": pk}, ":r": {"N": "80"}},
                "Names": {"#h": "pk", "#r": "rank"},
            },
        ]
    for group in ("g0", "g1", "g7"):
        asked += [
            {
                "IndexName": "by-group",
                "KeyConditionExpression": "#h = :h",
                "Values": {":h": {"S": group}},
                "Names": {"#h": "group"},
            },
            {
                "IndexName": "by-group",
                "KeyConditionExpression": "#h = :h AND #r < :r",
                "Values": {":h": {"S": group}, ":r": {"N": "90"}, ":n": {"S": "thing 1"}},
                "Names": {"#h": "group", "#r": "rank"},
                "ScanIndexForward": False,
                "FilterExpression": "begins_with(#n, :n)",
                "FilterNames": {"#n": "name"},
            },
            {
                "IndexName": "by-group",
                "KeyConditionExpression": "#h = :h",
                "Values": {":h": {"S": group}},
                "Names": {"#h": "group"},
                "ProjectionExpression": "sk, #r",
                "ProjectionNames": {"#r": "rank"},
            },
        ]
    asked += [
        {
            "IndexName": "by-flag",
            "KeyConditionExpression": "flag = :h AND begins_with(sk, :p)",
            "Values": {":h": {"S": "open"}, ":p": {"S": "00"}},
        },
        {
            "IndexName": "by-kind",
            "KeyConditionExpression": "kind = :h",
            "Values": {":h": {"S": "odd"}},
            "Select": "COUNT",
        },
        {
            "IndexName": "no-such-index",
            "KeyConditionExpression": "kind = :h",
            "Values": {":h": {"S": "odd"}},
        },
    ]
    return asked


def ask(client, query: dict[str, Any], page_size: int | None) -> list[Any]:
    """Every page of one Query (``page_size`` items each), or the error it ends with."""
    params: dict[str, Any] = {
        "TableName": TABLE,
        "KeyConditionExpression": query["KeyConditionExpression"],
        "ExpressionAttributeValues": query["Values"],
    }
    names = {**query.get("Names", {}), **query.get("FilterNames", {})}
    names |= query.get("ProjectionNames", {})
    if names:
        params["ExpressionAttributeNames"] = names
    for option in ("IndexName", "ScanIndexForward", "FilterExpression", "Select"):
        if option in query:
            params[option] = query[option]
    if "ProjectionExpression" in query:
        params["ProjectionExpression"] = query["ProjectionExpression"]
    if page_size is not None:
        params["Limit"] = page_size
    pages: list[Any] = []
    while True:
        try:
            answer = client.query(**params)
        except ClientError as exc:
            return [*pages, exc.response["Error"]]
        answer.pop("ResponseMetadata")
        pages.append(answer)
        if "LastEvaluatedKey" not in answer or len(pages) > 50:
            return pages
        params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def read_everything(client) -> list[Any]:
    answers = [ask(client, query, size) for query in queries() for size in (None, 1, 3)]
    scan = client.scan(TableName=TABLE)
    scan.pop("ResponseMetadata")
    return [*answers, scan]


def key(n: int) -> dict[str, Any]:
    return {"pk": {"S": f"P#{n % 4}"}, "sk": {"S": f"{n:04d}"}}


def scenario() -> list[Any]:
    """The script: writes of every kind, each followed by every read."""
    client = boto3.client("dynamodb", region_name=REGION)
    create(client)
    seen: list[Any] = []
    for n in range(40):
        client.put_item(TableName=TABLE, Item=item(n))
    seen.append(read_everything(client))
    # An update that moves items to another group and out of the sparse index.
    for n in (1, 2, 5, 10, 11):
        client.update_item(
            TableName=TABLE,
            Key=key(n),
            UpdateExpression="SET #g = :g, #r = :r REMOVE flag",
            ExpressionAttributeNames={"#g": "group", "#r": "rank"},
            ExpressionAttributeValues={":g": {"S": "g7"}, ":r": {"N": str(n)}},
        )
    # An update that creates an item; a conditional update that fails.
    client.update_item(
        TableName=TABLE,
        Key=key(77),
        UpdateExpression="SET #g = :g, #r = :r, flag = :f",
        ExpressionAttributeNames={"#g": "group", "#r": "rank"},
        ExpressionAttributeValues={":g": {"S": "g0"}, ":r": {"N": "3"}, ":f": {"S": "open"}},
    )
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        client.update_item(
            TableName=TABLE,
            Key=key(3),
            UpdateExpression="SET #g = :g",
            ConditionExpression="attribute_not_exists(pk)",
            ExpressionAttributeNames={"#g": "group"},
            ExpressionAttributeValues={":g": {"S": "g7"}},
        )
    seen.append(read_everything(client))
    # Deletes, an overwrite that drops index keys, and a batch of puts and deletes.
    client.delete_item(TableName=TABLE, Key=key(4))
    client.delete_item(TableName=TABLE, Key=key(999))  # not there: nothing happens
    client.put_item(TableName=TABLE, Item={**key(6), "name": {"S": "bare"}})
    client.batch_write_item(
        RequestItems={
            TABLE: [{"PutRequest": {"Item": item(n)}} for n in range(40, 46)]
            + [{"DeleteRequest": {"Key": key(n)}} for n in (7, 8, 9)]
        }
    )
    seen.append(read_everything(client))
    # A transaction that succeeds, and one that fails on its last action after updating
    # and deleting others: nothing of it may remain.
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": item(50)}},
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": key(12),
                    "UpdateExpression": "SET #g = :g",
                    "ExpressionAttributeNames": {"#g": "group"},
                    "ExpressionAttributeValues": {":g": {"S": "g1"}},
                }
            },
            {"Delete": {"TableName": TABLE, "Key": key(13)}},
        ]
    )
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": key(14),
                        "UpdateExpression": "SET #g = :g, flag = :f",
                        "ExpressionAttributeNames": {"#g": "group"},
                        "ExpressionAttributeValues": {":g": {"S": "g7"}, ":f": {"S": "open"}},
                    }
                },
                {"Delete": {"TableName": TABLE, "Key": key(15)}},
                {"Put": {"TableName": TABLE, "Item": item(51)}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": key(16),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    seen.append(read_everything(client))
    client.put_item(TableName=TABLE, Item=item(14))  # after the rollback, writes still count
    seen.append(read_everything(client))
    return seen


def test_every_answer_is_motos_own():
    with mock_aws():
        expected = scenario()
    with mock_aws(), dynamodb_at_scale():
        got = scenario()
    assert len(got) == len(expected) == 5
    for step, (mine, motos) in enumerate(zip(got, expected, strict=True)):
        for number, (answer, moto_answer) in enumerate(zip(mine, motos, strict=True)):
            assert answer == moto_answer, f"step {step}, read {number}"
    # The script reads something in each case: an empty table would compare equal too.
    pages = [page for step in expected for answer in step[:-1] for page in answer]
    assert sum(page.get("Count", 0) for page in pages) > 1000
    assert any("Code" in page for page in pages)  # the unknown index is refused


def test_a_failed_transaction_keeps_its_items_out_of_the_indexes():
    with mock_aws(), dynamodb_at_scale():
        client = boto3.client("dynamodb", region_name=REGION)
        create(client)
        client.put_item(TableName=TABLE, Item=item(1))
        with pytest.raises(ClientError, match="TransactionCanceled"):
            client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": TABLE, "Item": {**item(20), "flag": {"S": "open"}}}},
                    {
                        "ConditionCheck": {
                            "TableName": TABLE,
                            "Key": key(1),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
        flagged = client.query(
            TableName=TABLE,
            IndexName="by-flag",
            KeyConditionExpression="flag = :f",
            ExpressionAttributeValues={":f": {"S": "open"}},
        )
        assert flagged["Items"] == []
        assert client.get_item(TableName=TABLE, Key=key(20)).get("Item") is None
        assert client.get_item(TableName=TABLE, Key=key(1))["Item"] == item(1)


def test_items_are_no_longer_kept_for_the_dashboard():
    with mock_aws(), dynamodb_at_scale():
        client = boto3.client("dynamodb", region_name=REGION)
        create(client)
        for n in range(5):
            client.put_item(TableName=TABLE, Item=item(n))
        client.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :h",
            ExpressionAttributeValues={":h": {"S": "P#1"}},
        )
        assert Item.instances_tracked == []
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create(client)
        client.put_item(TableName=TABLE, Item=item(1))
        assert Item.instances_tracked  # moto's own behaviour, back once the stand-in is off
