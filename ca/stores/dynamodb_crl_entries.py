"""A DynamoDB issuer's CRL entries: DER-encoded when a certificate is revoked, packed by
the day its certificate expires, and read back as one run of bytes (issue 17, point 3).

Why packed. A Query returns at most 1 MB per request, counted by the items' sizes, key and
attribute names included (DynamoDB Developer Guide, "Query" and "Item sizes and formats";
a binary value counts its raw bytes, not its base64). One item per revocation, as the
``REVOKED#`` items were, is about 200 bytes for a 53-byte entry: 500,000 entries are some
100 MB of items, about 100 requests. Packed, an entry costs its DER and 3 bytes of expiry,
and the keys are paid once per pack: about 28 MB, some 30 requests. And botocore decodes
one base64 value per pack instead of one per entry.

A pack: ``CRLENTRIES#<issuer>`` / ``<last second of a UTC day, 12 digits>#<level><slot>``,
where the certificates of its entries expire that day. Level 0 has ``SLOTS`` packs a day,
and an entry's slot is its serial modulo ``SLOTS`` (serials are random, so a day's
revocations spread over the slots). A revocation whose level-0 pack is full tries its pack
of level 1, which has twice as many slots, and so on up to ``LEVELS``: a day with few
revocations costs one pack read per revocation, and a day of a whole fleet's certificates
(a batch issued at once, revoked at once) still packs hundreds of thousands of entries,
reading a few more packs per revocation. A pack holds the entries (``entries``, DER one
after another), each entry's expiry as seconds after the day's start (``expiries``, 3
bytes each, in the same order) and how many (``count``).

Atomic and race-free. A revocation reads its pack (strongly consistently) and puts it back
with its entry appended, in the revocation's own transaction, on the condition that
``count`` is still what it read (``attribute_not_exists`` for a new pack): of two
revocations appending to one pack at once, one commits and the other's whole transaction is
cancelled; that one tries again and, to be sure of progress, writes a ``REVOKED#`` item of
its own. So does a revocation whose packs are full on every level: a pack stays under
``PACK_BYTES``, which keeps each revocation's write at a few write units (a write is billed
for the whole item, the larger of before and after: DynamoDB Developer Guide, "Capacity
unit consumption for write operations") and far below the 400 KB item limit.

Reading. A CRL reads the packs whose day has not ended (``sk >= now``, a key range, so
expired days cost nothing once past) and the ``REVOKED#`` items, both with
``ConsistentRead``. A pack's entries go into the CRL as they are, except the pack of today,
whose entries are kept only if their certificates have not expired (RFC 5280 section
3.3 lets them go once expired; the SQLite store drops them at ``not_after`` too).

Tables written before this change. ``REVOKED#`` items without ``entry`` are encoded as they
are read. Revocations from before issue 12 are only in the revoked index: until an issuer's
counter is marked ``entries_complete`` a CRL reads the index too, and the first ``next_crl``
copies what only the index holds into ``REVOKED#`` items and sets the mark (``complete``):
later CRLs skip the index. The mark assumes no writer older than issue 12 (which wrote no
``REVOKED#`` item) still runs against the table. Older readers (issue 12) see packed
revocations through the revoked index, which the certificate items still feed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from albca.ca.der.crl_entries import EncodedEntries, encode_entries, encode_entry, entry_spans
from albca.ca.records import RevokedEntry
from albca.ca.stores.dynamodb_models import CRL_NUMBER_SK, BoundModels
from albca.ca.stores.dynamodb_table import DynamoDBTable

__all__ = ["SLOTS", "LEVELS", "PACK_BYTES", "CrlEntries", "Listing", "Pack", "pack_keys"]

SLOTS = 64
"""Level-0 packs per day and issuer; level ``k`` has ``SLOTS << k``. Part of the data
format: a pack's key holds its level and slot."""

LEVELS = 6
"""Levels of packs a revocation tries before an item of its own: 4,032 packs a day."""

PACK_BYTES = 8 * 1024
"""At most this many bytes of entries and expiries in one pack (about 140 entries)."""

_DAY = 86_400
_EXPIRY_BYTES = 3  # seconds after the day's start: below 86,400 < 2**24
# Items per Query page; None lets DynamoDB fill 1 MB pages (tests set it to see paging).
PAGE_ITEMS: int | None = None
# What a CRL reads of each item. A projection leaves a page's 1 MB as it is (counted before
# it, "Query"), but botocore parses every attribute it is sent, structure by structure:
# the partition key and TTL left out are a third of that parsing at 500,000 entries.
_PACK_READ = ["sk", "entries", "expiries", "count"]
_SINGLE_READ = ["sk", "revoked_at", "revocation_reason", "entry"]


def pack_keys(not_after: int, serial: int) -> list[str]:
    """The sort keys of the packs an entry may go to, in the order tried: its day's last
    second, then a level and the serial's slot on that level."""
    not_after = max(not_after, 0)
    day_end = not_after - not_after % _DAY + _DAY - 1
    return [f"{day_end:012d}#{level}{serial % (SLOTS << level):04x}" for level in range(LEVELS)]


@dataclass(frozen=True)
class Pack:
    """One pack's content: the entries' DER, their expiries, how many."""

    key: str
    entries: bytes = b""
    expiries: bytes = b""
    count: int = 0

    @property
    def day_end(self) -> int:
        return int(self.key.split("#", 1)[0])

    def has_room_for(self, entry: bytes) -> bool:
        size = len(self.entries) + len(self.expiries) + len(entry) + _EXPIRY_BYTES
        return size <= PACK_BYTES

    def with_entry(self, entry: bytes, not_after: int) -> Pack:
        offset = max(not_after, 0) - (self.day_end - _DAY + 1)
        return Pack(
            self.key,
            self.entries + entry,
            self.expiries + offset.to_bytes(_EXPIRY_BYTES, "big"),
            self.count + 1,
        )

    def unexpired(self, now: int) -> tuple[bytes, int]:
        """The DER of the entries whose certificates have not expired by ``now``, and how
        many they are."""
        day_start = self.day_end - _DAY + 1
        if day_start > now:  # the whole day is still ahead: every entry, as it is
            return self.entries, self.count
        size = _EXPIRY_BYTES
        expiries = [
            int.from_bytes(self.expiries[at : at + size], "big")
            for at in range(0, len(self.expiries), size)
        ]
        kept = [
            self.entries[start:end]
            for (start, end), offset in zip(entry_spans(self.entries), expiries, strict=True)
            if day_start + offset > now
        ]
        return b"".join(kept), len(kept)

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> Pack:
        return cls(
            raw["sk"]["S"], raw["entries"]["B"], raw["expiries"]["B"], int(raw["count"]["N"])
        )


class CrlEntries:
    """The CRL entries of every issuer in one table: written with each revocation, read by
    each CRL."""

    def __init__(self, table: DynamoDBTable, models: BoundModels, retention: int | None) -> None:
        self._table = table
        self._models = models
        self._retention = retention

    # -- writing, in the revocation's transaction -------------------------------------
    def listing(
        self, issuer_key_id: str, serial: int, not_after: int, entry: bytes, *, packed: bool
    ) -> Listing:
        """How a revocation lists its ``entry``: when ``packed``, appended to the first of
        its packs with room (each read now, strongly consistently), else in a ``REVOKED#``
        item."""
        for key in pack_keys(not_after, serial) if packed else []:
            pack = self._pack(issuer_key_id, key)
            if pack.has_room_for(entry):
                return Listing(self, issuer_key_id, serial, not_after, entry, pack)
        return Listing(self, issuer_key_id, serial, not_after, entry, None)

    def _pack(self, issuer_key_id: str, key: str) -> Pack:
        with self._table.errors("read a CRL entry pack"):
            raw = self._models.crl_entries._get_connection().get_item(
                f"CRLENTRIES#{issuer_key_id}", key, consistent_read=True
            )
        item = raw.get("Item")
        return Pack.from_raw(item) if item else Pack(key)

    def _expires_at(self, moment: int) -> int | None:
        return None if self._retention is None else moment + self._retention

    # -- reading -----------------------------------------------------------------------
    def read(self, issuer_key_id: str, now: int, *, complete: bool) -> EncodedEntries:
        """The entries of ``issuer_key_id``'s certificates unexpired at ``now``. Unless
        ``complete`` (the issuer's counter carries the mark), the revoked index is read
        first, and everything is decoded and merged by serial (the slow path)."""
        legacy = [] if complete else [entry for entry, _ in self._index(issuer_key_id, now + 1)]
        parts: list[bytes] = []
        count = 0
        for pack in self._packs(issuer_key_id, now + 1):
            der, held = pack.unexpired(now)
            parts.append(der)
            count += held
        values: list[RevokedEntry] = []
        for raw in self._singles(issuer_key_id, now + 1):
            if "entry" in raw:
                parts.append(raw["entry"]["B"])
                count += 1
            else:  # written before issue 17: encoded here
                values.append(_single_entry(raw))
        if values:
            parts.append(encode_entries(values).der)
            count += len(values)
        if legacy:
            merged = {entry.serial: entry for entry in legacy}
            merged.update((entry.serial, entry) for entry in EncodedEntries(b"".join(parts), 0))
            return encode_entries(merged.values())
        return EncodedEntries(b"".join(parts), count)

    def complete(self, issuer_key_id: str) -> None:
        """Copy into ``REVOKED#`` items the revocations only the revoked index holds, then
        mark the issuer's counter: later CRLs read the two partitions alone.

        The index is read before the partitions. A revocation the index shows committed
        before that read, so the strongly consistent partition reads that follow see it
        if it is there: nothing is copied twice. Every revocation the index holds is copied,
        expired or not, so the mark holds whatever ``now`` a later CRL is signed at."""
        in_index = self._index(issuer_key_id, 0)
        listed = {entry.serial for entry in self.read(issuer_key_id, -1, complete=True)}
        model = self._models.revocation
        counter = self._models.counter
        with self._table.errors("copy revocations from the revoked index"):
            with model.batch_write() as batch:
                for entry, not_after in in_index:
                    if entry.serial in listed:
                        continue
                    batch.save(
                        model(
                            pk=f"REVOKED#{issuer_key_id}",
                            sk=_single_key(not_after, entry.serial),
                            revoked_at=entry.revoked_at,
                            revocation_reason=entry.reason,
                            expires_at=self._expires_at(not_after),
                            entry=encode_entry(*entry),
                        )
                    )
            item = counter(pk=f"CRLNUMBER#{issuer_key_id}", sk=CRL_NUMBER_SK)
            item.update(actions=[counter.entries_complete.set(1)])

    def _index(self, issuer_key_id: str, not_before: int) -> list[tuple[RevokedEntry, int]]:
        """Revocations in the revoked index (eventually consistent) whose certificates
        expire at ``not_before`` or later, each with its certificate's ``not_after``."""
        certificate = self._models.certificate
        found = []
        with self._table.errors("read revoked certificates"):
            for raw in pages(
                certificate._get_connection(),
                issuer_key_id,
                certificate.expiry_key >= f"{not_before:012d}",
                index_name=certificate.revoked.Meta.index_name,
            ):
                expiry_key = raw["expiry_key"]["S"]
                found.append((_single_entry(raw, key="expiry_key"), int(expiry_key[:12])))
        return found

    def _packs(self, issuer_key_id: str, not_before: int) -> Iterator[Pack]:
        model = self._models.crl_entries
        with self._table.errors("read CRL entries"):
            for raw in pages(
                model._get_connection(),
                f"CRLENTRIES#{issuer_key_id}",
                model.sk >= f"{max(not_before, 0):012d}",
                consistent_read=True,
                attributes_to_get=_PACK_READ,
            ):
                yield Pack.from_raw(raw)

    def _singles(self, issuer_key_id: str, not_before: int) -> Iterator[dict[str, Any]]:
        model = self._models.revocation
        with self._table.errors("read revoked certificates"):
            yield from pages(
                model._get_connection(),
                f"REVOKED#{issuer_key_id}",
                model.sk >= f"{max(not_before, 0):012d}",
                consistent_read=True,
                attributes_to_get=_SINGLE_READ,
            )


@dataclass(frozen=True)
class Listing:
    """Where one revocation's entry goes, and the write that puts it there."""

    entries: CrlEntries
    issuer_key_id: str
    serial: int
    not_after: int
    entry: bytes
    pack: Pack | None  # None: a REVOKED# item of its own

    @property
    def packed(self) -> bool:
        return self.pack is not None

    def write(self, transaction: TransactWrite, revoked_at: int, reason: int) -> None:
        models = self.entries._models
        expires_at = self.entries._expires_at
        if self.pack is None:
            transaction.save(
                models.revocation(
                    pk=f"REVOKED#{self.issuer_key_id}",
                    sk=_single_key(self.not_after, self.serial),
                    revoked_at=revoked_at,
                    revocation_reason=reason,
                    expires_at=expires_at(self.not_after),
                    entry=self.entry,
                )
            )
            return
        model = models.crl_entries
        grown = self.pack.with_entry(self.entry, self.not_after)
        # Appended only if no one appended since the read: see the module's docstring.
        unchanged: Condition = (
            model.held == self.pack.count if self.pack.count else model.pk.does_not_exist()
        )
        transaction.save(
            model(
                pk=f"CRLENTRIES#{self.issuer_key_id}",
                sk=grown.key,
                entries=grown.entries,
                expiries=grown.expiries,
                held=grown.count,
                expires_at=expires_at(grown.day_end),
            ),
            condition=unchanged,
        )


def _single_key(not_after: int, serial: int) -> str:
    """A ``REVOKED#`` item's sort key: the certificate's ``expiry_key``."""
    return f"{max(not_after, 0):012d}#{serial:040x}"


def _single_entry(raw: dict[str, Any], key: str = "sk") -> RevokedEntry:
    return RevokedEntry(
        int(raw[key]["S"].split("#", 1)[1], 16),
        int(raw["revoked_at"]["N"]),
        int(raw["revocation_reason"]["N"]),
    )


def pages(
    connection: Any, hash_key: str, condition: Condition, **options: Any
) -> Iterator[dict[str, Any]]:
    """Every item of a Query, page after page, as botocore returns them (no models: a CRL
    can hold 500,000 entries)."""
    start: dict[str, Any] | None = None
    while True:
        page = connection.query(
            hash_key,
            range_key_condition=condition,
            exclusive_start_key=start,
            limit=PAGE_ITEMS,
            **options,
        )
        yield from page.get("Items", [])
        start = page.get("LastEvaluatedKey")
        if not start:
            return
