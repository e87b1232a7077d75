"""Notices in the DynamoDB table: what scheduled maintenance announced, kept by conditional
writes so that two runs at once (two Lambda invocations, a retried one) never both send.

One item per key, ``pk = NOTICE#<key>``, ``sk = NOTICE``; no index includes it. A claim is
a put conditioned on ``attribute_not_exists(pk) OR (attribute_not_exists(sent_at) AND
claimed_until <= :now)``: DynamoDB evaluates the condition and writes atomically, so of
racing claims exactly one succeeds (AWS: "Condition expressions", DynamoDB Developer
Guide). Marking sent and releasing are conditioned on the owner, so a run whose claim ran
out and was taken over cannot undo the new owner's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError
from pynamodb.models import Model

from albca.ca.clock import to_epoch
from albca.ca.stores.dynamodb_table import DynamoDBTable, UnboundMeta, condition_failed

__all__ = ["NoticeItem", "DynamoDBNotices"]

NOTICE_SK = "NOTICE"


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
        model = self._model
        pk = f"NOTICE#{key}"
        # A strongly consistent read first: most keys asked about were sent long ago, and
        # a read costs half a write unit where a refused conditional put costs a whole one.
        with self._table.errors("read a notice"):
            try:
                held = model.get(pk, NOTICE_SK, consistent_read=True)
            except DoesNotExist:
                held = None
        if held is not None and (held.sent_at is not None or held.claimed_until > to_epoch(now)):
            return False
        item = model(pk=pk, sk=NOTICE_SK, owner=owner, claimed_until=to_epoch(now + lease))
        vacant = model.pk.does_not_exist() | (
            model.sent_at.does_not_exist() & (model.claimed_until <= to_epoch(now))
        )
        with self._table.errors("claim a notice"):
            try:
                item.save(condition=vacant)
            except PutError as exc:
                if condition_failed(exc):
                    return False
                raise
        return True

    def claim_many(
        self, keys: Sequence[str], *, owner: str, now: datetime, lease: timedelta
    ) -> set[str]:
        """``claim`` for each key. DynamoDB has no conditional batch write (BatchWriteItem
        takes no conditions; TransactWriteItems fails whole when one condition fails:
        DynamoDB Developer Guide), so each claim stays its own conditional put."""
        return {
            key for key in dict.fromkeys(keys) if self.claim(key, owner=owner, now=now, lease=lease)
        }

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
