"""The DynamoDB backend of the certificate store: for a CA with no local state.

Many writers at once (several Lambda instances, several API workers) are safe because
every rule of the store Protocol is kept by DynamoDB itself, never by a lock here:

- a certificate and its audit event are one ``TransactWriteItems``: both or neither;
- a serial is written with ``attribute_not_exists(pk)``: the second writer of a serial
  is refused (``DuplicateSerial``), whatever the timing;
- a revocation is an update conditioned on ``status = "valid"``: exactly one of several
  concurrent revocations succeeds, the others find the certificate revoked
  (``AlreadyRevoked``) and write nothing;
- a CRL number is an atomic ``ADD 1`` on a counter item, so no two CRLs of one issuer
  share a number. A botocore retry of a request whose answer was lost may skip a number;
  RFC 5280 (section 5.2.3) only asks that numbers increase;
- a CRL's entries are read strongly consistently between reading the counter item and
  moving its number on conditionally (``next_crl``): a CRL numbered higher reads after a
  lower-numbered one was taken, so it lists every revocation that one listed;
- a revocation's CRL entry is encoded when it is revoked and packed with the entries of
  certificates expiring the same day, in the revocation's transaction and on a condition
  (``ca.stores.dynamodb_crl_entries``): a CRL of 500,000 entries is some 30 Query pages.

Retries and errors: ``ca.stores.dynamodb_table``, shared with the API's stores. Throttling and
transient errors are retried by botocore with backoff; a transaction is applied once
however often it is retried; a transaction cancelled by a conflicting one is tried again.
Every AWS and pynamodb error becomes a ``StoreUnavailable`` naming the table, in one place
(``DynamoDBTable.translate``).

Ageing out. Each certificate item carries ``expires_at`` = ``not_after`` + the retention
period; with DynamoDB TTL enabled on that attribute (``albca aws bootstrap`` does it),
DynamoDB deletes the item some time (typically within days) after that moment. A CRL
never needs such a record: an expired certificate leaves the CRL at ``not_after``
(RFC 5280 section 3.3). Once deleted, a record no longer shows in listings or in
``issuer_counts``; its audit events are kept. ``retention=None`` keeps records forever.

Indexes are eventually consistent: a certificate shows up in listings a moment (usually
well under a second) after it is issued. Reads by serial are strongly consistent.
"""

from __future__ import annotations

import heapq
import json
import secrets
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.transactions import TransactWrite

from albca.ca.clock import from_epoch, to_epoch
from albca.ca.der.crl_entries import encode_entry
from albca.ca.errors import (
    AlreadyRevoked,
    CertificateNotFound,
    DuplicateSerial,
    InvalidRequest,
    InvalidSerial,
    StoreUnavailable,
)
from albca.ca.records import (
    AuditEvent,
    AuthorityRecord,
    AuthorityRole,
    AuthorityStatus,
    CertificatePage,
    CertificateQuery,
    CertificateRecord,
    CertificateStatus,
    EffectiveStatus,
    RevocationReason,
    RevokedEntry,
    decode_cursor,
    encode_cursor,
)
from albca.ca.stores.dynamodb_crl_entries import CrlEntries, Listing
from albca.ca.stores.dynamodb_models import (
    AUTHORITY_PK,
    CERT_SK,
    CRL_NUMBER_SK,
    KEPT_CRL_SK,
    SHARDS,
    AuditItem,
    AuthorityItem,
    CertificateItem,
    CounterItem,
    KeptCrlItem,
    bind_models,
    index_names,
)
from albca.ca.stores.dynamodb_notices import DynamoDBNotices
from albca.ca.stores.dynamodb_table import DynamoDBTable, backoff, condition_failed
from albca.ca.stores.protocol import CrlSnapshot, CrlState, IssuerCounts, KeptCrl

__all__ = ["DynamoDBStore", "DEFAULT_RETENTION"]

DEFAULT_RETENTION = timedelta(days=365)

_VALID = CertificateStatus.VALID.value
_REVOKED = CertificateStatus.REVOKED.value
_MAX_SERIAL_HEX = "f" * 40
_SERIAL_LIMIT = 16**40
_ID_ATTEMPTS = 4
# Attempts at taking a CRL number while other writers move the counter (``next_crl``).
_CRL_ATTEMPTS = 10
# A kept CRL must fit in one item (400 KB with its attribute names, DynamoDB Developer
# Guide, "Service, account, and table quotas"): about 9,000 entries.
_KEPT_CRL_BYTES = 380_000


class DynamoDBStore:
    """``CertificateStore`` over one DynamoDB table (see ``ca.stores.dynamodb_models``)."""

    # TransactWriteItems takes at most 100 actions (a record and its audit event each) and
    # 4 MB in all; 3 MiB of records leaves room for attribute names and encoding.
    batch_limit = 50
    batch_bytes = 3 * 2**20

    def __init__(
        self,
        table_name: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        retention: timedelta | None = DEFAULT_RETENTION,
        max_retry_attempts: int = 8,
    ) -> None:
        if retention is not None and retention < timedelta(0):
            raise ValueError("retention must not be negative")
        self._table = DynamoDBTable(
            table_name,
            region=region,
            endpoint_url=endpoint_url,
            max_retry_attempts=max_retry_attempts,
        )
        self.table_name = table_name
        self.region = region
        self._retention = None if retention is None else int(retention.total_seconds())
        self._models = bind_models(self._table)
        self._ids = _AuditIds()
        self._notices = DynamoDBNotices(self._table)
        self._crl_entries = CrlEntries(self._table, self._models, self._retention)
        self._table.check(index_names())

    def close(self) -> None:
        """Nothing to release: botocore's connection pool closes with the process."""

    def _audit_item(self, event: AuditEvent) -> AuditItem:
        event_id = self._ids.next()
        return self._models.audit(
            pk=f"AUDIT#{event_id % SHARDS}",
            sk=f"{event_id:020d}",
            audit_id=event_id,
            at=to_epoch(event.at),
            action=event.action,
            actor=event.actor,
            audit_serial=_serial_key(event.serial) if event.serial is not None else None,
            detail=event.detail_json(),
        )

    def _save_audit(self, transaction: TransactWrite, event: AuditEvent) -> None:
        audit = self._models.audit
        transaction.save(self._audit_item(event), condition=audit.pk.does_not_exist())

    # -- authorities -----------------------------------------------------------------
    def add_authority(self, record: AuthorityRecord, event: AuditEvent) -> None:
        model = self._models.authority
        item = model(
            pk=AUTHORITY_PK,
            sk=record.key_id,
            role=record.role.value,
            status=record.status.value,
            certificate_pem=record.certificate_pem,
            key_location=record.key_location,
            parent_key_id=record.parent_key_id,
            created_at=to_epoch(record.created_at),
        )

        def fill(transaction: TransactWrite) -> None:
            transaction.save(item, condition=model.pk.does_not_exist())
            self._save_audit(transaction, event)

        for _attempt in range(_ID_ATTEMPTS):
            if not self._table.transact("add an authority", fill):
                return
            if self._authority_item(record.key_id) is not None:
                raise StoreUnavailable(
                    f"the store already holds an authority with key id {record.key_id}"
                )
        raise self._id_exhausted()

    def set_authority_status(
        self, key_id: str, status: AuthorityStatus, event: AuditEvent
    ) -> AuthorityRecord:
        model = self._models.authority
        item = model(pk=AUTHORITY_PK, sk=key_id)

        def fill(transaction: TransactWrite) -> None:
            transaction.update(
                item, actions=[model.status.set(status.value)], condition=model.pk.exists()
            )
            self._save_audit(transaction, event)

        for _attempt in range(_ID_ATTEMPTS):
            if not self._table.transact("change an authority's status", fill):
                stored = self._authority_item(key_id)
                assert stored is not None
                return _authority_record(stored)
            if self._authority_item(key_id) is None:
                raise StoreUnavailable(f"the store holds no authority with key id {key_id}")
        raise self._id_exhausted()

    def _authority_item(self, key_id: str) -> AuthorityItem | None:
        with self._table.errors("read an authority"):
            try:
                return self._models.authority.get(AUTHORITY_PK, key_id, consistent_read=True)
            except DoesNotExist:
                return None

    def list_authorities(self) -> list[AuthorityRecord]:
        with self._table.errors("list authorities"):
            items = list(self._models.authority.query(AUTHORITY_PK, consistent_read=True))
        records = [_authority_record(item) for item in items]
        return sorted(records, key=lambda record: (record.created_at, record.key_id))

    # -- certificates ----------------------------------------------------------------
    def add_certificate(self, record: CertificateRecord, event: AuditEvent) -> None:
        self.add_certificates([(record, event)])

    def add_certificates(self, entries: Sequence[tuple[CertificateRecord, AuditEvent]]) -> None:
        if len(entries) > self.batch_limit:
            raise ValueError(f"at most {self.batch_limit} certificates per transaction")
        seen: set[int] = set()
        for record, _ in entries:
            if record.idempotency is not None:
                # No find_key_claim here: the API claims keys in its own store first.
                raise ValueError("the DynamoDB store does not keep Idempotency-Key claims")
            # DynamoDB refuses a transaction touching one item twice (a ValidationException,
            # not a failed condition): name the repeated serial instead.
            if record.serial in seen:
                raise DuplicateSerial(record.serial)
            seen.add(record.serial)
        model = self._models.certificate
        items = [(self._certificate_item(record), event) for record, event in entries]

        def fill(transaction: TransactWrite) -> None:
            for item, event in items:
                transaction.save(item, condition=model.pk.does_not_exist())
                self._save_audit(transaction, event)  # a fresh audit id on every attempt

        for _attempt in range(_ID_ATTEMPTS):
            action = "add a certificate" if len(items) == 1 else f"add {len(items)} certificates"
            if not self._table.transact(action, fill):
                return
            for record, _ in entries:
                if self._certificate(record.serial) is not None:
                    raise DuplicateSerial(record.serial)
            # Otherwise an audit id was taken by another writer: draw new ones.
        raise self._id_exhausted()

    def _certificate(self, serial: int) -> CertificateItem | None:
        with self._table.errors("read a certificate"):
            try:
                return self._models.certificate.get(_cert_pk(serial), CERT_SK, consistent_read=True)
            except DoesNotExist:
                return None

    def get_certificate(self, serial: int) -> CertificateRecord:
        item = self._certificate(serial)
        if item is None:
            raise CertificateNotFound(serial)
        return _certificate_record(item)

    def serials_with_prefix(self, prefix: str, limit: int) -> list[int]:
        # Certificates are keyed by the whole serial (a hash key) and no index sorts them
        # by serial, so a prefix could only be answered by a Scan that reads (and bills) the
        # whole table: refuse it rather than hide that cost.
        raise InvalidSerial(
            f"serial: {prefix} is not a whole serial, and the DynamoDB store cannot look up "
            "a serial by its first digits (it has no index sorted by serial); give the "
            "whole serial"
        )

    def revoke_certificate(
        self, serial: int, revoked_at: datetime, reason: RevocationReason, event: AuditEvent
    ) -> CertificateRecord:
        model = self._models.certificate
        for attempt in range(_ID_ATTEMPTS):
            item = self._certificate(serial)
            if item is None:
                raise CertificateNotFound(serial)
            record = _certificate_record(item)
            if record.status is CertificateStatus.REVOKED:
                assert record.revoked_at is not None
                raise AlreadyRevoked(serial, record.revoked_at.isoformat())
            shard = serial % SHARDS
            actions: list[Action] = [
                model.status.set(_REVOKED),
                model.revoked_at.set(to_epoch(revoked_at)),
                model.revocation_reason.set(int(reason)),
                model.status_shard.set(f"{_REVOKED}#{shard}"),
                model.revoked_issuer.set(record.issuer_key_id),
            ]

            counter = self._models.counter(pk=f"CRLNUMBER#{record.issuer_key_id}", sk=CRL_NUMBER_SK)
            # The CRL entry, encoded now (it never changes) and packed with others; after a
            # cancelled attempt in an item of its own, which no other revocation can race.
            listing = self._crl_entries.listing(
                record.issuer_key_id,
                serial,
                int(item.not_after),
                encode_entry(serial, to_epoch(revoked_at), int(reason)),
                packed=attempt == 0,
            )

            def fill(
                transaction: TransactWrite,
                item: CertificateItem = item,
                actions: list[Action] = actions,
                counter: CounterItem = counter,
                listing: Listing = listing,
            ) -> None:
                # The condition is what makes a revocation happen once: of several
                # concurrent revocations, DynamoDB lets exactly one see "valid".
                transaction.update(item, actions=actions, condition=model.status == _VALID)
                # What a CRL reads strongly consistently, and what tells a served CRL
                # is no longer complete (``crl_state``).
                listing.write(transaction, to_epoch(revoked_at), int(reason))
                transaction.update(counter, actions=[self._models.counter.revocations.add(1)])
                self._save_audit(transaction, event)

            if not self._table.transact("revoke a certificate", fill):
                return record.revoked(revoked_at, reason)
            # Cancelled: either someone else revoked it first (the next read says so) or
            # the audit id was taken (the next attempt draws another).
        raise self._id_exhausted()

    def query_certificates(self, query: CertificateQuery, now: datetime) -> CertificatePage:
        model = self._models.certificate
        now_epoch = to_epoch(now)
        low: str | None = None  # inclusive bounds on expiry_key
        high: str | None = None
        filters: list[Condition] = []
        index: GlobalSecondaryIndex[CertificateItem]
        if query.status is not None:
            index, values = model.by_status, self._status_partitions(query.status)
            if query.status is EffectiveStatus.ACTIVE:
                low = _expiry_key(now_epoch + 1, 0)  # not_after > now
            elif query.status is EffectiveStatus.EXPIRED:
                high = _expiry_key(now_epoch, _MAX_SERIAL_HEX)  # not_after <= now
            if query.profile is not None:
                filters.append(model.profile == query.profile)
            if query.issuer_key_id is not None:
                filters.append(model.issuer_key_id == query.issuer_key_id)
        elif query.profile is not None:
            index, values = model.by_profile, _shards(query.profile)
            if query.issuer_key_id is not None:
                filters.append(model.issuer_key_id == query.issuer_key_id)
        elif query.issuer_key_id is not None:
            index, values = model.by_issuer, _shards(query.issuer_key_id)
        else:
            # Everything: the valid and the revoked shards of the status index together.
            index, values = model.by_status, [*_shards(_VALID), *_shards(_REVOKED)]
        if query.expiring_before is not None:
            high = _min_key(high, _expiry_key(to_epoch(query.expiring_before) - 1, _MAX_SERIAL_HEX))
        if query.cursor is not None:
            low = _max_key(low, _successor_key(*decode_cursor(query.cursor)))
        if low is not None and high is not None and low > high:
            return CertificatePage(records=(), next_cursor=None)
        condition = _range_condition(model, low, high)
        wanted = query.limit + 1
        per_partition: list[list[str]] = []
        with self._table.errors("list certificates"):
            for value in values:
                results = index.query(
                    value,
                    range_key_condition=condition,
                    filter_condition=_all_of(filters),
                    limit=wanted,
                    page_size=wanted,
                )
                per_partition.append([item.expiry_key for item in results])
        keys = list(_take(heapq.merge(*per_partition), wanted))
        records = self._records_for(keys[: query.limit])
        next_cursor = encode_cursor(records[-1]) if len(keys) > query.limit and records else None
        return CertificatePage(records=tuple(records), next_cursor=next_cursor)

    def _status_partitions(self, status: EffectiveStatus) -> list[str]:
        return _shards(_REVOKED if status is EffectiveStatus.REVOKED else _VALID)

    def _records_for(self, expiry_keys: list[str]) -> list[CertificateRecord]:
        """The records of the listed keys, in that order (one BatchGetItem per 100)."""
        if not expiry_keys:
            return []
        serials = [key.split("#", 1)[1] for key in expiry_keys]
        with self._table.errors("read certificates"):
            items = self._models.certificate.batch_get(
                [(f"CERT#{serial}", CERT_SK) for serial in serials], consistent_read=True
            )
            by_serial = {item.serial: item for item in items}
        # A record aged out by TTL between the index read and this one is simply skipped.
        return [_certificate_record(by_serial[s]) for s in serials if s in by_serial]

    def issuer_counts(self, issuer_key_id: str, now: datetime) -> IssuerCounts:
        model = self._models.certificate
        not_expired = model.expiry_key >= _expiry_key(to_epoch(now) + 1, 0)
        issued = active = 0
        with self._table.errors("count certificates"):
            for value in _shards(issuer_key_id):
                issued += model.by_issuer.count(value)
                active += model.by_issuer.count(
                    value, range_key_condition=not_expired, filter_condition=model.status == _VALID
                )
        return IssuerCounts(issued=issued, active=active)

    # -- CRLs ------------------------------------------------------------------------
    def revoked_entries(self, issuer_key_id: str, now: datetime) -> list[RevokedEntry]:
        """The issuer's packed entries and ``REVOKED#`` items, read strongly consistently,
        and the revoked index until the issuer is marked complete
        (``ca.stores.dynamodb_crl_entries``)."""
        complete = _entries_complete(self._counter(issuer_key_id))
        return list(self._crl_entries.read(issuer_key_id, to_epoch(now), complete=complete))

    def next_crl_number(self, issuer_key_id: str) -> int:
        model = self._models.counter
        counter = model(pk=f"CRLNUMBER#{issuer_key_id}", sk=CRL_NUMBER_SK)
        with self._table.errors("take a CRL number"):
            counter.update(actions=[model.last_number.add(1)])
        return int(counter.last_number)

    def next_crl(self, issuer_key_id: str, now: datetime) -> CrlSnapshot:
        # Read the counter, then the entries (strongly consistent), then move the number on
        # only if no other CRL took one meanwhile. A CRL numbered higher read the counter
        # after this number was taken, so its entries were read after these were: it lists
        # every one of them. ``revocations`` is the count read before the entries, so the
        # entries hold at least those (a revocation counted meanwhile may be in them too:
        # the count errs on the side of "not complete"). Revocations do not hold this up;
        # only other CRL signers make it try again.
        model = self._models.counter
        for attempt in range(_CRL_ATTEMPTS):
            counter = self._counter(issuer_key_id)
            if not _entries_complete(counter):
                # Once per issuer, on a table written before issue 17: see
                # ``CrlEntries.complete``. The counter is read again after it.
                self._crl_entries.complete(issuer_key_id)
                counter = self._counter(issuer_key_id)
            last = int(counter.last_number or 0) if counter else 0
            revocations = int(counter.revocations or 0) if counter else 0
            entries = self._crl_entries.read(issuer_key_id, to_epoch(now), complete=True)
            item = model(pk=f"CRLNUMBER#{issuer_key_id}", sk=CRL_NUMBER_SK)
            # A counter made by a revocation has no last_number yet (pynamodb reads it as 0).
            unchanged = (
                (model.last_number == last)
                if last
                else (model.last_number.does_not_exist() | (model.last_number == 0))
            )
            with self._table.errors("take a CRL number"):
                try:
                    item.update(actions=[model.last_number.set(last + 1)], condition=unchanged)
                except UpdateError as exc:
                    if not condition_failed(exc):
                        raise
                    time.sleep(backoff(attempt))
                    continue
            return CrlSnapshot(last + 1, revocations, entries)
        raise StoreUnavailable(
            f"{self._table.where}: could not take a CRL number for issuer {issuer_key_id} in "
            f"{_CRL_ATTEMPTS} attempts; other writers kept moving it"
        )

    def _counter(self, issuer_key_id: str) -> CounterItem | None:
        with self._table.errors("read a CRL counter"):
            try:
                return self._models.counter.get(
                    f"CRLNUMBER#{issuer_key_id}", CRL_NUMBER_SK, consistent_read=True
                )
            except DoesNotExist:
                return None

    def crl_state(self, issuer_key_id: str) -> CrlState:
        counter = self._counter(issuer_key_id)
        revocations = int(counter.revocations or 0) if counter else 0
        kept = self._kept(issuer_key_id, with_der=False)
        return CrlState(revocations, kept)

    def kept_crl(self, issuer_key_id: str) -> KeptCrl | None:
        return self._kept(issuer_key_id, with_der=True)

    def _kept(self, issuer_key_id: str, *, with_der: bool) -> KeptCrl | None:
        model = self._models.kept_crl
        facts = ["number", "revocations", "this_update", "next_update", "entries"]
        with self._table.errors("read the kept CRL"):
            try:
                item = model.get(
                    f"CRL#{issuer_key_id}",
                    KEPT_CRL_SK,
                    consistent_read=True,
                    attributes_to_get=None if with_der else facts,
                )
            except DoesNotExist:
                return None
        return _kept_crl(item, with_der=with_der)

    def keep_crl(self, issuer_key_id: str, crl: KeptCrl) -> KeptCrl:
        if crl.der is None:
            raise ValueError("keep_crl needs the CRL's DER")
        if len(crl.der) > _KEPT_CRL_BYTES:
            # Too large for one item: not kept, so each process serves the CRLs it signs.
            return crl
        model = self._models.kept_crl
        item = model(
            pk=f"CRL#{issuer_key_id}",
            sk=KEPT_CRL_SK,
            number=crl.number,
            revocations=crl.revocations,
            this_update=to_epoch(crl.this_update),
            next_update=to_epoch(crl.next_update),
            entries=crl.entries,
            der=crl.der,
        )
        with self._table.errors("keep a CRL"):
            try:
                item.save(condition=model.pk.does_not_exist() | (model.number < crl.number))
            except PutError as exc:
                if not condition_failed(exc):
                    raise
                kept = self.kept_crl(issuer_key_id)
                if kept is not None:
                    return kept
        return _kept_crl(item, with_der=True)

    # -- audit -----------------------------------------------------------------------
    def append_audit(self, event: AuditEvent) -> None:
        def fill(transaction: TransactWrite) -> None:
            self._save_audit(transaction, event)

        for _attempt in range(_ID_ATTEMPTS):
            if not self._table.transact("append an audit event", fill):
                return
        raise self._id_exhausted()

    def audit_events(
        self, *, limit: int = 100, serial: int | None = None, before_id: int | None = None
    ) -> list[AuditEvent]:
        model = self._models.audit
        with self._table.errors("read the audit trail"):
            if serial is not None:
                items: Iterable[AuditItem] = model.by_serial.query(
                    _serial_key(serial),
                    range_key_condition=(
                        model.audit_id < before_id if before_id is not None else None
                    ),
                    scan_index_forward=False,
                    limit=limit,
                )
                found = list(items)
            else:
                found = self._newest_audit_items(limit, before_id)
        return [_audit_event(item) for item in found]

    def _newest_audit_items(self, limit: int, before_id: int | None) -> list[AuditItem]:
        """The newest ``limit`` audit items before ``before_id``, across the shards.

        An event's shard is its id modulo ``SHARDS`` and an id ends in random bits
        (``_AuditIds``), so the newest ``limit`` events are spread about evenly, some
        ``limit / SHARDS`` deep in each shard: each is asked for twice that, not ``limit``
        (which read and returned ``SHARDS`` times what was kept). The merge is exact down
        to the oldest id that a full page reached (a full page may have older events
        behind it; a short one has none); while fewer than ``limit`` events are sure, the
        full shards are asked again, twice as deep."""
        model = self._models.audit
        condition = model.sk < f"{before_id:020d}" if before_id is not None else None

        def page(shard: int, depth: int) -> list[AuditItem]:
            return list(
                model.query(
                    f"AUDIT#{shard}",
                    range_key_condition=condition,
                    scan_index_forward=False,
                    limit=depth,
                )
            )

        depth = 2 * -(-limit // SHARDS)
        pages = {shard: page(shard, depth) for shard in range(SHARDS)}
        while True:
            full = [shard for shard, items in pages.items() if len(items) == depth]
            sure_to = max((int(pages[shard][-1].audit_id) for shard in full), default=-1)
            merged = heapq.merge(*pages.values(), key=lambda item: -int(item.audit_id))
            sure = [item for item in merged if int(item.audit_id) >= sure_to]
            if len(sure) >= limit or not full:
                return sure[:limit]
            depth *= 2
            pages.update({shard: page(shard, depth) for shard in full})

    # -- notices (``ca.stores.dynamodb_notices``) -------------------------------------
    def claim_notice(self, key: str, *, owner: str, now: datetime, lease: timedelta) -> bool:
        return self._notices.claim(key, owner=owner, now=now, lease=lease)

    def mark_notice_sent(self, key: str, *, owner: str, now: datetime) -> None:
        self._notices.mark_sent(key, owner=owner, now=now)

    def release_notice(self, key: str, *, owner: str) -> None:
        self._notices.release(key, owner=owner)

    def claim_notices(
        self, keys: Sequence[str], *, owner: str, now: datetime, lease: timedelta
    ) -> set[str]:
        return self._notices.claim_many(keys, owner=owner, now=now, lease=lease)

    def mark_notices_sent(self, keys: Sequence[str], *, owner: str, now: datetime) -> None:
        for key in dict.fromkeys(keys):
            self._notices.mark_sent(key, owner=owner, now=now)

    def release_notices(self, keys: Sequence[str], *, owner: str) -> None:
        for key in dict.fromkeys(keys):
            self._notices.release(key, owner=owner)

    def sent_notices(self, keys: Sequence[str]) -> set[str]:
        return self._notices.sent(keys)

    def _id_exhausted(self) -> StoreUnavailable:
        return self._table.gave_up(_ID_ATTEMPTS)

    # -- records <-> items -----------------------------------------------------------
    def _certificate_item(self, record: CertificateRecord) -> CertificateItem:
        not_after = to_epoch(record.not_after)
        shard = record.serial % SHARDS
        status = record.status.value
        revoked = record.status is CertificateStatus.REVOKED
        return self._models.certificate(
            pk=_cert_pk(record.serial),
            sk=CERT_SK,
            serial=_serial_key(record.serial),
            issuer_key_id=record.issuer_key_id,
            subject=record.subject,
            common_name=record.common_name,
            dns_names=list(record.dns_names),
            ip_addresses=list(record.ip_addresses),
            profile=record.profile,
            not_before=to_epoch(record.not_before),
            not_after=not_after,
            status=status,
            revoked_at=to_epoch(record.revoked_at) if record.revoked_at else None,
            revocation_reason=(
                int(record.revocation_reason) if record.revocation_reason is not None else None
            ),
            certificate_pem=record.certificate_pem,
            requested_by=record.requested_by,
            issued_at=to_epoch(record.issued_at),
            expiry_key=_expiry_key(not_after, record.serial),
            status_shard=f"{status}#{shard}",
            profile_shard=f"{record.profile}#{shard}",
            issuer_shard=f"{record.issuer_key_id}#{shard}",
            revoked_issuer=record.issuer_key_id if revoked else None,
            expires_at=None if self._retention is None else not_after + self._retention,
        )


class _AuditIds:
    """Audit event ids: milliseconds since the epoch times 1024, plus 10 random bits.

    No counter item, so no hot partition and no extra round trip per write. Ids grow
    strictly within one process and follow the writers' clocks across processes; the
    random bits make a clash between two writers in one millisecond rare, and the
    conditional put makes it harmless (the loser draws again). At most 51 bits, so the ids
    stay exact as JSON numbers in any client.
    """

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        candidate = (time.time_ns() // 1_000_000) * 1024 + secrets.randbelow(1024)
        with self._lock:
            self._last = max(candidate, self._last + 1)
            return self._last


def _entries_complete(counter: CounterItem | None) -> bool:
    return counter is not None and bool(counter.entries_complete)


def _kept_crl(item: KeptCrlItem, *, with_der: bool) -> KeptCrl:
    return KeptCrl(
        number=int(item.number),
        revocations=int(item.revocations),
        this_update=from_epoch(int(item.this_update)),
        next_update=from_epoch(int(item.next_update)),
        entries=int(item.entries),
        der=bytes(item.der) if with_der else None,
    )


def _serial_key(serial: int) -> str:
    # 159-bit serials are at most 40 hex digits; padding makes string order number order.
    return f"{serial:040x}"


def _cert_pk(serial: int) -> str:
    return f"CERT#{_serial_key(serial)}"


def _expiry_key(not_after: int, serial: int | str) -> str:
    hex_serial = serial if isinstance(serial, str) else _serial_key(serial)
    return f"{max(not_after, 0):012d}#{hex_serial}"


def _successor_key(not_after: int, serial: int) -> str:
    """The smallest key after ``(not_after, serial)``: where the next page starts."""
    if not_after < 0 or serial < 0:
        raise InvalidRequest("cursor: not a cursor this store gave out", field="cursor")
    if serial + 1 >= _SERIAL_LIMIT:
        return _expiry_key(not_after + 1, 0)
    return _expiry_key(not_after, serial + 1)


def _min_key(current: str | None, bound: str) -> str:
    return bound if current is None else min(current, bound)


def _max_key(current: str | None, bound: str) -> str:
    return bound if current is None else max(current, bound)


def _range_condition(
    model: type[CertificateItem], low: str | None, high: str | None
) -> Condition | None:
    if low is not None and high is not None:
        return model.expiry_key.between(low, high)
    if low is not None:
        return model.expiry_key >= low
    if high is not None:
        return model.expiry_key <= high
    return None


def _all_of(conditions: list[Condition]) -> Condition | None:
    combined: Condition | None = None
    for condition in conditions:
        combined = condition if combined is None else combined & condition
    return combined


def _shards(value: str) -> list[str]:
    return [f"{value}#{shard}" for shard in range(SHARDS)]


def _take(items: Iterable[Any], count: int) -> Iterator[Any]:
    for index, item in enumerate(items):
        if index >= count:
            return
        yield item


def _certificate_record(item: CertificateItem) -> CertificateRecord:
    return CertificateRecord(
        serial=int(item.serial, 16),
        issuer_key_id=item.issuer_key_id,
        subject=item.subject,
        common_name=item.common_name,
        dns_names=tuple(cast("list[str]", item.dns_names)),
        ip_addresses=tuple(cast("list[str]", item.ip_addresses)),
        profile=item.profile,
        not_before=from_epoch(int(item.not_before)),
        not_after=from_epoch(int(item.not_after)),
        certificate_pem=item.certificate_pem,
        requested_by=item.requested_by,
        issued_at=from_epoch(int(item.issued_at)),
        status=CertificateStatus(item.status),
        revoked_at=from_epoch(int(item.revoked_at)) if item.revoked_at is not None else None,
        revocation_reason=(
            RevocationReason(int(item.revocation_reason))
            if item.revocation_reason is not None
            else None
        ),
    )


def _authority_record(item: AuthorityItem) -> AuthorityRecord:
    return AuthorityRecord(
        key_id=item.sk,
        role=AuthorityRole(item.role),
        status=AuthorityStatus(item.status),
        certificate_pem=item.certificate_pem,
        key_location=item.key_location,
        parent_key_id=item.parent_key_id,
        created_at=from_epoch(int(item.created_at)),
    )


def _audit_event(item: AuditItem) -> AuditEvent:
    return AuditEvent(
        id=int(item.audit_id),
        at=from_epoch(int(item.at)),
        action=item.action,
        actor=item.actor,
        serial=int(item.audit_serial, 16) if item.audit_serial is not None else None,
        detail=json.loads(item.detail),
    )
