"""A DynamoDB whose global secondary indexes lag behind the table, as real ones do.

moto applies a write to every index at once (AWS_NOTES.md). Real DynamoDB does not, and
code that trusts an index to hold its own latest writes is wrong only in AWS. This double
sits in front of moto and states the rules itself, from the DynamoDB Developer Guide:

- "Global secondary indexes support eventually consistent reads only" and "Strongly
  consistent reads are not supported on global secondary indexes": a Query of an index
  with ``ConsistentRead`` is a ``ValidationException`` ("Using Global Secondary Indexes in
  DynamoDB", "Reading data from a global secondary index").
- "When you write an item into a table, DynamoDB propagates the write to the global
  secondary indexes asynchronously ... the index might not reflect the latest write"
  (same page, "Data synchronization between tables and global secondary indexes"), and an
  eventually consistent read "might not reflect the results of a recently completed
  write operation" ("Read consistency"). Here: an item written less than ``lag`` seconds
  ago is missing from each index Query with probability ``miss`` (replicas catch up at
  different moments, so one Query can see it and the next not).

Reads of the table itself (GetItem, Query without IndexName) are moto's, unchanged:
strongly consistent when asked, and in moto always up to date.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from moto.core.botocore_stubber import BotocoreStubber

_TARGET = "DynamoDB_20120810."


class LaggingIndexes:
    def __init__(self, *, lag: float, miss: float, seed: int = 12) -> None:
        self.lag = lag
        self.miss = miss
        self._random = random.Random(seed)
        self._written: dict[tuple[str, str], float] = {}  # (pk, sk) -> when last written
        self._lock = threading.Lock()
        self.hidden = 0  # index items this double left out of answers

    def written(self, keys: list[dict[str, Any]]) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._written[(key["pk"]["S"], key["sk"]["S"])] = now

    def lagging(self, item: dict[str, Any]) -> bool:
        key = (item["pk"]["S"], item["sk"]["S"])  # an index always projects the table's keys
        with self._lock:
            at = self._written.get(key)
            if at is None or time.monotonic() - at >= self.lag:
                return False
            hide = self._random.random() < self.miss
            self.hidden += hide
            return hide


def _written_keys(operation: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    if operation == "PutItem":
        return [body["Item"]]
    if operation in ("UpdateItem", "DeleteItem"):
        return [body["Key"]]
    if operation == "TransactWriteItems":
        keys = []
        for action in body["TransactItems"]:
            if "Put" in action:
                keys.append(action["Put"]["Item"])
            elif "Update" in action:
                keys.append(action["Update"]["Key"])
            elif "Delete" in action:
                keys.append(action["Delete"]["Key"])
        return keys
    if operation == "BatchWriteItem":
        return [
            request.get("PutRequest", {}).get("Item") or request["DeleteRequest"]["Key"]
            for requests in body["RequestItems"].values()
            for request in requests
        ]
    return []


@contextmanager
def lagging_indexes(*, lag: float = 5.0, miss: float = 0.5) -> Iterator[LaggingIndexes]:
    """Within a moto mock: index Queries answered as a lagging index would."""
    state = LaggingIndexes(lag=lag, miss=miss)
    original = BotocoreStubber.process_request

    def process_request(self: BotocoreStubber, request: Any) -> Any:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        if not target.startswith(_TARGET):
            return original(self, request)
        operation = target.removeprefix(_TARGET)
        body = json.loads(request.body or b"{}")
        if operation == "Query" and body.get("IndexName") and body.get("ConsistentRead"):
            error = {
                "__type": "com.amazonaws.dynamodb.v20120810#ValidationException",
                "message": "Consistent reads are not supported on global secondary indexes",
            }
            return 400, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(error)
        response = original(self, request)
        if response is None:
            return response
        status, headers, answer = response
        if status == 200:
            state.written(_written_keys(operation, body))
        if operation == "Query" and body.get("IndexName") and status == 200:
            parsed = json.loads(answer)
            items = [item for item in parsed.get("Items", []) if not state.lagging(item)]
            parsed["Items"] = items
            parsed["Count"] = len(items)
            answer = json.dumps(parsed)
        return status, headers, answer

    with mock.patch.object(BotocoreStubber, "process_request", process_request):
        yield state
