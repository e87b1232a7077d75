"""The DynamoDB table behind ``DynamoDBStore``: its items, its indexes, its definition.

One table holds every kind of item (single-table design), told apart by the key ``pk``:

==========================  ==============  ===============================================
pk                          sk              item
==========================  ==============  ===============================================
``CERT#<serial, 40 hex>``   ``CERT``        a certificate record
``AUTHORITY``               ``<key id>``    a CA certificate and where its key lives
``CRLNUMBER#<key id>``      ``CRLNUMBER``   the last CRL number of an issuing CA (a counter)
                                            and its revocations, counted up
``CRLENTRIES#<key id>``     ``<day>#<n>``   CRL entries of certificates expiring that
                                            UTC day, packed (``ca.stores.dynamodb_crl_entries``)
``REVOKED#<key id>``        ``<expiry>``    a revocation, as a CRL lists it (one no pack took)
``CRL#<key id>``            ``CRL``         the CRL the HTTP API serves (``keep_crl``)
``AUDIT#<shard>``           ``<id, 20 d>``  one audit event
==========================  ==============  ===============================================

Why ``REVOKED#`` items beside the revoked index: a CRL must list every revocation
committed before its number was taken (issue 12, points 1 and 3), and a global secondary
index cannot be read strongly consistently ("Strongly consistent reads are not supported
on global secondary indexes", DynamoDB Developer Guide, "Read consistency"). A Query of the
table itself can: the revocation writes its ``REVOKED#`` item in the same transaction, and
a CRL reads that partition with ``ConsistentRead``. Since issue 17 a revocation's CRL entry
is kept DER-encoded and packed with others in a ``CRLENTRIES#`` item (see
``ca.stores.dynamodb_crl_entries``), and a ``REVOKED#`` item is written only when no pack
has room. The index is read once more per issuer, for revocations recorded before either
partition existed: the first CRL after the upgrade copies them into ``REVOKED#`` items and
marks the issuer's counter (``entries_complete``), and later CRLs skip the index.

Every listing is a Query on an index, never a Scan (AWS: "Best practices for querying and
scanning data"). Certificates are listed ordered by ``(not_after, serial)``, so every
certificate index sorts on ``expiry_key = "<not_after, 12 digits>#<serial, 40 hex>"``:
string order is that order, and a cursor is a sort-key bound.

Hot partitions. A certificate index keyed only by status (``valid``) or profile
(``client``) would put every issuance's index write into one partition, which DynamoDB
caps at about 1,000 writes per second, and since ``expiry_key`` grows with time the
writes all land at its tail, where split-for-heat cannot help. So those keys are written
sharded, ``valid#0`` .. ``valid#7`` (the shard is the serial modulo ``SHARDS``), and a
listing queries the shards and merges them: exact, because each shard is sorted on the
same key. The unfiltered listing is the merge of the ``valid#*`` and ``revoked#*`` shards
of the status index: it needs no index of its own. Audit events are sharded the same way.
The revoked-entries index is not sharded: revocations are rare, and a CRL is one
sequential read of one issuer's partition.

The CRL itself is never stored here (400 KB item limit); only its number is.

The HTTP API keeps its tokens, idempotency keys and used renewal-token ids in the same
table, under keys of their own (``TOKEN#...``, ``TOKENNAMES``, ``IDEMPOTENCY#...``,
``USEDTOKEN#...``; see ``api.stores.dynamodb_models``): no index of this table includes
them, and no listing here reads their partitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.attributes import BinaryAttribute, ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from albca.ca.stores.dynamodb_table import DynamoDBTable, UnboundMeta

__all__ = [
    "SHARDS",
    "TTL_ATTRIBUTE",
    "CertificateItem",
    "AuthorityItem",
    "CounterItem",
    "RevocationItem",
    "CrlEntriesItem",
    "KeptCrlItem",
    "AuditItem",
    "MODELS",
    "table_definition",
    "index_names",
    "BoundModels",
    "bind_models",
]

SHARDS = 8
"""Write shards of the status, profile, issuer and audit partitions. Part of the data
format: changing it needs a migration of every item."""

TTL_ATTRIBUTE = "expires_at"
"""Epoch seconds after which DynamoDB TTL may delete an item: for a certificate and its
``REVOKED#`` item, not_after plus the retention period (a ``CRLENTRIES#`` pack: its day's
end plus the retention period); for the API's idempotency keys and
used renewal-token ids (``api.stores.dynamodb``), the moment they expire. Nothing else
carries it: authorities, counters, audit events and API tokens are kept."""

CERT_SK = "CERT"
AUTHORITY_PK = "AUTHORITY"
CRL_NUMBER_SK = "CRLNUMBER"
KEPT_CRL_SK = "CRL"


class StatusIndex(GlobalSecondaryIndex["CertificateItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "status-expiry"
        projection = IncludeProjection(["profile", "issuer_key_id"])

    status_shard = UnicodeAttribute(hash_key=True)
    expiry_key = UnicodeAttribute(range_key=True)


class ProfileIndex(GlobalSecondaryIndex["CertificateItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "profile-expiry"
        projection = IncludeProjection(["status", "issuer_key_id"])

    profile_shard = UnicodeAttribute(hash_key=True)
    expiry_key = UnicodeAttribute(range_key=True)


class IssuerIndex(GlobalSecondaryIndex["CertificateItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "issuer-expiry"
        projection = IncludeProjection(["status", "profile"])

    issuer_shard = UnicodeAttribute(hash_key=True)
    expiry_key = UnicodeAttribute(range_key=True)


class RevokedIndex(GlobalSecondaryIndex["CertificateItem"]):  # type: ignore[no-untyped-call]
    """Sparse: only revoked certificates carry ``revoked_issuer``. A CRL reads exactly its
    entries, and the entries of expired certificates fall off by the sort-key bound."""

    class Meta:
        index_name = "revoked-by-issuer"
        projection = IncludeProjection(["revoked_at", "revocation_reason"])

    revoked_issuer = UnicodeAttribute(hash_key=True)
    expiry_key = UnicodeAttribute(range_key=True)


class CertificateItem(Model):
    Meta = UnboundMeta  # type: ignore[assignment]  # pynamodb types Meta as a Protocol

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    serial = UnicodeAttribute()  # 40 hex digits
    issuer_key_id = UnicodeAttribute()
    subject = UnicodeAttribute()
    common_name = UnicodeAttribute(null=True)
    dns_names = ListAttribute(of=UnicodeAttribute)
    ip_addresses = ListAttribute(of=UnicodeAttribute)
    profile = UnicodeAttribute()
    not_before = NumberAttribute()  # epoch seconds, UTC
    not_after = NumberAttribute()
    status = UnicodeAttribute()
    revoked_at = NumberAttribute(null=True)
    revocation_reason = NumberAttribute(null=True)
    certificate_pem = UnicodeAttribute()
    requested_by = UnicodeAttribute()
    issued_at = NumberAttribute()
    # Index keys, derived from the fields above when the item is written.
    expiry_key = UnicodeAttribute()
    status_shard = UnicodeAttribute()
    profile_shard = UnicodeAttribute()
    issuer_shard = UnicodeAttribute()
    revoked_issuer = UnicodeAttribute(null=True)
    expires_at = NumberAttribute(null=True, attr_name=TTL_ATTRIBUTE)

    by_status = StatusIndex()
    by_profile = ProfileIndex()
    by_issuer = IssuerIndex()
    revoked = RevokedIndex()


class AuthorityItem(Model):
    Meta = UnboundMeta  # type: ignore[assignment]  # pynamodb types Meta as a Protocol

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)  # the key id
    role = UnicodeAttribute()
    status = UnicodeAttribute()
    certificate_pem = UnicodeAttribute()
    key_location = UnicodeAttribute()
    parent_key_id = UnicodeAttribute(null=True)
    created_at = NumberAttribute()


class CounterItem(Model):
    Meta = UnboundMeta  # type: ignore[assignment]  # pynamodb types Meta as a Protocol

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    last_number = NumberAttribute(default=0)
    revocations = NumberAttribute(null=True)  # on CRLNUMBER items: revocations recorded
    # On CRLNUMBER items: 1 once every revocation of the issuer is in its CRLENTRIES# and
    # REVOKED# partitions, so a CRL no longer reads the revoked index (issue 17, point 3).
    entries_complete = NumberAttribute(null=True)


class RevocationItem(Model):
    """``REVOKED#<issuer>`` / ``<expiry key>``: one revocation, read strongly consistently."""

    Meta = UnboundMeta  # type: ignore[assignment]  # pynamodb types Meta as a Protocol

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)  # the certificate's expiry_key
    revoked_at = NumberAttribute()
    revocation_reason = NumberAttribute()
    expires_at = NumberAttribute(null=True, attr_name=TTL_ATTRIBUTE)
    # The CRL entry's DER (``ca.der.crl_entries``); absent on items written before issue 17.
    entry = BinaryAttribute(null=True, legacy_encoding=False)


class CrlEntriesItem(Model):
    """``CRLENTRIES#<issuer>`` / ``<last second of a UTC day>#<slot>``: the CRL entries of
    revoked certificates expiring that day, packed (``ca.stores.dynamodb_crl_entries``)."""

    Meta = UnboundMeta  # type: ignore[assignment]  # pynamodb types Meta as a Protocol

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    entries = BinaryAttribute(legacy_encoding=False)  # DER entries, one after another
    expiries = BinaryAttribute(legacy_encoding=False)  # 3 bytes each: not_after - day start
    # Entries held: the version a writer conditions on. ``count`` in the table (a Model
    # has a ``count`` method).
    held = NumberAttribute(attr_name="count")
    expires_at = NumberAttribute(null=True, attr_name=TTL_ATTRIBUTE)


class KeptCrlItem(Model):
    Meta = UnboundMeta  # type: ignore[assignment]  # pynamodb types Meta as a Protocol

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    number = NumberAttribute()
    revocations = NumberAttribute()
    this_update = NumberAttribute()
    next_update = NumberAttribute()
    entries = NumberAttribute()
    der = BinaryAttribute(legacy_encoding=False)


class AuditSerialIndex(GlobalSecondaryIndex["AuditItem"]):  # type: ignore[no-untyped-call]
    """Sparse: only events about a certificate carry ``audit_serial``."""

    class Meta:
        index_name = "audit-by-serial"
        projection = AllProjection()

    audit_serial = UnicodeAttribute(hash_key=True)
    audit_id = NumberAttribute(range_key=True)


class AuditItem(Model):
    Meta = UnboundMeta  # type: ignore[assignment]  # pynamodb types Meta as a Protocol

    pk = UnicodeAttribute(hash_key=True)  # AUDIT#<shard>
    sk = UnicodeAttribute(range_key=True)  # the id, 20 digits: string order is number order
    audit_id = NumberAttribute()
    at = NumberAttribute()
    action = UnicodeAttribute()
    actor = UnicodeAttribute()
    audit_serial = UnicodeAttribute(null=True)
    detail = UnicodeAttribute()  # JSON

    by_serial = AuditSerialIndex()


MODELS: tuple[type[Model], ...] = (
    CertificateItem,
    AuthorityItem,
    CounterItem,
    RevocationItem,
    CrlEntriesItem,
    KeptCrlItem,
    AuditItem,
)


def table_definition(table_name: str) -> dict[str, Any]:
    """``CreateTable`` parameters (boto3 spelling) for the table every model above lives in.

    Derived from the models, so the table ``albca aws bootstrap`` creates and the items the
    store writes cannot drift apart. On-demand capacity: a CA's load is bursty (a fleet
    renewing at once) and mostly idle.
    """
    attributes: dict[str, str] = {}
    key_schema: list[dict[str, str]] = []
    indexes: list[dict[str, Any]] = []
    for model in MODELS:
        schema = model._get_schema()
        for definition in schema["attribute_definitions"]:
            attributes[definition["AttributeName"]] = definition["AttributeType"]
        if not key_schema:
            key_schema = _hash_first(schema["key_schema"])
        for index in schema["global_secondary_indexes"]:
            for definition in index["attribute_definitions"]:
                attributes[definition["AttributeName"]] = definition["AttributeType"]
            indexes.append(
                {
                    "IndexName": index["index_name"],
                    "KeySchema": _hash_first(index["key_schema"]),
                    "Projection": dict(index["projection"]),
                }
            )
    return {
        "TableName": table_name,
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": kind} for name, kind in attributes.items()
        ],
        "KeySchema": key_schema,
        "GlobalSecondaryIndexes": indexes,
        "BillingMode": "PAY_PER_REQUEST",
    }


def _hash_first(keys: Any) -> list[dict[str, str]]:
    # DynamoDB refuses a KeySchema whose first element is not the HASH key (AWS API
    # reference, KeySchemaElement); pynamodb lists attributes in definition order.
    schema = [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in keys]
    return sorted(schema, key=lambda key: key["KeyType"] != "HASH")


def index_names() -> frozenset[str]:
    indexes = table_definition("albca")["GlobalSecondaryIndexes"]
    return frozenset(index["IndexName"] for index in indexes)


@dataclass(frozen=True)
class BoundModels:
    """The models bound to one table (see ``bind_models``)."""

    certificate: type[CertificateItem]
    authority: type[AuthorityItem]
    counter: type[CounterItem]
    revocation: type[RevocationItem]
    crl_entries: type[CrlEntriesItem]
    kept_crl: type[KeptCrlItem]
    audit: type[AuditItem]


def bind_models(table: DynamoDBTable) -> BoundModels:
    """The models bound to ``table`` (see ``ca.stores.dynamodb_table``)."""
    return BoundModels(
        certificate=table.bind(CertificateItem),
        authority=table.bind(AuthorityItem),
        counter=table.bind(CounterItem),
        revocation=table.bind(RevocationItem),
        crl_entries=table.bind(CrlEntriesItem),
        kept_crl=table.bind(KeptCrlItem),
        audit=table.bind(AuditItem),
    )
