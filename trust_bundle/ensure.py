"""One trust store made ready for a listener: albca's bundle published, the store created
from it or pointed at it, its CRLs in step, ACTIVE. What ``albca alb enable-mtls`` and
``albca cloudfront origin-mtls`` need before a listener verifies with the store.

``plan_trust_store`` reads the state and decides, changing nothing: is the latest published
bundle albca's current one (else a new S3 version is published), does the store exist
(else it is created from that exact version), does it hold that version (else it is
pointed at it), are its CRLs in step (``crl_standing``; else a sync). The plan lists the
calls a run would make, for ``--dry-run``, with ``unknown`` standing for the values only an
earlier call of the run could tell (a new object version, a new store's ARN).

``ensure_trust_store`` carries the plan out with ``TrustStoreManager`` (``create``,
``update``, the revocation sync), each step recorded in the audit trail as those commands
record it. A store already in step is left alone: a second run changes nothing.

Only stores this CA feeds (tag ``albca:ca``) are changed; a store of that name made by hand
or fed by another CA is refused, naming the command that takes it on.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trust_bundle.alb_rules import check_bundle
from trust_bundle.artefacts import (
    BUNDLE_NAME,
    PEM_CONTENT_TYPE,
    PublishedBundle,
    S3Location,
    crl_name,
)
from trust_bundle.crl_standing import CrlStanding, crl_standing
from trust_bundle.elbv2 import (
    TAG_BUNDLE,
    TAG_BUNDLE_VERSION,
    TAG_CA,
    TAG_CRL_PREFIX,
    TrustStore,
    add_revocation_params,
    add_tags_params,
    create_params,
    modify_params,
    remove_revocations_params,
    remove_tags_params,
)
from trust_bundle.errors import TrustStoreError, TrustStoreNotFound
from trust_bundle.publish import PublishedObject, S3Publisher
from trust_bundle.revocation_sync import SyncReport, certificate_key_ids
from trust_bundle.trust_stores import TrustStoreManager

__all__ = [
    "UNKNOWN",
    "StoreAction",
    "PlannedCall",
    "TrustStorePlan",
    "EnsureResult",
    "plan_trust_store",
    "ensure_trust_store",
]

UNKNOWN = "<known after the previous step>"
ACTIVE = "ACTIVE"


class StoreAction(enum.Enum):
    CREATE = "create"  # no store of that name: create it from the bundle
    UPDATE = "update"  # it holds another bundle: point it at the current one
    NONE = "none"  # it holds the current bundle


@dataclass(frozen=True)
class PlannedCall:
    """A call a run would make: ``service`` and ``operation`` as boto3 names them."""

    service: str
    operation: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class TrustStorePlan:
    name: str
    published: PublishedObject | None  # the latest bundle version, if it is the current one
    store: TrustStore | None  # as it stands, with its tags; None: it does not exist
    action: StoreAction
    crls: CrlStanding | None  # None when the store is created or updated (a sync follows)
    calls: tuple[PlannedCall, ...]

    @property
    def publishes_bundle(self) -> bool:
        return self.published is None

    @property
    def syncs_crls(self) -> bool:
        return self.crls is None or not self.crls.in_step

    @property
    def waits(self) -> bool:
        return self.action is not StoreAction.NONE or (
            self.store is not None and self.store.status != ACTIVE
        )

    @property
    def changes(self) -> bool:
        return bool(self.calls)


@dataclass(frozen=True)
class EnsureResult:
    plan: TrustStorePlan
    store: TrustStore  # ACTIVE, as it stands after the run
    bundle: PublishedBundle | None  # when the run published or re-used a bundle version
    sync: SyncReport | None  # when the run brought the CRLs in step

    def describe(self) -> str:
        """One sentence: what the run did to the store."""
        plan, store = self.plan, self.store
        location = store.bundle
        holding = f"{location.url} version {location.version_id}" if location else "its bundle"
        added = sum(len(store.added) for store in self.sync.stores) if self.sync else 0
        crls = f"{added} CRL(s) added" if added else ""
        if plan.action is StoreAction.CREATE:
            done = f"created from {holding}"
        elif plan.action is StoreAction.UPDATE:
            done = f"now holds {holding}"
        elif self.sync is not None:
            done = f"holds {holding}; its CRLs brought in step"
        else:
            return f"trust store {store.name} already holds {holding} and current CRLs"
        return f"trust store {store.name} {done}{f', {crls}' if crls else ''}, {store.status}"


def plan_trust_store(
    manager: TrustStoreManager,
    name: str,
    *,
    advertise_ca_names: bool = False,
    unknown: str = UNKNOWN,
) -> TrustStorePlan:
    """What it takes for trust store ``name`` to hold albca's current bundle and CRLs.

    Reads only. Raises ``BundleRejected`` when the bundle breaks an ALB rule (with
    ``advertise_ca_names``, or a listener of the store advertising them, the CA names
    limit too), and ``TrustStoreError`` when the store is not this CA's to change.
    """
    api = manager.require_api()
    publisher = manager.require_s3()
    store = _existing(manager, name)
    identity = manager.identity()
    if store is not None:
        _require_fed(store, identity)
    advertised = advertise_ca_names or (store is not None and manager.advertised([store]))
    pem = manager.bundle_pem()
    checked = check_bundle(pem, advertise_ca_names=advertised)
    latest = publisher.current(BUNDLE_NAME)
    published = latest if latest is not None and latest.sha256 == _sha256(pem) else None
    location = S3Location.of(published) if published is not None else None
    if store is None:
        action = StoreAction.CREATE
    elif store.bundle is None or store.bundle != location:
        action = StoreAction.UPDATE
    else:
        action = StoreAction.NONE
    key_ids = certificate_key_ids(checked.certificates)
    revocation_ids = [] if store is None else [r.revocation_id for r in api.revocations(store.arn)]
    crls = None
    if store is not None and action is StoreAction.NONE:
        crls = crl_standing(
            store,
            authority=manager.authority,
            revocation_ids=revocation_ids,
            bundle_key_ids=key_ids,
            publisher=publisher,
            now=manager.authority.now(),
        )
    calls = _Calls(manager, publisher, unknown)
    bundle_at = location or S3Location(publisher.bucket, publisher.key(BUNDLE_NAME), unknown)
    if published is None:
        calls.add("s3", "put_object", publisher.put_params(BUNDLE_NAME, pem, PEM_CONTENT_TYPE))
    tags = {TAG_CA: identity, TAG_BUNDLE: bundle_at.url, TAG_BUNDLE_VERSION: bundle_at.version_id}
    if store is None:
        calls.add("elbv2", "create_trust_store", create_params(name, bundle_at, tags))
    elif action is StoreAction.UPDATE:
        calls.add("elbv2", "modify_trust_store", modify_params(store.arn, bundle_at))
        calls.add("elbv2", "add_tags", add_tags_params(store.arn, tags))
    if crls is None or not crls.in_step:
        calls.sync(store, key_ids, revocation_ids)
    return TrustStorePlan(name, published, store, action, crls, tuple(calls.planned))


def ensure_trust_store(
    manager: TrustStoreManager, name: str, *, actor: str, advertise_ca_names: bool = False
) -> EnsureResult:
    """Carry out ``plan_trust_store``: afterwards the store holds albca's current bundle
    (the exact S3 version) and a current CRL of each of its CAs, and is ACTIVE.

    A failure part-way raises ``SyncIncomplete`` (or the error of the step) and leaves the
    store with a complete earlier state; running it again finishes the work.
    """
    plan = plan_trust_store(manager, name, advertise_ca_names=advertise_ca_names)
    api = manager.require_api()
    if plan.action is StoreAction.CREATE:
        created = manager.create(name, actor=actor, advertise_ca_names=advertise_ca_names)
        return EnsureResult(plan, created.stores[0], created.bundle, created.sync)
    if plan.action is StoreAction.UPDATE:
        updated = manager.update([name], actor=actor, advertise_ca_names=advertise_ca_names)
        return EnsureResult(plan, updated.stores[0], updated.bundle, updated.sync)
    assert plan.store is not None
    store = plan.store
    if store.status != ACTIVE:
        store = api.wait_active(
            store.arn, timeout=manager.wait_seconds, interval=manager.poll_seconds
        )
    sync = None
    if plan.syncs_crls:
        sync = manager.revocation_sync(include_roots=True).run(actor=actor, only=[name])
        store = api.by_arn(store.arn)
    return EnsureResult(plan, store, None, sync)


class _Calls:
    """The calls of a plan, in the order a run makes them."""

    def __init__(self, manager: TrustStoreManager, publisher: S3Publisher, unknown: str) -> None:
        self.manager = manager
        self.publisher = publisher
        self.unknown = unknown
        self.planned: list[PlannedCall] = []

    def add(self, service: str, operation: str, params: Mapping[str, Any]) -> None:
        self.planned.append(PlannedCall(service, operation, params))

    def sync(
        self, store: TrustStore | None, key_ids: frozenset[str], revocation_ids: Sequence[int]
    ) -> None:
        """What ``RevocationSync.run(include_roots=True, only=[store])`` does to a store
        that holds the bundle of ``key_ids``: a new CRL per CA published, then, per CA of
        the bundle, added, tagged, and the previous one removed; then stale tags and CRLs no
        tag names removed."""
        authority = self.manager.authority
        issuers = authority.crl_issuer_key_ids(roots=True)
        for issuer in issuers:
            self.add(
                "s3",
                "put_object",
                self.publisher.put_params(
                    crl_name(issuer),
                    f"<the CRL of CA {issuer}, signed when the change is made>",
                    PEM_CONTENT_TYPE,
                ),
            )
        arn = store.arn if store is not None else self.unknown
        tags = store.crls if store is not None else {}
        trusted = certificate_key_ids(authority.trusted_certificates())
        replaced: set[str] = set()
        removed: set[int] = set()
        for issuer in issuers:
            if issuer not in key_ids:
                continue
            crl = S3Location(self.publisher.bucket, self.publisher.key(crl_name(issuer)),
                             self.unknown)  # fmt: skip
            self.add("elbv2", "add_trust_store_revocations", add_revocation_params(arn, crl))
            tag = {f"{TAG_CRL_PREFIX}{issuer}": self.unknown}
            self.add("elbv2", "add_tags", add_tags_params(arn, tag))
            replaced.add(issuer)
            old = tags.get(issuer)
            if old is not None and old.revocation_id in revocation_ids:
                self.add(
                    "elbv2",
                    "remove_trust_store_revocations",
                    remove_revocations_params(arn, [old.revocation_id]),
                )
                removed.add(old.revocation_id)
        stale = [
            f"{TAG_CRL_PREFIX}{issuer}"
            for issuer in tags
            if issuer not in key_ids or issuer not in trusted
        ]
        if stale:
            self.add("elbv2", "remove_tags", remove_tags_params(arn, stale))
        still_named = {
            tag.revocation_id
            for issuer, tag in tags.items()
            if issuer not in replaced and f"{TAG_CRL_PREFIX}{issuer}" not in stale
        }
        orphans = [r for r in revocation_ids if r not in removed and r not in still_named]
        if orphans:
            self.add(
                "elbv2", "remove_trust_store_revocations", remove_revocations_params(arn, orphans)
            )


def _existing(manager: TrustStoreManager, name: str) -> TrustStore | None:
    try:
        return manager.require_api().get(name)
    except TrustStoreNotFound:
        return None


def _require_fed(store: TrustStore, identity: str) -> None:
    if store.ca_id == identity:
        return
    if store.ca_id is None:
        raise TrustStoreError(
            f"trust store {store.name} exists but is not fed by this CA (it has no albca:ca "
            f"tag: made by hand?); take it on with `albca truststore update {store.name} "
            "--adopt`, or give another name",
            trust_store=store.name,
        )
    raise TrustStoreError(
        f"trust store {store.name} is fed by another CA (albca:ca={store.ca_id}); give "
        "another name",
        trust_store=store.name,
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
