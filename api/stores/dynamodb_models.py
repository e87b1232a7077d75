"""The API's items in the certificate table (``ca.stores.dynamodb_models``), beside the records.

============================  ==============  ============================================
pk                            sk              item
============================  ==============  ============================================
``TOKEN#<token id>``          ``TOKEN``       an API token (everything but its secret)
``TOKENNAMES``                ``<name>``      a token name, taken forever: the token's id
``IDEMPOTENCY#<token id>``    ``<key>``       an Idempotency-Key: fingerprint and serial
``USEDTOKEN#<key>``           ``USEDTOKEN``   a used renewal token (``<serial>:<jti>``)
============================  ==============  ============================================

Why the certificate table and not one of their own: the API runs where the CA runs, so
one table means one ``albca aws bootstrap``, one ``albca aws check``, one IAM grant and
one backup policy (point-in-time recovery, deletion protection) for all the CA's state.
These items need no index, so an existing table made by ``albca aws bootstrap`` holds
them as it is; and they age out through the TTL attribute the table already has
(``TTL_ATTRIBUTE``): idempotency keys and used renewal tokens carry it, tokens and their
names never do, so that a name stays taken after its token expires.

A token is looked up by id on every request (the id is in the bearer string), so its item
is keyed by id and its partitions spread. The names share one partition, so that
``albca token list`` is one Query: tokens are made by operators, a few a day at most,
far below a partition's 1,000 writes per second.
"""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.models import Model

from albca.ca.stores.dynamodb_models import TTL_ATTRIBUTE
from albca.ca.stores.dynamodb_table import DynamoDBTable, UnboundMeta

__all__ = [
    "TOKEN_SK",
    "TOKEN_NAMES_PK",
    "USED_TOKEN_SK",
    "TokenItem",
    "TokenNameItem",
    "IdempotencyItem",
    "UsedTokenItem",
    "ApiModels",
    "bind_api_models",
]

# Key values, not secrets (ruff's S105 goes by the names).
TOKEN_SK = "TOKEN"  # noqa: S105
TOKEN_NAMES_PK = "TOKENNAMES"  # noqa: S105
USED_TOKEN_SK = "USEDTOKEN"  # noqa: S105


class TokenItem(Model):
    Meta = UnboundMeta  # type: ignore[assignment]  # pynamodb types Meta as a Protocol

    pk = UnicodeAttribute(hash_key=True)  # TOKEN#<token id>
    sk = UnicodeAttribute(range_key=True)
    token_id = UnicodeAttribute()
    name = UnicodeAttribute()
    secret_hash = UnicodeAttribute()  # hex SHA-256 of the whole token string
    scopes = ListAttribute(of=UnicodeAttribute)
    profiles = ListAttribute(of=UnicodeAttribute)
    dns = ListAttribute(of=UnicodeAttribute)
    ip_networks = ListAttribute(of=UnicodeAttribute)
    common_names = ListAttribute(of=UnicodeAttribute)
    allow_wildcards = BooleanAttribute()
    created_at = NumberAttribute()  # epoch seconds, UTC
    # Not the TTL attribute: an expired token is kept, and its name stays taken.
    token_expires_at = NumberAttribute()
    revoked_at = NumberAttribute(null=True)


class TokenNameItem(Model):
    Meta = UnboundMeta  # type: ignore[assignment]  # pynamodb types Meta as a Protocol

    pk = UnicodeAttribute(hash_key=True)  # TOKENNAMES
    sk = UnicodeAttribute(range_key=True)  # the name
    token_id = UnicodeAttribute()


class IdempotencyItem(Model):
    Meta = UnboundMeta  # type: ignore[assignment]  # pynamodb types Meta as a Protocol

    pk = UnicodeAttribute(hash_key=True)  # IDEMPOTENCY#<caller>
    sk = UnicodeAttribute(range_key=True)  # the Idempotency-Key
    fingerprint = UnicodeAttribute()
    serial = UnicodeAttribute()  # hex: a 159-bit serial exceeds DynamoDB's 38 digits
    created_at = NumberAttribute()
    expires_at = NumberAttribute(attr_name=TTL_ATTRIBUTE)
    # AES-GCM sealed by api.idempotency before it gets here; never the key in the clear.
    sealed_private_key = BinaryAttribute(null=True, legacy_encoding=False)


class UsedTokenItem(Model):
    Meta = UnboundMeta  # type: ignore[assignment]  # pynamodb types Meta as a Protocol

    pk = UnicodeAttribute(hash_key=True)  # USEDTOKEN#<key>
    sk = UnicodeAttribute(range_key=True)
    expires_at = NumberAttribute(attr_name=TTL_ATTRIBUTE)


@dataclass(frozen=True)
class ApiModels:
    """The models bound to one table (see ``bind_api_models``)."""

    token: type[TokenItem]
    token_name: type[TokenNameItem]
    idempotency: type[IdempotencyItem]
    used_token: type[UsedTokenItem]


def bind_api_models(table: DynamoDBTable) -> ApiModels:
    return ApiModels(
        token=table.bind(TokenItem),
        token_name=table.bind(TokenNameItem),
        idempotency=table.bind(IdempotencyItem),
        used_token=table.bind(UsedTokenItem),
    )
