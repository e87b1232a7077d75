"""The API's stores on DynamoDB, in the certificate table: an API with no local state.

Any number of API instances (Lambda, ``albca serve`` workers on several hosts) can share
the table, because every rule of the Protocols is kept by a conditional write, never by
a lock here:

- a token and its name are one transaction, each item ``attribute_not_exists``: a name is
  taken once, forever (its item outlives the token);
- a revocation sets ``revoked_at = if_not_exists(revoked_at, :at)``: the first time stays;
- an idempotency claim is a put conditioned on ``attribute_not_exists(pk) OR expires_at
  <= :now``: of racing claims exactly one is written, and the others read it back;
- a used renewal token is recorded with the same condition; a refusal means a replay.

Expiry. DynamoDB TTL deletes an expired item lazily, usually within a few days (AWS:
"Working with Time to Live"), so a read may still find it. Every read and every
condition here compares ``expires_at`` with the caller's ``now``: an expired item counts
as absent, and a write may replace it.

Reads are strongly consistent: a token revoked a moment ago is refused on the next
request, and the loser of a claim reads the winner's item. Retries and errors are
``ca.stores.dynamodb_table``'s, as for the certificates: throttling is retried with backoff,
any other AWS error is a ``StoreUnavailable`` naming the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.transactions import TransactWrite

from albca.api.errors import DuplicateTokenName, RenewalTokenReplayed, TokenNotFound
from albca.api.stores.dynamodb_models import (
    TOKEN_NAMES_PK,
    TOKEN_SK,
    USED_TOKEN_SK,
    IdempotencyItem,
    TokenItem,
    bind_api_models,
)
from albca.api.stores.protocols import IdempotencyEntry
from albca.api.tokens import ApiToken, Scope
from albca.ca.clock import from_epoch, to_epoch
from albca.ca.errors import StoreUnavailable
from albca.ca.stores.dynamodb_models import index_names
from albca.ca.stores.dynamodb_table import DynamoDBTable, condition_failed

__all__ = [
    "DynamoDBApiTable",
    "DynamoDBTokenStore",
    "DynamoDBIdempotencyStore",
    "DynamoDBReplayGuard",
]

# A claim refused by an entry that expires before it can be read back is tried again.
_CLAIM_ATTEMPTS = 4


class DynamoDBApiTable:
    """The certificate table, as the API's three stores use it (checked once, here)."""

    def __init__(self, table: DynamoDBTable) -> None:
        self.table = table
        self.models = bind_api_models(table)
        table.check(index_names())

    def close(self) -> None:
        """Nothing to release: botocore's connection pool closes with the process."""


class DynamoDBTokenStore:
    def __init__(self, database: DynamoDBApiTable) -> None:
        self._table = database.table
        self._models = database.models

    def add(self, token: ApiToken) -> None:
        names = self._models.token_name
        tokens = self._models.token
        name_item = names(pk=TOKEN_NAMES_PK, sk=token.name, token_id=token.token_id)
        token_item = _token_item(tokens, token)

        def fill(transaction: TransactWrite) -> None:
            transaction.save(name_item, condition=names.pk.does_not_exist())
            transaction.save(token_item, condition=tokens.pk.does_not_exist())

        refused = self._table.transact("add an API token", fill)
        if not refused:
            return
        if "ConditionalCheckFailed" in refused and self._token_id(token.name) is not None:
            raise DuplicateTokenName(token.name)
        raise StoreUnavailable(
            f"{self._table.where}: add an API token was refused ({', '.join(sorted(refused))})"
        )

    def find(self, token_id: str) -> ApiToken | None:
        with self._table.errors("read an API token"):
            try:
                item = self._models.token.get(_token_pk(token_id), TOKEN_SK, consistent_read=True)
            except DoesNotExist:
                return None
        return _token(item)

    def _token_id(self, name: str) -> str | None:
        with self._table.errors("read an API token name"):
            try:
                item = self._models.token_name.get(TOKEN_NAMES_PK, name, consistent_read=True)
            except DoesNotExist:
                return None
        return item.token_id

    def by_name(self, name: str) -> ApiToken:
        token_id = self._token_id(name)
        token = None if token_id is None else self.find(token_id)
        if token is None:
            raise TokenNotFound(name)
        return token

    def list(self) -> list[ApiToken]:
        with self._table.errors("list API tokens"):
            names = self._models.token_name.query(TOKEN_NAMES_PK, consistent_read=True)
            keys = [(_token_pk(item.token_id), TOKEN_SK) for item in names]
            items = list(self._models.token.batch_get(keys, consistent_read=True))
        return sorted((_token(item) for item in items), key=lambda t: (t.created_at, t.name))

    def revoke(self, name: str, at: datetime) -> ApiToken:
        token_id = self._token_id(name)
        if token_id is None:
            raise TokenNotFound(name)
        model = self._models.token
        item = model(pk=_token_pk(token_id), sk=TOKEN_SK)
        with self._table.errors("revoke an API token"):
            try:
                # ``a | b`` is if_not_exists(a, b): a second revocation keeps the first time.
                item.update(
                    actions=[model.revoked_at.set(model.revoked_at | to_epoch(at))],
                    condition=model.pk.exists(),
                )
            except UpdateError as exc:
                if not condition_failed(exc):
                    raise
                raise TokenNotFound(name) from None
        return _token(item)

    def close(self) -> None:
        """Nothing to release (see ``DynamoDBApiTable.close``)."""


class DynamoDBIdempotencyStore:
    def __init__(self, database: DynamoDBApiTable) -> None:
        self._table = database.table
        self._models = database.models

    def find(self, caller: str, key: str, now: datetime) -> IdempotencyEntry | None:
        with self._table.errors("read an idempotency key"):
            try:
                item = self._models.idempotency.get(
                    _idempotency_pk(caller), key, consistent_read=True
                )
            except DoesNotExist:
                return None
        if int(item.expires_at) <= to_epoch(now):
            return None  # expired, not yet deleted by TTL
        return _entry(caller, item)

    def claim(self, entry: IdempotencyEntry) -> IdempotencyEntry:
        model = self._models.idempotency
        now = to_epoch(entry.created_at)
        item = model(
            pk=_idempotency_pk(entry.caller),
            sk=entry.key,
            fingerprint=entry.fingerprint,
            serial=f"{entry.serial:x}",
            created_at=now,
            expires_at=to_epoch(entry.expires_at),
            sealed_private_key=entry.sealed_private_key,
        )
        vacant = model.pk.does_not_exist() | (model.expires_at <= now)
        for _attempt in range(_CLAIM_ATTEMPTS):
            with self._table.errors("claim an idempotency key"):
                try:
                    item.save(condition=vacant)
                    return _entry(entry.caller, item)
                except PutError as exc:
                    if not condition_failed(exc):
                        raise
            holder = self.find(entry.caller, entry.key, entry.created_at)
            if holder is not None:
                return holder
        raise self._table.gave_up(_CLAIM_ATTEMPTS)

    def close(self) -> None:
        """Nothing to release (see ``DynamoDBApiTable.close``)."""


class DynamoDBReplayGuard:
    def __init__(self, database: DynamoDBApiTable) -> None:
        self._table = database.table
        self._models = database.models

    def use_once(self, key: str, expires_at: datetime, now: datetime) -> None:
        model = self._models.used_token
        item = model(pk=f"USEDTOKEN#{key}", sk=USED_TOKEN_SK, expires_at=to_epoch(expires_at))
        with self._table.errors("record a used renewal token"):
            try:
                item.save(condition=model.pk.does_not_exist() | (model.expires_at <= to_epoch(now)))
            except PutError as exc:
                if not condition_failed(exc):
                    raise
                raise RenewalTokenReplayed() from None

    def close(self) -> None:
        """Nothing to release (see ``DynamoDBApiTable.close``)."""


def _token_pk(token_id: str) -> str:
    return f"TOKEN#{token_id}"


def _idempotency_pk(caller: str) -> str:
    return f"IDEMPOTENCY#{caller}"


def _token_item(model: type[TokenItem], token: ApiToken) -> TokenItem:
    return model(
        pk=_token_pk(token.token_id),
        sk=TOKEN_SK,
        token_id=token.token_id,
        name=token.name,
        secret_hash=token.secret_hash,
        scopes=sorted(scope.value for scope in token.scopes),
        profiles=list(token.profiles),
        dns=list(token.dns),
        ip_networks=list(token.ip_networks),
        common_names=list(token.common_names),
        allow_wildcards=token.allow_wildcards,
        created_at=to_epoch(token.created_at),
        token_expires_at=to_epoch(token.expires_at),
        revoked_at=to_epoch(token.revoked_at) if token.revoked_at else None,
    )


def _strings(value: object) -> tuple[str, ...]:
    return tuple(cast("Sequence[str]", value))


def _token(item: TokenItem) -> ApiToken:
    return ApiToken(
        token_id=item.token_id,
        name=item.name,
        secret_hash=item.secret_hash,
        scopes=frozenset(Scope(value) for value in _strings(item.scopes)),
        profiles=_strings(item.profiles),
        dns=_strings(item.dns),
        ip_networks=_strings(item.ip_networks),
        common_names=_strings(item.common_names),
        allow_wildcards=bool(item.allow_wildcards),
        created_at=from_epoch(int(item.created_at)),
        expires_at=from_epoch(int(item.token_expires_at)),
        revoked_at=from_epoch(int(item.revoked_at)) if item.revoked_at is not None else None,
    )


def _entry(caller: str, item: IdempotencyItem) -> IdempotencyEntry:
    return IdempotencyEntry(
        caller=caller,
        key=item.sk,
        fingerprint=item.fingerprint,
        serial=int(item.serial, 16),
        created_at=from_epoch(int(item.created_at)),
        expires_at=from_epoch(int(item.expires_at)),
        sealed_private_key=item.sealed_private_key,
    )
