"""One DynamoDB table as albca's adapters use it: connection settings, the one error
boundary, conditional writes and transactions.

Two adapters keep their items in the same table and share this: the certificate store
(``ca.stores.dynamodb``) and the API's stores (``api.stores.dynamodb``). Each binds its
pynamodb models to the table with ``bind``; pynamodb reads the table and the connection
settings from a model's ``Meta``, so models are declared with the placeholder
``UnboundMeta`` and bound per table (two tables can live in one process).

Retries. pynamodb hands ``max_retry_attempts`` to botocore's "standard" retry mode, which
retries throttling (``ProvisionedThroughputExceededException``, ``ThrottlingException``,
...) and transient errors (5xx, timeouts) with exponential backoff and jitter. A retried
``TransactWriteItems`` carries the same ``ClientRequestToken``, so a transaction whose
answer was lost is not applied twice; one cancelled because another transaction held an
item (``TransactionConflict``) is retried here, with backoff.

Errors. Every AWS and pynamodb error becomes a ``StoreUnavailable`` naming the table, in
one place (``translate``); a missing table is one line pointing at ``albca aws
bootstrap``. A refused condition is not an error here: callers ask ``condition_failed``
and raise what it means to them (``DuplicateSerial``, ``RenewalTokenReplayed``, ...).
"""

from __future__ import annotations

import contextlib
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError
from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException, TableDoesNotExist
from pynamodb.exceptions import TransactWriteError as _TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from albca.ca.errors import StoreUnavailable

__all__ = ["UnboundMeta", "DynamoDBTable", "condition_failed"]

_M = TypeVar("_M", bound=Model)

# Cancellation reasons worth another try: another transaction held an item, or the
# table was throttled inside the transaction (AWS: TransactWriteItems, "Errors").
_RETRY_CANCELLATIONS = frozenset({"TransactionConflict", "ThrottlingError"})
_CONFLICT_ATTEMPTS = 6
_CONNECTION_SETTINGS: dict[str, Any] = {
    "connect_timeout_seconds": 5,
    "read_timeout_seconds": 15,
    "max_pool_connections": 32,
}


class UnboundMeta:
    """The ``Meta`` models are declared with; ``DynamoDBTable.bind`` replaces it."""

    table_name = "albca"
    region: str | None = None
    host: str | None = None
    max_retry_attempts = 8


class DynamoDBTable:
    """A table name, where it is, and how albca talks to it."""

    def __init__(
        self,
        name: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        max_retry_attempts: int = 8,
    ) -> None:
        if not name:
            raise ValueError("table name must not be empty")
        self.name = name
        self.region = region
        self._settings: dict[str, Any] = {
            "region": region,
            "host": endpoint_url,
            "max_retry_attempts": max_retry_attempts,
            **_CONNECTION_SETTINGS,
        }
        self._meta = type("Meta", (), {"table_name": name, **self._settings})
        self._connection: Connection | None = None

    def bind(self, model: type[_M]) -> type[_M]:
        """A subclass of ``model`` that lives in this table (with its own connection)."""
        return type(model.__name__, (model,), {"Meta": self._meta})

    @property
    def connection(self) -> Connection:
        """For what belongs to no one model: describing the table, transactions."""
        if self._connection is None:
            self._connection = Connection(**self._settings)
        return self._connection

    # -- the one error boundary ------------------------------------------------------
    @property
    def where(self) -> str:
        return f"DynamoDB table {self.name!r}" + (f" in {self.region}" if self.region else "")

    def translate(self, exc: Exception, action: str) -> StoreUnavailable:
        """The ``StoreUnavailable`` an AWS or pynamodb error means, naming the table."""
        code = exc.cause_response_code if isinstance(exc, PynamoDBException) else None
        if isinstance(exc, TableDoesNotExist) or code == "ResourceNotFoundException":
            return StoreUnavailable(
                f"{self.where} does not exist; create it with `albca aws bootstrap`"
            )
        if isinstance(exc, PynamoDBException):
            message = exc.cause_response_message or str(exc)
            return StoreUnavailable(f"{self.where}: {action} failed: {code or 'error'}: {message}")
        return StoreUnavailable(f"{self.where}: {action} failed: {exc}")

    @contextlib.contextmanager
    def errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except (PynamoDBException, BotoCoreError) as exc:
            raise self.translate(exc, action) from exc

    def check(self, indexes: frozenset[str]) -> None:
        """The table exists and has ``indexes``: it is one ``albca aws bootstrap`` made."""
        with self.errors("describe the table"):
            description = self.connection.describe_table(self.name)
        present = {index["IndexName"] for index in description.get("GlobalSecondaryIndexes", [])}
        missing = sorted(indexes - present)
        if missing:
            raise StoreUnavailable(
                f"DynamoDB table {self.name!r} lacks the indexes {', '.join(missing)}; "
                "it was not made by `albca aws bootstrap`"
            )

    def gave_up(self, attempts: int) -> StoreUnavailable:
        return StoreUnavailable(
            f"DynamoDB table {self.name!r}: could not write after {attempts} attempts; every "
            "attempt was refused"
        )

    # -- transactions ----------------------------------------------------------------
    def transact(self, action: str, fill: Callable[[TransactWrite], None]) -> frozenset[str]:
        """Commit one transaction; the cancellation reasons, or an empty set on success."""
        for attempt in range(_CONFLICT_ATTEMPTS):
            try:
                # A token per attempt: botocore's own retries of this call reuse it, so a
                # transaction whose answer was lost is applied once (AWS: "Idempotency").
                with TransactWrite(
                    connection=self.connection, client_request_token=uuid.uuid4().hex
                ) as transaction:
                    fill(transaction)
            except _TransactWriteError as exc:
                if exc.cause_response_code != "TransactionCanceledException":
                    raise self.translate(exc, action) from exc
                codes = frozenset(r.code for r in exc.cancellation_reasons if r is not None)
                if codes & _RETRY_CANCELLATIONS and attempt + 1 < _CONFLICT_ATTEMPTS:
                    time.sleep(backoff(attempt))
                    continue
                if codes & _RETRY_CANCELLATIONS:
                    raise StoreUnavailable(
                        f"DynamoDB table {self.name!r}: {action} kept conflicting with "
                        f"other writers ({', '.join(sorted(codes))}); try again"
                    ) from exc
                return codes
            except (PynamoDBException, BotoCoreError) as exc:
                raise self.translate(exc, action) from exc
            return frozenset()
        raise AssertionError("unreachable")  # pragma: no cover


def condition_failed(exc: PynamoDBException) -> bool:
    """Whether a single-item write was refused by its condition (and by nothing else)."""
    return exc.cause_response_code == "ConditionalCheckFailedException"


def backoff(attempt: int) -> float:
    # Full jitter (AWS Architecture Blog: "Exponential Backoff And Jitter"), 25 ms base.
    return secrets.randbelow(1000) / 1000 * 0.025 * (1 << attempt)
