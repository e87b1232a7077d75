"""moto's DynamoDB for long simulations: the same answers, without the costs that grow with
the table.

Three costs of moto 5.2's DynamoDB grow with the number of items a table holds; real
DynamoDB has none of them, and a simulation of 2,160 hourly maintenance runs (whose audit
trail grows by a few items a run) spent most of its time and memory in them:

1. A Query gathers its candidates from ``Table.all_items()``: every item of the table,
   sorted, then kept if it is in the asked partition (``moto/dynamodb/models/table.py``,
   ``Table.query``), for a Query of the table and of an index alike.
2. ``TransactWriteItems`` deep-copies every table it names before applying anything, to
   put the copy back if an action fails (``DynamoDBBackend.transact_write_items``).
3. Every moto model object (``moto.core.common_models.BaseModel``: items, tables, indexes)
   is appended to its class's ``instances_tracked`` list, for moto's dashboard, and kept
   until the mock is reset: every copied table of (2) and every item a Query copied.

``dynamodb_at_scale()`` removes the three; moto's own code still answers every request:

1. A Query's candidates come from the asked partition alone, found by key: the table's own
   partition (moto's ``Table.items`` is keyed by partition key already), or for a global
   secondary index a map, kept here, from the index's partition key value to the keys of
   the items that carry it. Two documented rules make that partition a superset of what
   moto's own loop keeps, so moto's answer is unchanged:

   - "You must specify the partition key name and value as an equality condition"
     (DynamoDB Developer Guide, "Key condition expressions for the Query operation"):
     every item a Query returns is in one partition of the table or of the index.
   - "Global secondary indexes are sparse by default ... Only items in the base table
     that contain those attributes appear in the index" (Developer Guide, "Take advantage
     of sparse indexes"): an item lacking the index's partition key is in none of its
     partitions, and is not in the map.

   Everything else a Query does is moto's code, run unchanged on those candidates: the
   sort-key condition, the order ("Query results are always sorted by the sort key value
   ... To reverse the order, set the ScanIndexForward parameter to false", same page),
   ``Limit`` and ``ExclusiveStartKey`` paging with ``LastEvaluatedKey``, the 1 MB page,
   the projection of the index and ``ProjectionExpression``, and ``FilterExpression``.
   The map follows every write moto makes to an item (``Table.put_item``,
   ``Table.delete_item``, and ``DynamoDBBackend.update_item``, which changes an item in
   place); a table object it has not seen (a fresh table, or the copy a failed
   transaction put back) gets its map built anew from all its items on its first index
   Query.
2. The copy a transaction keeps for its rollback is shallow except for the items the
   transaction names: "These actions can target up to 100 distinct items" and "no two
   actions can target the same item" (Developer Guide, "Amazon DynamoDB Transactions: How
   it works"); each action touches only the item its key names, so putting back the copies
   of those items puts back everything the transaction changed ("either all of them
   succeed or none of them succeeds", same page).
3. DynamoDB's model classes stop tracking instances (only moto's dashboard reads them).

``tests/aws/test_moto_at_scale.py`` asks moto the same questions with and without this
on one table and compares every answer, so this cannot drift from moto's own semantics.
"""

from __future__ import annotations

import contextvars
import copy
import inspect
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

__all__ = ["dynamodb_at_scale"]

_MAPS = "_albca_partition_maps"  # attribute of a moto Table: its index partition maps
_Key = tuple[DynamoType, DynamoType | None]  # an item's (partition key, sort key)
# The candidates of the Query being answered, by table: read by ``all_items`` (per thread).
_NARROWED: contextvars.ContextVar[tuple[Table, list[Item]] | None] = contextvars.ContextVar(
    "narrowed", default=None
)
# Per table name, the keys a running transaction names (None: unknown, copy everything).
_TOUCHED: contextvars.ContextVar[dict[str, set[_Key] | None] | None] = contextvars.ContextVar(
    "touched", default=None
)
_LOCK = threading.RLock()


class _PartitionMaps:
    """Per index partition-key attribute: value -> keys of the items carrying it, and the
    reverse (key -> value), so a write can move an item from one partition to another."""

    def __init__(self) -> None:
        self.forward: dict[str, dict[DynamoType, set[_Key]]] = {}
        self.reverse: dict[str, dict[_Key, DynamoType]] = {}

    def keys(self, table: Table, attribute: str, value: DynamoType) -> set[_Key]:
        if attribute not in self.forward:
            self._build(table, attribute)
        return self.forward[attribute].get(value, set())

    def _build(self, table: Table, attribute: str) -> None:
        forward: dict[DynamoType, set[_Key]] = defaultdict(set)
        reverse: dict[_Key, DynamoType] = {}
        for item in _every_item(table):
            value = item.attrs.get(attribute)
            if value is not None:
                key = (item.hash_key, item.range_key)
                forward[value].add(key)
                reverse[key] = value
        self.forward[attribute] = dict(forward)
        self.reverse[attribute] = reverse

    def written(self, table: Table, key: _Key) -> None:
        """Put ``key`` in the partitions its item (as it is now, or gone) belongs to."""
        item = _lookup(table, key)
        for attribute, forward in self.forward.items():
            old = self.reverse[attribute].pop(key, None)
            if old is not None:
                forward[old].discard(key)
            new = item.attrs.get(attribute) if item is not None else None
            if new is not None:
                forward.setdefault(new, set()).add(key)
                self.reverse[attribute][key] = new


def _every_item(table: Table) -> Iterator[Item]:
    for partition in table.items.values():
        if isinstance(partition, dict):
            yield from partition.values()
        elif isinstance(partition, Item):
            yield partition


def _lookup(table: Table, key: _Key) -> Item | None:
    """The item under ``key``, without the empty partition a lookup in moto's defaultdict
    would leave behind."""
    hash_key, range_key = key
    partition = table.items.get(hash_key)
    if isinstance(partition, dict):
        return partition.get(range_key) if range_key is not None else None
    return partition if isinstance(partition, Item) else None


def _maps(table: Table) -> _PartitionMaps:
    maps = table.__dict__.get(_MAPS)
    if maps is None:
        maps = table.__dict__[_MAPS] = _PartitionMaps()
    return maps


def _written(table: Table, key: _Key) -> None:
    maps = table.__dict__.get(_MAPS)
    if maps is not None:  # no map yet: it is built from the items when first asked for
        maps.written(table, key)


def _candidates(
    table: Table,
    hash_key: DynamoType | None,
    index_name: str | None,
    hash_key_conditions: list[tuple[str, DynamoType]] | None,
) -> list[Item] | None:
    """The items of the asked partition; None where moto's full loop must answer (what
    moto rejects, or a Query this cannot place)."""
    if index_name is None:
        if hash_key is None:
            return None
        partition = table.items.get(hash_key)
        if isinstance(partition, dict):
            found = list(partition.values())
        else:
            found = [partition] if isinstance(partition, Item) else []
    else:
        index = {i.name: i for i in table.all_indexes()}.get(index_name)
        if index is None:
            return None
        hash_attributes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
        asked = dict(hash_key_conditions or [])
        if not hash_attributes or hash_attributes[0] not in asked:
            return None
        attribute, value = hash_attributes[0], asked[hash_attributes[0]]
        if attribute == table.hash_key_attr:  # the index shares the table's partitions
            return _candidates(table, value, None, None)
        keys = _maps(table).keys(table, attribute, value)
        found = [item for key in keys if (item := _lookup(table, key)) is not None]
    # In ``all_items``' own order, so moto sorts the same list it would have sorted.
    return sorted(found, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)


def _query(original: Any) -> Any:
    signature = inspect.signature(original)

    def query(self: Table, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs).arguments
        with _LOCK:
            candidates = _candidates(
                self,
                bound.get("hash_key"),
                bound.get("index_name"),
                bound.get("hash_key_conditions"),
            )
        if candidates is None:
            return original(self, *args, **kwargs)
        token = _NARROWED.set((self, candidates))
        try:
            return original(self, *args, **kwargs)
        finally:
            _NARROWED.reset(token)

    return query


def _all_items(original: Any) -> Any:
    def all_items(self: Table) -> list[Item]:
        narrowed = _NARROWED.get()
        if narrowed is not None and narrowed[0] is self:
            return narrowed[1]
        result: list[Item] = original(self)
        return result

    return all_items


def _put_item(original: Any) -> Any:
    def put_item(self: Table, *args: Any, **kwargs: Any) -> Any:
        item = original(self, *args, **kwargs)
        with _LOCK:
            _written(self, (item.hash_key, item.range_key))
        return item

    return put_item


def _delete_item(original: Any) -> Any:
    def delete_item(self: Table, hash_key: DynamoType, range_key: DynamoType | None) -> Any:
        try:
            return original(self, hash_key, range_key)
        finally:
            with _LOCK:
                _written(self, (hash_key, range_key))

    return delete_item


def _update_item(original: Any) -> Any:
    def update_item(self: DynamoDBBackend, table_name: str, key: Any, *args: Any, **kw: Any) -> Any:
        try:
            return original(self, table_name, key, *args, **kw)
        finally:  # an update changes the item in place, even one that fails half-way
            table = self.tables.get(table_name)
            if table is not None and isinstance(key, dict):
                try:
                    written = self.get_keys_value(table, key)
                except Exception:  # a malformed key: moto refused it, nothing was written
                    written = None
                if written is not None:
                    with _LOCK:
                        _written(table, written)

    return update_item


def _transact_write_items(original: Any) -> Any:
    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> Any:
        touched: dict[str, set[_Key] | None] = {}
        for action in transact_items:
            _, op = next(iter(action.items()))
            name = op.get("TableName")
            table = self.tables.get(name)
            if table is None:
                continue
            try:
                keys = op["Item"] if "Item" in op else op["Key"]
                key = self.get_keys_value(table, keys)
            except Exception:  # malformed: moto refuses it; keep its whole copy then
                touched[name] = None
                continue
            if name not in touched or touched[name] is not None:
                touched.setdefault(name, set()).add(key)  # type: ignore[union-attr]
        token = _TOUCHED.set(touched)
        try:
            return original(self, transact_items)
        finally:
            _TOUCHED.reset(token)

    return transact_write_items


def _table_deepcopy(self: Table, memo: dict[int, Any]) -> Table:
    """A transaction's rollback copy: the touched items copied, every other one shared.
    Any other deep copy of a table (moto's backups) is a whole one, as before."""
    touched = _TOUCHED.get()
    keys = touched.get(self.name) if touched is not None else None
    clone = copy.copy(self)
    memo[id(self)] = clone
    if keys is None:
        clone.__dict__.update(copy.deepcopy(self.__dict__, memo))
        clone.__dict__.pop(_MAPS, None)
        return clone
    clone.__dict__.pop(_MAPS, None)  # rebuilt from the items if this copy is put back
    items: defaultdict[Any, Any] = defaultdict(dict)
    for hash_key, partition in self.items.items():
        items[hash_key] = dict(partition) if isinstance(partition, dict) else partition
    for key in keys:
        item = _lookup(self, key)
        if item is None:
            continue
        hash_key, range_key = key
        if isinstance(items[hash_key], dict) and range_key is not None:
            items[hash_key][range_key] = copy.deepcopy(item)
        else:
            items[hash_key] = copy.deepcopy(item)
    clone.items = items
    return clone


class _NotKept(list):  # type: ignore[type-arg]
    """An ``instances_tracked`` that keeps nothing."""

    def append(self, _instance: Any) -> None:
        return None


def _tracked_model_classes() -> list[type]:
    found: dict[type, None] = {}
    for module in (dynamodb_models, dynamodb_models.table, dynamodb_models.dynamo_type):
        for value in vars(module).values():
            tracked = isinstance(value, type) and "instances_tracked" in vars(value)
            if tracked and value.__module__.startswith("moto.dynamodb"):
                found[value] = None
    return list(found)


@contextmanager
def dynamodb_at_scale() -> Iterator[None]:
    """Within a moto mock: Queries answered from their partition, transactions that copy
    only what they touch, and DynamoDB's model objects no longer tracked."""
    with ExitStack() as stack:
        patches: list[tuple[type, str, Any]] = [
            (Table, "query", _query(Table.query)),
            (Table, "all_items", _all_items(Table.all_items)),
            (Table, "put_item", _put_item(Table.put_item)),
            (Table, "delete_item", _delete_item(Table.delete_item)),
            (Table, "__deepcopy__", _table_deepcopy),
            (DynamoDBBackend, "update_item", _update_item(DynamoDBBackend.update_item)),
            (
                DynamoDBBackend,
                "transact_write_items",
                _transact_write_items(DynamoDBBackend.transact_write_items),
            ),
        ]
        patches += [(cls, "instances_tracked", _NotKept()) for cls in _tracked_model_classes()]
        for owner, name, value in patches:
            stack.enter_context(mock.patch.object(owner, name, value, create=True))
        stack.callback(_forget_maps)
        yield


def _forget_maps() -> None:
    """Writes made after this are not followed: drop every map."""
    for regions in dynamodb_backends.values():
        for backend in regions.values():
            for table in backend.tables.values():
                table.__dict__.pop(_MAPS, None)
