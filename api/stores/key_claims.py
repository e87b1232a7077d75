"""The API's Idempotency-Keys kept in the SQLite certificate store (schema version 3).

There a key sent with a CSR or a renewal is claimed in the transaction that commits its
certificate (``KeyClaim`` on the record: one commit per request, shared with concurrent
ones, where a claim in albca-api.db cost a commit of its own first; issue 17). A generated
key claims before it signs (``claim_key``: its sealed private key must be kept first), in
the same table, so that of two requests racing one key on different routes one claims it
and the other is refused, as when every claim was in albca-api.db.

Claims written there by albca before version 3 are still read (``legacy``) until they
expire, and a key claimed there is not claimed again here.
"""

from __future__ import annotations

from datetime import datetime

from albca.api.stores.protocols import IdempotencyEntry, IdempotencyStore
from albca.ca.records import ClaimedKey, KeyClaim
from albca.ca.stores.protocol import KeyClaimStore

__all__ = ["CertificateStoreIdempotency"]


class CertificateStoreIdempotency:
    """``IdempotencyStore`` over a certificate store's claims, then the API store's."""

    def __init__(self, claims: KeyClaimStore, *, legacy: IdempotencyStore) -> None:
        self.claims = claims
        self._legacy = legacy

    def find(self, caller: str, key: str, now: datetime) -> IdempotencyEntry | None:
        claimed = self.claims.find_key_claim(caller, key, now)
        if claimed is not None:
            return _entry(caller, key, claimed)
        return self._legacy.find(caller, key, now)

    def claim(self, entry: IdempotencyEntry) -> IdempotencyEntry:
        older = self._legacy.find(entry.caller, entry.key, entry.created_at)
        if older is not None:
            return older
        claim = KeyClaim(
            entry.caller, entry.key, entry.fingerprint, entry.expires_at, entry.sealed_private_key
        )
        claimed = self.claims.claim_key(claim, entry.serial, entry.created_at)
        return _entry(entry.caller, entry.key, claimed)

    def close(self) -> None:
        self._legacy.close()  # the certificate store is its owner's to close


def _entry(caller: str, key: str, claimed: ClaimedKey) -> IdempotencyEntry:
    return IdempotencyEntry(
        caller=caller,
        key=key,
        fingerprint=claimed.fingerprint,
        serial=claimed.serial,
        created_at=claimed.created_at,
        expires_at=claimed.expires_at,
        sealed_private_key=claimed.sealed_private_key,
    )
