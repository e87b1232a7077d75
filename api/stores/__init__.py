"""The API's own ports (tokens, idempotency keys, one-time renewal token ids) and their
SQLite implementation. A DynamoDB implementation needs only these three small Protocols."""

from api.stores.protocols import IdempotencyEntry, IdempotencyStore, ReplayGuard, TokenStore

__all__ = ["IdempotencyEntry", "IdempotencyStore", "ReplayGuard", "TokenStore"]
