"""Three small ports. Each method is one conditional write or one key lookup, so that a
DynamoDB table (``attribute_not_exists`` conditions, TTL for expiry) can implement them
as directly as SQLite does; ``tests/api/store_contract.py`` is the suite a backend passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from albca.api.tokens import ApiToken

__all__ = ["TokenStore", "IdempotencyEntry", "IdempotencyStore", "ReplayGuard"]


class TokenStore(Protocol):
    def add(self, token: ApiToken) -> None:
        """Record a new token; ``DuplicateTokenName`` if the name was ever used."""
        ...

    def find(self, token_id: str) -> ApiToken | None: ...

    def by_name(self, name: str) -> ApiToken:
        """``TokenNotFound`` if no token has that name."""
        ...

    def list(self) -> Sequence[ApiToken]:
        """Every token, revoked and expired ones included, oldest first."""
        ...

    def revoke(self, name: str, at: datetime) -> ApiToken:
        """Mark the token revoked (once: revoking again keeps the first time)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class IdempotencyEntry:
    """What an Idempotency-Key is bound to: the request's fingerprint and the serial the
    certificate gets (chosen before signing, so that a retry can never issue twice)."""

    caller: str  # the token id, or holder:<serial> for a holder's renewal: keys are per caller
    key: str
    fingerprint: str  # keyed hash of the request
    serial: int
    created_at: datetime
    expires_at: datetime
    sealed_private_key: bytes | None = field(default=None, repr=False)


class IdempotencyStore(Protocol):
    def find(self, caller: str, key: str, now: datetime) -> IdempotencyEntry | None:
        """The unexpired entry for (caller, key), if any."""
        ...

    def claim(self, entry: IdempotencyEntry) -> IdempotencyEntry:
        """Store ``entry`` unless an unexpired entry for (caller, key) exists; return
        whichever entry now holds the key. Atomic: of two racing claims, one wins and both
        get the winner back."""
        ...

    def close(self) -> None: ...


class ReplayGuard(Protocol):
    def use_once(self, key: str, expires_at: datetime, now: datetime) -> None:
        """Record ``key`` until ``expires_at``; ``RenewalTokenReplayed`` if it was
        recorded before and has not expired."""
        ...

    def close(self) -> None: ...
