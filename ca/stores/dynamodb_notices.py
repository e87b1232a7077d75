"""Notices in the DynamoDB table: what scheduled maintenance announced, kept by conditional
writes so that two runs at once (two Lambda invocations, a retried one) never both send.

One item per key, ``pk = NOTICE#<key>``, ``sk = NOTICE``; no index includes it. A claim is
a put conditioned on ``attribute_not_exists(pk) OR (attribute_not_exists(sent_at) AND
claimed_until <= :now)``: DynamoDB evaluates the condition and writes atomically, so of
racing claims exactly one succeeds (AWS: "Condition expressions", DynamoDB Developer
Guide). Marking sent and releasing are conditioned on the owner, so a run whose claim ran
out and was taken over cannot undo the new owner's. Many claims at once
(``claim_many``) are one read and one transaction per 100 keys, under the same condition.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from albca.ca.clock import to_epoch
from albca.ca.stores.dynamodb_table import DynamoDBTable, UnboundMeta, condition_failed

__all__ = ["NoticeItem", "DynamoDBNotices"]

NOTICE_SK = "NOTICE"
_TRANSACTION_LIMIT = 100  # actions in one TransactWriteItems (DynamoDB API Reference)


class NoticeItem(Model):
    Meta = UnboundMeta  # type: ignore[assignment]  # pynamodb types Meta as a Protocol

    pk = UnicodeAttribute(hash_key=True)  # NOTICE#<key>
    sk = UnicodeAttribute(range_key=True)
    owner = UnicodeAttribute()
    claimed_until = NumberAttribute()
    sent_at = NumberAttribute(null=True)


class DynamoDBNotices:
    def __init__(self, table: DynamoDBTable) -> None:
        self._table = table
        self._model = table.bind(NoticeItem)

    def claim(self, key: str, *, owner: str, now: datetime, lease: timedelta) -> bool:
        # A strongly consistent read first: most keys asked about were sent long ago, and
        # a read costs half a write unit where a refused conditional put costs a whole one.
        with self._table.errors("read a notice"):
            try:
                held = self._model.get(f"NOTICE#{key}", NOTICE_SK, consistent_read=True)
            except DoesNotExist:
                held = None
        if held is not None and not _vacant_at(held, now):
            return False
        with self._table.errors("claim a notice"):
            try:
                self._claim_item(key, owner, now, lease).save(condition=self._vacant(now))
            except PutError as exc:
                if condition_failed(exc):
                    return False
                raise
        return True

    def claim_many(
        self, keys: Sequence[str], *, owner: str, now: datetime, lease: timedelta
    ) -> set[str]:
        """``claim`` for each key, in batches of ``_TRANSACTION_LIMIT``: one consistent
        BatchGetItem drops the keys sent or held (most keys asked about each hour were sent
        long ago), then one TransactWriteItems puts the rest, each put under the same
        condition as ``claim``'s. A transaction is all or nothing: if any condition fails
        (another run claimed one since the read) it is cancelled whole
        (TransactionCanceledException, CancellationReasons: DynamoDB API Reference,
        TransactWriteItems), and the batch falls back to one conditional put per key, so
        each key is still claimed by one owner only. BatchWriteItem takes no conditions."""
        claimed: set[str] = set()
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _TRANSACTION_LIMIT):
            batch = unique[start : start + _TRANSACTION_LIMIT]
            vacant = self._vacant_keys(batch, now) if len(batch) > 1 else batch
            if len(vacant) > 1:
                fill = functools.partial(self._put_claims, vacant, owner, now, lease)
                if not self._table.transact("claim notices", fill):
                    claimed.update(vacant)
                    continue
            claimed.update(k for k in vacant if self.claim(k, owner=owner, now=now, lease=lease))
        return claimed

    def _vacant_keys(self, keys: list[str], now: datetime) -> list[str]:
        """``keys`` less those a consistent read finds sent or held by a live claim."""
        taken = {key for key, item in self._read(keys).items() if not _vacant_at(item, now)}
        return [key for key in keys if key not in taken]

    def sent(self, keys: Sequence[str]) -> set[str]:
        """Those of ``keys`` marked sent, by consistent reads."""
        items = self._read(list(dict.fromkeys(keys))) if keys else {}
        return {key for key, item in items.items() if item.sent_at is not None}

    def _read(self, keys: list[str]) -> dict[str, NoticeItem]:
        """The items of ``keys`` that exist, by one consistent BatchGetItem (pynamodb
        splits it at 100 keys and retries the unprocessed ones)."""
        with self._table.errors("read notices"):
            return {
                item.pk.removeprefix("NOTICE#"): item
                for item in self._model.batch_get(
                    [(f"NOTICE#{key}", NOTICE_SK) for key in keys], consistent_read=True
                )
            }

    def _put_claims(
        self,
        keys: list[str],
        owner: str,
        now: datetime,
        lease: timedelta,
        transaction: TransactWrite,
    ) -> None:
        for key in keys:
            transaction.save(self._claim_item(key, owner, now, lease), condition=self._vacant(now))

    def _claim_item(self, key: str, owner: str, now: datetime, lease: timedelta) -> NoticeItem:
        return self._model(
            pk=f"NOTICE#{key}", sk=NOTICE_SK, owner=owner, claimed_until=to_epoch(now + lease)
        )

    def _vacant(self, now: datetime) -> Condition:
        """No such notice, or one never sent whose claim ran out."""
        model = self._model
        vacant: Condition = model.pk.does_not_exist() | (
            model.sent_at.does_not_exist() & (model.claimed_until <= to_epoch(now))
        )
        return vacant

    def mark_sent(self, key: str, *, owner: str, now: datetime) -> None:
        model = self._model
        item = model(pk=f"NOTICE#{key}", sk=NOTICE_SK)
        with self._table.errors("mark a notice sent"):
            try:
                item.update(
                    actions=[model.sent_at.set(to_epoch(now))], condition=model.owner == owner
                )
            except UpdateError as exc:
                if not condition_failed(exc):
                    raise

    def release(self, key: str, *, owner: str) -> None:
        model = self._model
        item = model(pk=f"NOTICE#{key}", sk=NOTICE_SK)
        with self._table.errors("release a notice"):
            try:
                item.delete(condition=(model.owner == owner) & model.sent_at.does_not_exist())
            except DeleteError as exc:
                if not condition_failed(exc):
                    raise


def _vacant_at(item: NoticeItem, now: datetime) -> bool:
    """Whether ``item`` may be claimed at ``now``: never sent, and its claim ran out."""
    return item.sent_at is None and item.claimed_until <= to_epoch(now)
