"""The API's own ports (tokens, idempotency keys, one-time renewal token ids) and their
implementations: ``sqlite`` (a file beside the certificate store) and ``dynamodb`` (items
in the certificate table, for an API with no local state). Both pass
``tests/api/store_contract.py``."""

from albca.api.stores.protocols import IdempotencyEntry, IdempotencyStore, ReplayGuard, TokenStore

__all__ = ["IdempotencyEntry", "IdempotencyStore", "ReplayGuard", "TokenStore"]
