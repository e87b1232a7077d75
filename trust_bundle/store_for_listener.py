"""One trust store made ready for a listener: albca's bundle published, the store created
from it or pointed at it, its CRLs in step, ACTIVE. What ``albca alb enable-mtls`` and
``albca cloudfront origin-mtls`` need before a listener verifies with the store.

``plan_trust_store`` reads the state and decides, changing nothing: is the latest published
bundle albca's current one (else a new S3 version is published), does the store exist
(else it is created from that exact version), does it hold that version (else it is
pointed at it), are its CRLs in step (``crl_freshness``; else a sync). The plan lists the
calls a run would make, for ``--dry-run``, as ``trust_bundle.planning`` plans them, with
``PLACEHOLDER`` standing for the values only an earlier call of the run could tell (a new
object version, a new store's ARN).

``ensure_trust_store`` carries the plan out with ``TrustStoreManager`` (``create``,
``update``, the revocation sync), each step recorded in the audit trail as those commands
record it. A store already in step is left alone: a second run changes nothing.

Only stores this CA feeds (tag ``albca:ca``) are changed; a store of that name made by hand
or fed by another CA is refused, naming the command that takes it on.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, replace

from albca.trust_bundle.alb_rules import check_bundle
from albca.trust_bundle.artefacts import (
    BUNDLE_NAME,
    PublishedBundle,
    S3Location,
)
from albca.trust_bundle.crl_freshness import CrlStanding, crl_standing
from albca.trust_bundle.elbv2 import (
    TrustStore,
)
from albca.trust_bundle.errors import TrustStoreError, TrustStoreNotFound
from albca.trust_bundle.key_ids import certificate_key_ids
from albca.trust_bundle.planning import PLACEHOLDER, Plan, PlannedCall, Planner
from albca.trust_bundle.publish import PublishedObject
from albca.trust_bundle.revocation_sync import SyncReport
from albca.trust_bundle.trust_stores import TrustStoreManager

__all__ = [
    "PLACEHOLDER",
    "StoreAction",
    "PlannedCall",
    "TrustStorePlan",
    "EnsureResult",
    "plan_trust_store",
    "ensure_trust_store",
]

ACTIVE = "ACTIVE"


class StoreAction(enum.Enum):
    CREATE = "create"  # no store of that name: create it from the bundle
    UPDATE = "update"  # it holds another bundle: point it at the current one
    NONE = "none"  # it holds the current bundle


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
    manager: TrustStoreManager, name: str, *, advertise_ca_names: bool = False
) -> TrustStorePlan:
    """What it takes for trust store ``name`` to hold albca's current bundle and CRLs, and
    the calls a run would make for it (``trust_bundle.planning``).

    Reads only. Raises ``BundleRejected`` when the bundle breaks an ALB rule (with
    ``advertise_ca_names``, or a listener of the store advertising them, the CA names
    limit too), and ``TrustStoreError`` when the store is not this CA's to change.
    """
    decided = _decide(manager, name, advertise_ca_names=advertise_ca_names)
    plan = Plan()
    planner = Planner(manager, plan)
    if decided.action is StoreAction.CREATE:
        planner.create(name, advertise_ca_names=advertise_ca_names)
    elif decided.action is StoreAction.UPDATE:
        planner.update([name], advertise_ca_names=advertise_ca_names)
    elif decided.syncs_crls:
        planner.sync(only=[name], include_roots=True)
    return replace(decided, calls=plan.calls)


def _decide(manager: TrustStoreManager, name: str, *, advertise_ca_names: bool) -> TrustStorePlan:
    """``plan_trust_store`` without the calls: what a run needs to decide what to do."""
    api = manager.require_api()
    publisher = manager.require_s3()
    store = _existing(manager, name)
    identity = manager.identity()
    if store is not None:
        _require_fed(store, identity)
    advertised = advertise_ca_names or (store is not None and manager.advertised([store]))
    pem = manager.bundle_pem()
    checked = check_bundle(pem, advertise_ca_names=advertised, limits=manager.limits)
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
    return TrustStorePlan(name, published, store, action, crls, ())


def ensure_trust_store(
    manager: TrustStoreManager, name: str, *, actor: str, advertise_ca_names: bool = False
) -> EnsureResult:
    """Carry out ``plan_trust_store``: afterwards the store holds albca's current bundle
    (the exact S3 version) and a current CRL of each of its CAs, and is ACTIVE.

    A failure part-way raises ``SyncIncomplete`` (or the error of the step) and leaves the
    store with a complete earlier state; running it again finishes the work.
    """
    plan = _decide(manager, name, advertise_ca_names=advertise_ca_names)
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
