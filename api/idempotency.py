"""Idempotent issuance: a retry with the same Idempotency-Key gets the same certificate.

How it holds even under concurrent retries and crashes, on a SQLite certificate store: the
claim of (caller, key) is written in the transaction that writes the certificate
(``KeyClaim``), and the store refuses a second claim of an unexpired key
(``IdempotencyKeyTaken``: nothing of that attempt is written). So the key is claimed if
and only if its certificate is on record, at most one certificate exists per key, and a
retry finds it through the claim. Where the claim must come first (a generated key, below;
every keyed request on DynamoDB), the serial number is chosen *before* signing and bound
to (caller, key) by one atomic claim; every attempt for that key then issues with that
serial, and the store refuses a second certificate with a serial it already holds
(``DuplicateSerial``).

A generated key is the delicate case: the caller needs the private key, and a retry after
a lost response must return the *same* key, or the certificate the first attempt issued is
useless and stays valid. The key is therefore kept for the retention window, sealed with
AES-256-GCM under a key derived from the caller's API token secret. The store only holds
the token's SHA-256 hash, so a copy of the database alone cannot unseal it; whoever holds
the token could have issued a certificate of their own anyway. The request fingerprint is
an HMAC under the same derived key, so a PKCS#12 password in the request body is never
kept in a form that could be tested offline.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from albca.api.errors import InvalidIdempotencyKey
from albca.api.tokens import Caller

__all__ = ["check_idempotency_key", "fingerprint", "holder_fingerprint", "seal", "unseal"]

# Printable ASCII without spaces at either end, as Stripe and the IETF draft allow.
_KEY = re.compile(r"^[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?$")
_NONCE_BYTES = 12


def check_idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not _KEY.match(value):
        raise InvalidIdempotencyKey(
            "Idempotency-Key: use 1-255 printable ASCII characters (a UUID is a good choice)"
        )
    return value


def _derive(caller: Caller, purpose: bytes) -> bytes:
    return hmac.new(caller.secret_key, purpose, hashlib.sha256).digest()


def fingerprint(caller: Caller, operation: str, body: dict[str, Any]) -> str:
    """A keyed hash of what was asked: same key + different request is refused."""
    canonical = json.dumps([operation, body], sort_keys=True, separators=(",", ":"))
    return hmac.new(_derive(caller, b"fingerprint"), canonical.encode(), hashlib.sha256).hexdigest()


def holder_fingerprint(operation: str, body: dict[str, Any]) -> str:
    """The fingerprint of a renewal by a certificate holder, who has no API token secret
    to key it with. Unkeyed is enough: such a body holds at most a CSR, which is public."""
    canonical = json.dumps([operation, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _aad(caller: Caller, key: str, serial: int) -> bytes:
    return f"{caller.token.token_id}\x00{key}\x00{serial:x}".encode()


def seal(caller: Caller, key: str, serial: int, private_key_der: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    aead = AESGCM(_derive(caller, b"seal"))
    return nonce + aead.encrypt(nonce, private_key_der, _aad(caller, key, serial))


def unseal(caller: Caller, key: str, serial: int, sealed: bytes) -> bytes:
    aead = AESGCM(_derive(caller, b"seal"))
    try:
        return aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], _aad(caller, key, serial))
    except InvalidTag:
        # Only a different token could produce this, and keys are per token: a defect.
        raise InvalidIdempotencyKey(
            "Idempotency-Key: the stored result cannot be opened with this token"
        ) from None
