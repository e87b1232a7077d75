"""A faithful fake of ELBv2 trust stores and listener mutual TLS, for tests and the demo.

moto 5.2 implements none of the trust store calls and silently drops a listener's
``MutualAuthentication`` (AWS_NOTES.md, "moto"). This module keeps that state itself and
enforces what AWS documents; ``albca.emulated_aws.botocore_hooks`` puts it behind a real boto3
client, so botocore still validates every request (required members, lengths, the name
pattern, types) before the fake sees it, and everything else still goes to moto.

Sources: the ELBv2 API reference (CreateTrustStore, ModifyTrustStore, DeleteTrustStore,
DescribeTrustStores, GetTrustStoreCaCertificatesBundle, Add/Remove/DescribeTrustStoreRevocations,
GetTrustStoreRevocationContent, DescribeTrustStoreAssociations, MutualAuthenticationAttributes),
the botocore service model (shapes and error codes), the ALB user guide ("Mutual
authentication with TLS", "Quotas") and AWS_NOTES.md ("ALB mutual TLS", "Trust stores").

Enforced, with the real error codes:

- Names: 1-32 characters matching ``^([a-zA-Z0-9]+-)*[a-zA-Z0-9]+$``, else
  ``ValidationError`` (botocore checks only required members, types and minimums, not
  maximum lengths or patterns: the fake checks those it relies on, as AWS does), unique
  per region (``DuplicateTrustStoreName``); at most ``quotas.trust_stores_per_account``
  (20 by default) trust stores (``TooManyTrustStores``).
- Bundles and CRLs are read from S3 through the given S3 client, honouring
  ``S3ObjectVersion``; without it the current version is read and remembered, so a later
  overwrite of the key changes nothing. A missing bucket, key or version is
  ``CaCertificatesBundleNotFound`` (bundle) or ``RevocationContentNotFound`` (CRL).
- The bundle must pass every rule AWS documents, stated again in
  ``albca.emulated_aws.trust_store_rules`` (never albca's own check, which is what the
  fake tests); otherwise ``InvalidCaCertificatesBundle`` with AWS's generic text and no
  detail. A store whose listeners advertise CA names also gets the CA names quota on
  ``modify_trust_store``. Every quota is a field of ``TrustStoreQuotas`` (most are
  adjustable), defaulting to the quotas page.
- Status ``CREATING`` -> ``ACTIVE``: a new store is reported ``CREATING`` by
  ``creating_polls`` calls of ``describe_trust_stores`` (default 1), then ``ACTIVE``; there
  is no waiter, so callers must poll. ``ModifyTrustStore`` keeps the status.
- Revocations: each CRL must be one PEM CRL of at most 50 MB, issued and signed by a CA in
  the store's bundle, else ``InvalidRevocationContent``; a store holds at most 500,000
  entries and 30 CRLs (``TooManyTrustStoreRevocationEntries`` for both). Unknown ids are
  ``RevocationIdNotFound``. Every call is all-or-nothing.
- Paged lists (DescribeTrustStores, -Revocations, -Associations) return at most
  ``PageSize`` items (1-400) and never more than the fake's ``max_page_size``: AWS may
  return fewer than asked, so a caller must follow ``NextMarker``.
- ``delete_trust_store`` while a listener uses the store: ``TrustStoreInUse``.
- ``Get...Bundle``/``Get...RevocationContent`` return a pre-signed S3 URL, valid ten
  minutes, of the exact object version the store loaded (against ThreadedMotoServer any
  HTTP client can fetch it; under ``moto.mock_aws`` only ``requests`` is intercepted).
- Listener ``MutualAuthentication`` (create_listener, modify_listener): ``Mode`` is off,
  passthrough or verify; anything but off needs an HTTPS listener; verify needs a
  ``TrustStoreArn`` that exists (``TrustStoreNotFound``) and is ACTIVE
  (``TrustStoreNotReady``); at most 2 verify-mode listeners per load balancer. The stored
  attributes come back from describe_listeners/create_listener/modify_listener; an HTTPS
  listener without them reports ``Mode: off``. Deleting a listener or its load balancer
  drops them. ``DescribeTrustStoreAssociations`` lists the resources whose listeners verify
  with the store (see ``Undocumented.associations``).

What AWS does not document is a switch (``Undocumented``), so that the tests can run albca
under every plausible answer:

- ``associations``: whether DescribeTrustStoreAssociations names load balancers or
  listeners ("the Amazon Resource Name (ARN) of the resource", botocore's model);
- ``orphan_crls``: what ModifyTrustStore does with CRLs whose issuing CA is not in the new
  bundle: keeps them, removes them, or refuses the bundle (``InvalidCaCertificatesBundle``);
- ``revocations_while_creating``: whether AddTrustStoreRevocations is accepted while the
  store is CREATING, or refused (``TrustStoreNotReady``);
- ``creating_polls``: how many DescribeTrustStores calls see a new store CREATING.

Where AWS documents the rule but not the error it returns, the fake answers
``InvalidConfigurationRequest`` (a third verify-mode listener; a TrustStoreArn,
IgnoreClientCertificateExpiry or AdvertiseTrustStoreCaNames=on outside verify mode; CA names
over 10,000 bytes on a listener that advertises them; a Mode other than the three).
Tags on trust stores (``CreateTrustStore`` ``Tags``, ``AddTags``, ``RemoveTags``,
``DescribeTags`` for trust store ARNs; the hooks send other ARNs on to moto): at most 50
per store (``TooManyTags``), keys unique (``DuplicateTagKeys``), ``AddTags`` overwrites
the value of a key that exists, at most 20 ARNs per ``DescribeTags`` (``ValidationError``),
unknown ARNs are ``TrustStoreNotFound``; each call is all-or-nothing.

Not modelled: shared (cross-account) trust stores, NLB TLS
listeners, and the time a real store takes to become ACTIVE.
"""

from __future__ import annotations

import itertools
import re
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from albca.emulated_aws.trust_store_rules import (
    LoadedBundle,
    Refused,
    TrustStoreQuotas,
    load_bundle,
    load_crl,
)

__all__ = [
    "AwsApiError",
    "ObjectReader",
    "ObjectMissing",
    "TrustStoreFake",
    "TrustStoreQuotas",
    "Undocumented",
    "Listener",
    "is_trust_store_arn",
]

MAX_NAME_LENGTH = 32
NAME_PATTERN = re.compile(r"^([a-zA-Z0-9]+-)*[a-zA-Z0-9]+$")
MAX_PAGE_SIZE = 400  # botocore's model: PageSize is 1-400
MAX_VERIFY_LISTENERS_PER_LOAD_BALANCER = 2
MAX_TAGS = 50
MAX_DESCRIBE_TAGS_ARNS = 20  # DescribeTags: "You can specify up to 20 resources"
PRESIGNED_URL_SECONDS = 600  # "a pre-signed S3 URI which is active for ten minutes"
DEFAULT_ACCOUNT = "123456789012"  # moto's default account

# The texts AWS documents for these errors (botocore service model).
_INVALID_BUNDLE = "The specified ca certificate bundle is in an invalid format, or corrupt."
_INVALID_REVOCATION = (
    "The provided revocation file is an invalid format, or uses an incorrect algorithm."
)

Params = dict[str, Any]
Response = dict[str, Any]


@dataclass(frozen=True)
class Undocumented:
    """The fake's answer where AWS documents none (issue 13, point 10). The defaults are
    what the fake always did; the tests run albca under the others too."""

    # DescribeTrustStoreAssociations: "load-balancer" or "listener" ARNs.
    associations: str = "load-balancer"
    # ModifyTrustStore, for CRLs whose issuer leaves the bundle: "kept", "removed", "refused".
    orphan_crls: str = "kept"
    # AddTrustStoreRevocations on a CREATING store: "accepted" or "refused".
    revocations_while_creating: str = "accepted"

    def __post_init__(self) -> None:
        for option, allowed in (
            ("associations", ("load-balancer", "listener")),
            ("orphan_crls", ("kept", "removed", "refused")),
            ("revocations_while_creating", ("accepted", "refused")),
        ):
            if getattr(self, option) not in allowed:
                raise ValueError(f"Undocumented.{option} must be one of {', '.join(allowed)}")


class AwsApiError(Exception):
    """An error the emulated service answers with: ``code`` is the AWS error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ObjectMissing(Exception):
    """The S3 bucket, key or version does not exist (or cannot be read)."""


@dataclass(frozen=True)
class S3Object:
    body: bytes
    version_id: str | None


class ObjectReader:
    """Reads exact object versions through an S3 client (moto's, in tests and the demo)."""

    def __init__(self, s3_client: Any) -> None:
        self._s3 = s3_client

    def read(self, bucket: str, key: str, version_id: str | None) -> S3Object:
        from botocore.exceptions import ClientError

        request: Params = {"Bucket": bucket, "Key": key}
        if version_id:
            request["VersionId"] = version_id
        try:
            response = self._s3.get_object(**request)
        except ClientError as exc:
            raise ObjectMissing(exc.response.get("Error", {}).get("Code", "")) from exc
        return S3Object(response["Body"].read(), response.get("VersionId") or version_id)

    def presigned_url(self, bucket: str, key: str, version_id: str | None) -> str:
        request: Params = {"Bucket": bucket, "Key": key}
        if version_id:
            request["VersionId"] = version_id
        url: str = self._s3.generate_presigned_url(
            "get_object", Params=request, ExpiresIn=PRESIGNED_URL_SECONDS
        )
        return url


@dataclass(frozen=True)
class Location:
    bucket: str
    key: str
    version_id: str | None


@dataclass
class _Revocation:
    revocation_id: int
    location: Location
    entries: int
    issuer: x509.Certificate  # the bundle CA whose key signed the CRL


@dataclass
class _TrustStore:
    name: str
    arn: str
    region: str
    bundle: LoadedBundle
    bundle_location: Location
    polls_left: int
    tags: list[dict[str, str]]
    revocations: dict[int, _Revocation] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "ACTIVE" if self.polls_left == 0 else "CREATING"

    def describe(self) -> Response:
        return {
            "Name": self.name,
            "TrustStoreArn": self.arn,
            "Status": self.status,
            "NumberOfCaCertificates": len(self.bundle.certificates),
            "TotalRevokedEntries": sum(r.entries for r in self.revocations.values()),
        }

    def describe_revocation(self, revocation: _Revocation) -> Response:
        return {
            "TrustStoreArn": self.arn,
            "RevocationId": revocation.revocation_id,
            "RevocationType": "CRL",
            "NumberOfRevokedEntries": revocation.entries,
        }


@dataclass(frozen=True)
class Listener:
    """What the fake needs to know of a listener moto holds."""

    arn: str | None  # None while it is being created
    load_balancer_arn: str
    protocol: str | None


@dataclass
class _MutualAuthentication:
    load_balancer_arn: str
    attributes: dict[str, Any]

    @property
    def verify_store(self) -> str | None:
        if self.attributes.get("Mode") == "verify":
            trust_store: str = self.attributes["TrustStoreArn"]
            return trust_store
        return None


class TrustStoreFake:
    """The emulated trust stores of one account, every region, and the listener mutual
    authentication moto drops. Thread-safe; shared by every client it is installed on.

    ``creating_polls``: how many ``describe_trust_stores`` calls report a new store as
    ``CREATING`` before it is ``ACTIVE`` (0: active at once). ``quotas``: the account's
    trust store quotas. ``undocumented``: the answers where AWS documents none.
    ``max_page_size``: the most items one page of a paged list holds, whatever
    ``PageSize`` asks (a small one makes callers page).
    """

    def __init__(
        self,
        s3_client: Any,
        *,
        creating_polls: int = 1,
        account_id: str = DEFAULT_ACCOUNT,
        quotas: TrustStoreQuotas | None = None,
        undocumented: Undocumented | None = None,
        max_page_size: int = MAX_PAGE_SIZE,
    ) -> None:
        if creating_polls < 0:
            raise ValueError("creating_polls must not be negative")
        if not 1 <= max_page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"max_page_size must be 1-{MAX_PAGE_SIZE}")
        self._objects = ObjectReader(s3_client)
        self.creating_polls = creating_polls
        self.quotas = quotas or TrustStoreQuotas()
        self.undocumented = undocumented or Undocumented()
        self.max_page_size = max_page_size
        self.account_id = account_id
        self._stores: dict[str, _TrustStore] = {}  # by ARN
        self._listeners: dict[str, _MutualAuthentication] = {}  # by listener ARN
        self._revocation_ids = itertools.count(1)
        self._lock = threading.RLock()
        self._operations: dict[str, Callable[[Params, str], Response]] = {
            "CreateTrustStore": self.create_trust_store,
            "ModifyTrustStore": self.modify_trust_store,
            "DeleteTrustStore": self.delete_trust_store,
            "DescribeTrustStores": self.describe_trust_stores,
            "GetTrustStoreCaCertificatesBundle": self.get_trust_store_ca_certificates_bundle,
            "AddTrustStoreRevocations": self.add_trust_store_revocations,
            "RemoveTrustStoreRevocations": self.remove_trust_store_revocations,
            "DescribeTrustStoreRevocations": self.describe_trust_store_revocations,
            "GetTrustStoreRevocationContent": self.get_trust_store_revocation_content,
            "DescribeTrustStoreAssociations": self.describe_trust_store_associations,
        }
        self._tag_operations: dict[str, Callable[[Params, str], Response]] = {
            "AddTags": self.add_tags,
            "RemoveTags": self.remove_tags,
            "DescribeTags": self.describe_tags,
        }

    # -- dispatch ------------------------------------------------------------------------

    @property
    def operations(self) -> frozenset[str]:
        """The ELBv2 operations this fake answers instead of moto."""
        return frozenset(self._operations)

    @property
    def tag_operations(self) -> frozenset[str]:
        """The tagging operations this fake answers for trust store ARNs (and only those)."""
        return frozenset(self._tag_operations)

    def handle(self, operation: str, params: Params, region: str) -> Response:
        """Answer one trust store operation (``params`` already validated by botocore)."""
        with self._lock:
            handler = self._operations.get(operation) or self._tag_operations[operation]
            return handler(params, region)

    # -- inspection, for tests and the demo ------------------------------------------------

    def bundle_location(self, trust_store_arn: str) -> Location:
        """The exact S3 object version the store loaded its CA bundle from."""
        with self._lock:
            return self._store(trust_store_arn).bundle_location

    def revocation_locations(self, trust_store_arn: str) -> dict[int, Location]:
        """The exact S3 object version of each CRL the store holds, by revocation id."""
        with self._lock:
            store = self._store(trust_store_arn)
            return {rid: r.location for rid, r in store.revocations.items()}

    def activate(self, trust_store_arn: str) -> None:
        """Make a CREATING store ACTIVE now (as if enough time had passed)."""
        with self._lock:
            self._store(trust_store_arn).polls_left = 0

    # -- trust stores --------------------------------------------------------------------

    def create_trust_store(self, params: Params, region: str) -> Response:
        name = params["Name"]
        if len(name) > MAX_NAME_LENGTH or not NAME_PATTERN.fullmatch(name):
            raise AwsApiError(
                "ValidationError",
                f"Trust store name '{name}' must be 1-{MAX_NAME_LENGTH} characters matching "
                f"{NAME_PATTERN.pattern}",
            )
        in_region = [s for s in self._stores.values() if s.region == region]
        if any(store.name == name for store in in_region):
            raise AwsApiError(
                "DuplicateTrustStoreName", f"A trust store with the name '{name}' already exists"
            )
        # Quotas page: "Trust stores per account" (adjustable).
        if len(in_region) >= self.quotas.trust_stores_per_account:
            raise AwsApiError(
                "TooManyTrustStores",
                f"You've reached the limit of {self.quotas.trust_stores_per_account} trust stores",
            )
        tags = _checked_tags(params.get("Tags", []))
        location, bundle = self._load_bundle(params, advertise_ca_names=False)
        arn = (
            f"arn:aws:elasticloadbalancing:{region}:{self.account_id}:truststore/"
            f"{name}/{secrets.token_hex(8)}"
        )
        store = _TrustStore(
            name=name,
            arn=arn,
            region=region,
            bundle=bundle,
            bundle_location=location,
            polls_left=self.creating_polls,
            tags=tags,
        )
        self._stores[arn] = store
        return {"TrustStores": [store.describe()]}

    def modify_trust_store(self, params: Params, region: str) -> Response:
        store = self._store(params["TrustStoreArn"], region)
        advertised = any(
            record.verify_store == store.arn
            and record.attributes.get("AdvertiseTrustStoreCaNames") == "on"
            for record in self._listeners.values()
        )
        location, bundle = self._load_bundle(params, advertise_ca_names=advertised)
        # AWS does not say what becomes of a CRL whose issuing CA leaves the bundle.
        orphans = [
            r.revocation_id
            for r in store.revocations.values()
            if not any(_same_ca(r.issuer, ca) for ca in bundle.certificates)
        ]
        if orphans and self.undocumented.orphan_crls == "refused":
            raise AwsApiError("InvalidCaCertificatesBundle", _INVALID_BUNDLE)
        if self.undocumented.orphan_crls == "removed":
            for revocation_id in orphans:
                del store.revocations[revocation_id]
        store.bundle_location, store.bundle = location, bundle
        return {"TrustStores": [store.describe()]}

    def delete_trust_store(self, params: Params, region: str) -> Response:
        store = self._store(params["TrustStoreArn"], region)
        users = sorted(arn for arn, r in self._listeners.items() if r.verify_store == store.arn)
        if users:
            raise AwsApiError(
                "TrustStoreInUse",
                f"Trust store '{store.arn}' is in use by {len(users)} listener(s)",
            )
        del self._stores[store.arn]
        return {}

    def describe_trust_stores(self, params: Params, region: str) -> Response:
        in_region = [s for s in self._stores.values() if s.region == region]
        selected = in_region
        if "TrustStoreArns" in params:
            by_arn = {store.arn: store for store in in_region}
            missing = [arn for arn in params["TrustStoreArns"] if arn not in by_arn]
            if missing:
                raise _not_found(missing[0])
            selected = [by_arn[arn] for arn in dict.fromkeys(params["TrustStoreArns"])]
        if "Names" in params:
            names = set(params["Names"])
            unknown = names - {store.name for store in in_region}
            if unknown:
                raise AwsApiError(
                    "TrustStoreNotFound", f"No trust store named '{sorted(unknown)[0]}'"
                )
            selected = [store for store in selected if store.name in names]
        page, next_marker = self._page(selected, params)
        described = []
        for store in page:
            described.append(store.describe())
            if store.polls_left:  # this poll saw it CREATING; it gets closer to ACTIVE
                store.polls_left -= 1
        return _with_marker({"TrustStores": described}, next_marker)

    def get_trust_store_ca_certificates_bundle(self, params: Params, region: str) -> Response:
        location = self._store(params["TrustStoreArn"], region).bundle_location
        return {"Location": self._presigned(location)}

    def describe_trust_store_associations(self, params: Params, region: str) -> Response:
        store = self._store(params["TrustStoreArn"], region)
        users = [(arn, r) for arn, r in self._listeners.items() if r.verify_store == store.arn]
        # "The Amazon Resource Name (ARN) of the resource" (botocore's model): which kind of
        # resource is not documented (AWS_NOTES.md, "Trust stores").
        if self.undocumented.associations == "listener":
            resources = sorted(arn for arn, _ in users)
        else:
            resources = sorted({record.load_balancer_arn for _, record in users})
        page, next_marker = self._page(resources, params)
        associations = [{"ResourceArn": arn} for arn in page]
        return _with_marker({"TrustStoreAssociations": associations}, next_marker)

    # -- tags ----------------------------------------------------------------------------

    def add_tags(self, params: Params, region: str) -> Response:
        stores = [self._store(arn, region) for arn in params["ResourceArns"]]
        new = {tag["Key"]: dict(tag) for tag in _checked_tags(params["Tags"])}
        merged = [{**{t["Key"]: t for t in store.tags}, **new} for store in stores]
        checked = [_checked_tags(list(tags.values())) for tags in merged]  # all, then apply
        for store, tags in zip(stores, checked, strict=True):
            store.tags = tags
        return {}

    def remove_tags(self, params: Params, region: str) -> Response:
        stores = [self._store(arn, region) for arn in params["ResourceArns"]]
        keys = set(params["TagKeys"])
        for store in stores:
            store.tags = [tag for tag in store.tags if tag["Key"] not in keys]
        return {}

    def describe_tags(self, params: Params, region: str) -> Response:
        arns = params["ResourceArns"]
        if len(arns) > MAX_DESCRIBE_TAGS_ARNS:
            raise AwsApiError(
                "ValidationError",
                f"You can specify up to {MAX_DESCRIBE_TAGS_ARNS} resources, not {len(arns)}",
            )
        stores = [self._store(arn, region) for arn in arns]
        return {
            "TagDescriptions": [
                {"ResourceArn": store.arn, "Tags": [dict(tag) for tag in store.tags]}
                for store in stores
            ]
        }

    # -- revocations ---------------------------------------------------------------------

    def add_trust_store_revocations(self, params: Params, region: str) -> Response:
        store = self._store(params["TrustStoreArn"], region)
        if store.status != "ACTIVE" and self.undocumented.revocations_while_creating == "refused":
            # Not documented either way; botocore's model has no error for it on this
            # operation, so the one that says "not active" is taken.
            raise AwsApiError(
                "TrustStoreNotReady", f"Trust store '{store.arn}' is {store.status}, not ACTIVE"
            )
        contents = params.get("RevocationContents") or []
        if not contents:
            raise AwsApiError("InvalidRevocationContent", "No revocation content was given")
        added = []
        for content in contents:
            if content.get("RevocationType") != "CRL" or not (
                content.get("S3Bucket") and content.get("S3Key")
            ):
                raise AwsApiError("InvalidRevocationContent", _INVALID_REVOCATION)
            location = Location(
                content["S3Bucket"], content["S3Key"], content.get("S3ObjectVersion")
            )
            try:
                loaded = self._objects.read(location.bucket, location.key, location.version_id)
            except ObjectMissing:
                raise AwsApiError(
                    "RevocationContentNotFound",
                    f"The revocation file s3://{location.bucket}/{location.key} does not exist",
                ) from None
            try:
                entries, issuer = load_crl(loaded.body, store.bundle.certificates, self.quotas)
            except Refused:
                raise AwsApiError("InvalidRevocationContent", _INVALID_REVOCATION) from None
            exact = Location(location.bucket, location.key, loaded.version_id)
            added.append((exact, entries, issuer))
        held = [r.entries for r in store.revocations.values()] + [n for _, n, _ in added]
        # Quotas page: "Revocation files per trust store" and "Revocation entries per trust
        # store"; AWS answers both with TooManyTrustStoreRevocationEntries.
        if len(held) > self.quotas.revocation_files_per_trust_store:
            raise AwsApiError(
                "TooManyTrustStoreRevocationEntries",
                f"A trust store holds at most {self.quotas.revocation_files_per_trust_store} "
                f"revocation files, not {len(held)}",
            )
        if sum(held) > self.quotas.revocation_entries_per_trust_store:
            raise AwsApiError(
                "TooManyTrustStoreRevocationEntries",
                f"A trust store holds at most {self.quotas.revocation_entries_per_trust_store}"
                f" revocation entries, not {sum(held)}",
            )
        described = []
        for location, entries, issuer in added:
            revocation = _Revocation(next(self._revocation_ids), location, entries, issuer)
            store.revocations[revocation.revocation_id] = revocation
            described.append(store.describe_revocation(revocation))
        return {"TrustStoreRevocations": described}

    def remove_trust_store_revocations(self, params: Params, region: str) -> Response:
        store = self._store(params["TrustStoreArn"], region)
        ids = params["RevocationIds"]
        _require_revocations(store, ids)
        for revocation_id in ids:
            store.revocations.pop(revocation_id, None)
        return {}

    def describe_trust_store_revocations(self, params: Params, region: str) -> Response:
        store = self._store(params["TrustStoreArn"], region)
        revocations = list(store.revocations.values())
        if "RevocationIds" in params:
            _require_revocations(store, params["RevocationIds"])
            wanted = set(params["RevocationIds"])
            revocations = [r for r in revocations if r.revocation_id in wanted]
        page, next_marker = self._page(revocations, params)
        described = [store.describe_revocation(revocation) for revocation in page]
        return _with_marker({"TrustStoreRevocations": described}, next_marker)

    def get_trust_store_revocation_content(self, params: Params, region: str) -> Response:
        store = self._store(params["TrustStoreArn"], region)
        _require_revocations(store, [params["RevocationId"]])
        return {"Location": self._presigned(store.revocations[params["RevocationId"]].location)}

    # -- listener mutual authentication --------------------------------------------------

    def check_mutual_authentication(self, listener: Listener, attributes: Params) -> Params:
        """Validate a listener's requested ``MutualAuthentication``; return what AWS stores
        and returns for it. Raises ``AwsApiError`` for what AWS refuses."""
        with self._lock:
            return self._check_mutual_authentication(listener, attributes)

    def _check_mutual_authentication(self, listener: Listener, attributes: Params) -> Params:
        mode = attributes.get("Mode", "off")
        if mode not in ("off", "passthrough", "verify"):
            raise _invalid_configuration(f"Mode must be off, passthrough or verify, not '{mode}'")
        if mode != "off" and listener.protocol != "HTTPS":
            raise _invalid_configuration(
                f"Mutual authentication mode '{mode}' needs an HTTPS listener, not "
                f"{listener.protocol}"
            )
        verify_only = {
            "TrustStoreArn": attributes.get("TrustStoreArn") is not None,
            "IgnoreClientCertificateExpiry": attributes.get("IgnoreClientCertificateExpiry")
            is True,
            "AdvertiseTrustStoreCaNames": attributes.get("AdvertiseTrustStoreCaNames") == "on",
        }
        if mode != "verify":
            for option, given in verify_only.items():
                if given:
                    raise _invalid_configuration(f"{option} applies only to verify mode")
            return {"Mode": mode}
        if not verify_only["TrustStoreArn"]:
            raise _invalid_configuration("Verify mode needs a TrustStoreArn")
        # A listener can only use a trust store of its own region.
        store = self._store(attributes["TrustStoreArn"], _region_of(listener.load_balancer_arn))
        if store.status != "ACTIVE":
            raise AwsApiError(
                "TrustStoreNotReady", f"Trust store '{store.arn}' is {store.status}, not ACTIVE"
            )
        others = [
            arn
            for arn, record in self._listeners.items()
            if record.load_balancer_arn == listener.load_balancer_arn
            and record.verify_store is not None
            and arn != listener.arn
        ]
        # Mutual authentication guide: at most two verify-mode listeners per load balancer.
        if len(others) >= MAX_VERIFY_LISTENERS_PER_LOAD_BALANCER:
            raise _invalid_configuration(
                f"Load balancer '{listener.load_balancer_arn}' already has "
                f"{len(others)} listeners in verify mode; the limit is "
                f"{MAX_VERIFY_LISTENERS_PER_LOAD_BALANCER}"
            )
        advertise = attributes.get("AdvertiseTrustStoreCaNames", "off")
        if advertise == "on" and store.bundle.ca_names_bytes > self.quotas.ca_names_bytes:
            raise _invalid_configuration(
                f"The CA names of trust store '{store.arn}' take {store.bundle.ca_names_bytes} "
                f"bytes; at most {self.quotas.ca_names_bytes} can be advertised"
            )
        return {
            "Mode": "verify",
            "TrustStoreArn": store.arn,
            "IgnoreClientCertificateExpiry": bool(
                attributes.get("IgnoreClientCertificateExpiry", False)
            ),
            "TrustStoreAssociationStatus": "active",
            "AdvertiseTrustStoreCaNames": advertise,
        }

    def record_mutual_authentication(
        self, listener_arn: str, load_balancer_arn: str, stored: Params
    ) -> None:
        with self._lock:
            self._listeners[listener_arn] = _MutualAuthentication(load_balancer_arn, stored)

    def mutual_authentication(self, listener_arn: str, protocol: str | None) -> Params | None:
        """What describe_listeners returns for a listener (``Mode: off`` on HTTPS listeners
        that never set it), or ``None`` for a listener that has no such attributes."""
        with self._lock:
            record = self._listeners.get(listener_arn)
        if record is not None:
            return dict(record.attributes)
        return {"Mode": "off"} if protocol == "HTTPS" else None

    def forget_listeners(
        self, *, listener_arns: Sequence[str] = (), load_balancer_arn: str = ""
    ) -> None:
        """Drop the attributes of deleted listeners (or of every listener of a deleted
        load balancer)."""
        with self._lock:
            for arn in listener_arns:
                self._listeners.pop(arn, None)
            if load_balancer_arn:
                for arn, record in list(self._listeners.items()):
                    if record.load_balancer_arn == load_balancer_arn:
                        del self._listeners[arn]

    # -- helpers -------------------------------------------------------------------------

    def _store(self, arn: str, region: str | None = None) -> _TrustStore:
        """The store of that ARN, in ``region`` when one is given (a client sees only the
        trust stores of its own region)."""
        store = self._stores.get(arn)
        if store is None or (region is not None and store.region != region):
            raise _not_found(arn)
        return store

    def _load_bundle(
        self, params: Params, *, advertise_ca_names: bool
    ) -> tuple[Location, LoadedBundle]:
        location = Location(
            params["CaCertificatesBundleS3Bucket"],
            params["CaCertificatesBundleS3Key"],
            params.get("CaCertificatesBundleS3ObjectVersion"),
        )
        try:
            loaded = self._objects.read(location.bucket, location.key, location.version_id)
        except ObjectMissing:
            raise AwsApiError(
                "CaCertificatesBundleNotFound",
                f"The ca certificate bundle s3://{location.bucket}/{location.key} does not exist",
            ) from None
        try:
            bundle = load_bundle(loaded.body, self.quotas, advertise_ca_names=advertise_ca_names)
        except Refused:
            # AWS says no more than this (the reason is in the Refused, for debugging).
            raise AwsApiError("InvalidCaCertificatesBundle", _INVALID_BUNDLE) from None
        return Location(location.bucket, location.key, loaded.version_id), bundle

    def _presigned(self, location: Location) -> str:
        return self._objects.presigned_url(location.bucket, location.key, location.version_id)

    def _page(self, items: Sequence[Any], params: Params) -> tuple[list[Any], str | None]:
        """One page of ``items`` after ``Marker`` (an opaque offset): ``PageSize`` long at
        most, and never longer than ``max_page_size``."""
        marker = params.get("Marker")
        try:
            start = int(marker) if marker else 0
        except ValueError:
            raise AwsApiError("ValidationError", f"Invalid marker '{marker}'") from None
        size = params.get("PageSize", MAX_PAGE_SIZE)
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise AwsApiError("ValidationError", f"PageSize must be 1-{MAX_PAGE_SIZE}")
        end = start + min(size, self.max_page_size)
        return list(items[start:end]), (str(end) if end < len(items) else None)


def is_trust_store_arn(arn: str) -> bool:
    """``arn:aws:elasticloadbalancing:REGION:ACCOUNT:truststore/NAME/ID``"""
    parts = arn.split(":", 5)
    return (
        len(parts) == 6
        and parts[2] == "elasticloadbalancing"
        and parts[5].startswith("truststore/")
    )


def _region_of(arn: str) -> str:
    return arn.split(":")[3] if arn.count(":") >= 5 else ""


def _same_ca(a: x509.Certificate, b: x509.Certificate) -> bool:
    """Same subject and key: the CA that signed a CRL is still in the bundle."""
    return a.subject == b.subject and a.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == b.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _not_found(arn: str) -> AwsApiError:
    return AwsApiError("TrustStoreNotFound", f"Trust store '{arn}' not found")


def _invalid_configuration(message: str) -> AwsApiError:
    return AwsApiError("InvalidConfigurationRequest", message)


def _require_revocations(store: _TrustStore, ids: Sequence[int]) -> None:
    for revocation_id in ids:
        if revocation_id not in store.revocations:
            raise AwsApiError(
                "RevocationIdNotFound",
                f"Revocation ID '{revocation_id}' not found in trust store '{store.arn}'",
            )


def _checked_tags(tags: list[dict[str, str]]) -> list[dict[str, str]]:
    keys = [tag["Key"] for tag in tags]
    if len(set(keys)) != len(keys):
        raise AwsApiError("DuplicateTagKeys", "A tag key was specified more than once")
    if len(tags) > MAX_TAGS:
        raise AwsApiError("TooManyTags", f"At most {MAX_TAGS} tags are allowed")
    return [dict(tag) for tag in tags]


def _with_marker(response: Response, next_marker: str | None) -> Response:
    if next_marker is not None:
        response["NextMarker"] = next_marker
    return response
