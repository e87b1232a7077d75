"""API tokens: what a caller presents, what the store keeps, what a token may do.

A token is shown once, as ``albca_<id>_<secret>``. The store keeps the id (to find the
token) and the SHA-256 of the whole string. A fast hash is enough here, unlike for
passwords: the secret is 256 random bits, so there is nothing to guess (the reasoning
GitHub gives for its own tokens). Comparison is constant-time.

Each token has scopes, profiles it may issue from, and a name policy (``ca.policy
.NamePolicy``) that every name it asks for must satisfy on top of the profile's policy.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from albca.api.errors import InvalidToken, ProfileNotAllowed, ScopeRequired
from albca.ca.policy import NamePolicy
from albca.ca.records import CertificateRecord

__all__ = [
    "Scope",
    "ApiToken",
    "NewToken",
    "Caller",
    "TOKEN_PREFIX",
    "new_token",
    "parse_bearer",
    "hash_token",
]

TOKEN_PREFIX = "albca_"  # noqa: S105 - a prefix, not a secret
_TOKEN = re.compile(r"^albca_([0-9a-f]{16})_([A-Za-z0-9]{43})$")
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
_SECRET_ALPHABET = string.ascii_letters + string.digits
_SECRET_LENGTH = 43  # 43 characters of 62: 256 bits


class Scope(enum.StrEnum):
    ISSUE = "issue"  # issue from a CSR or with a generated key
    # Renew by serial a certificate this token obtained (holders renew with their own
    # proof). Renewal can put a new key on the certificate, so renewing one that another
    # token obtained takes RENEW_ANY, as reading and revoking others' take READ and REVOKE.
    RENEW = "renew"
    RENEW_ANY = "renew-any"  # renew by serial any certificate within the token's policy
    REVOKE = "revoke"  # revoke certificates this token did not obtain
    READ = "read"  # read and list certificates this token did not obtain

    @classmethod
    def parse_many(cls, values: Iterable[str]) -> frozenset[Scope]:
        scopes: set[Scope] = set()
        for value in values:
            for part in value.split(","):
                text = part.strip().lower()
                if not text:
                    continue
                try:
                    scopes.add(cls(text))
                except ValueError:
                    known = ", ".join(scope.value for scope in cls)
                    raise ValueError(f"scope {text!r} is not one of {known}") from None
        if not scopes:
            raise ValueError("a token needs at least one scope")
        return frozenset(scopes)


class TokenStatus(enum.StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True)
class ApiToken:
    """A token as the store keeps it: everything but the secret."""

    token_id: str
    name: str
    secret_hash: str  # hex SHA-256 of the whole token string
    scopes: frozenset[Scope]
    profiles: tuple[str, ...]
    dns: tuple[str, ...]
    ip_networks: tuple[str, ...]
    common_names: tuple[str, ...]
    allow_wildcards: bool
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(
                f"token name {self.name!r}: use 1-64 lower-case letters, digits, '.', '_' or "
                "'-', starting and ending with a letter or digit"
            )
        if self.expires_at <= self.created_at:
            raise ValueError("a token must expire after it is created")

    @cached_property
    def policy(self) -> NamePolicy:
        return NamePolicy.build(
            dns=self.dns,
            ip_networks=self.ip_networks,
            common_names=self.common_names,
            allow_wildcards=self.allow_wildcards,
            name=f"token {self.name}",
        )

    @property
    def actor(self) -> str:
        """How the audit trail and certificate records name this token's requests."""
        return f"api:{self.name}"

    def status(self, now: datetime) -> TokenStatus:
        if self.revoked_at is not None:
            return TokenStatus.REVOKED
        return TokenStatus.EXPIRED if now >= self.expires_at else TokenStatus.ACTIVE

    def to_json(self, now: datetime) -> dict[str, Any]:
        """What ``albca token list`` shows: never the secret, nor its hash."""
        return {
            "name": self.name,
            "id": self.token_id,
            "status": self.status(now).value,
            "scopes": sorted(scope.value for scope in self.scopes),
            "profiles": list(self.profiles),
            "dns": list(self.dns),
            "ip_networks": list(self.ip_networks),
            "common_names": list(self.common_names),
            "allow_wildcards": self.allow_wildcards,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str = field(repr=False)  # the whole bearer string; shown once, never stored


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def new_token(
    *,
    name: str,
    scopes: frozenset[Scope],
    profiles: Iterable[str],
    names: Iterable[str],
    common_names: Iterable[str] | None,
    allow_wildcards: bool,
    ttl: timedelta,
    now: datetime,
) -> NewToken:
    """A fresh token. ``names`` mixes DNS patterns and IP networks (CIDR); a common name
    must match ``common_names`` globs, or, when none are given, one of the DNS patterns."""
    if ttl <= timedelta(0):
        raise ValueError("ttl must be positive")
    dns: list[str] = []
    networks: list[str] = []
    for item in names:
        for part in item.split(","):
            text = part.strip()
            if not text:
                continue
            (networks if _looks_like_network(text) else dns).append(text)
    cn_patterns = list(common_names) if common_names else list(dns)
    token_id = secrets.token_hex(8)
    secret = TOKEN_PREFIX + token_id + "_" + _random_secret()
    token = ApiToken(
        token_id=token_id,
        name=name,
        secret_hash=hash_token(secret),
        scopes=scopes,
        profiles=tuple(dict.fromkeys(profiles)),
        dns=tuple(dns),
        ip_networks=tuple(networks),
        common_names=tuple(cn_patterns),
        allow_wildcards=allow_wildcards,
        created_at=now,
        expires_at=now + ttl,
    )
    token.policy  # noqa: B018 - builds the policy now, so that a bad pattern fails here
    return NewToken(token=token, secret=secret)


def _random_secret() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(_SECRET_LENGTH))


def _looks_like_network(text: str) -> bool:
    return "/" in text or ":" in text or text.replace(".", "").isdigit()


def parse_bearer(value: str) -> str:
    """The token id of a well-formed token string, else ``InvalidToken``."""
    match = _TOKEN.match(value)
    if match is None:
        raise InvalidToken("Authorization: not an albca API token (albca_<id>_<secret>)")
    return match.group(1)


# Callers whose bearer string matched the hash of the very token object the store returned,
# by bearer string: the next request with the same string and the same object skips the
# hash and the key derivation (about a tenth of the API's own work per issuance). The
# stores make a new object whenever a token may have changed (SQLite: on any commit to the
# file, ``ChangeStamp``), so a revocation meets the full check at once; the expiry is
# checked on every request. Bounded: unknown strings sent in a flood never get here.
_VERIFIED: dict[str, Caller] = {}
_VERIFIED_LIMIT = 256


@dataclass(frozen=True)
class Caller:
    """An authenticated API token, with key material derived from its secret.

    ``secret_key`` never leaves the process: it keys the fingerprints and the encryption
    of what the idempotency store keeps for this caller, so that the store alone (a copy
    of the database) cannot read a generated private key or test guesses of a password.
    """

    token: ApiToken
    secret_key: bytes = field(repr=False)

    @classmethod
    def authenticate(cls, token: ApiToken | None, presented: str, now: datetime) -> Caller:
        caller = _VERIFIED.get(presented)
        if caller is None or token is None or caller.token is not token:
            caller = cls._verify(token, presented)
        status = caller.token.status(now)
        if status is not TokenStatus.ACTIVE:
            raise InvalidToken(f"Authorization: API token {caller.name} is {status.value}")
        return caller

    @classmethod
    def _verify(cls, token: ApiToken | None, presented: str) -> Caller:
        # Compare even when the id is unknown, so that timing does not tell ids apart.
        expected = token.secret_hash if token is not None else "0" * 64
        if not hmac.compare_digest(expected, hash_token(presented)) or token is None:
            raise InvalidToken("Authorization: unknown API token")
        key = hmac.new(presented.encode("ascii"), b"albca api caller key v1", "sha256").digest()
        caller = cls(token=token, secret_key=key)
        if len(_VERIFIED) >= _VERIFIED_LIMIT:
            _VERIFIED.clear()
        _VERIFIED[presented] = caller
        return caller

    @property
    def name(self) -> str:
        return self.token.name

    @property
    def actor(self) -> str:
        return self.token.actor

    @property
    def policy(self) -> NamePolicy:
        return self.token.policy

    def has(self, scope: Scope) -> bool:
        return scope in self.token.scopes

    def require(self, scope: Scope, *, action: str) -> None:
        if scope not in self.token.scopes:
            raise ScopeRequired(
                f"token {self.name} lacks the {scope.value} scope needed to {action}",
                scope=scope.value,
            )

    def require_profile(self, profile: str) -> None:
        if profile not in self.token.profiles:
            allowed = ", ".join(self.token.profiles) or "none"
            raise ProfileNotAllowed(
                f"profile: token {self.name} may not use profile {profile!r} (allowed: {allowed})"
            )

    def obtained(self, record: CertificateRecord) -> bool:
        """Whether this token obtained the certificate (or the one it renews)."""
        return record.requested_by == self.actor
