"""Revocations in step: new CRLs published, then swapped into every trust store this CA feeds.

One run (``RevocationSync.run``):

1. sign a new full CRL for every issuing CA relying parties trust, and check each against
   the ALB rules (PEM, 50 MB, issuer in the bundle, signature);
2. plan every trust store's changes and check the limits of each intermediate state (at
   most 30 CRLs and 500,000 entries while the old and the new CRL of a CA are both in)
   before anything is uploaded;
3. publish the CRLs (``crl/<issuer key id>.pem``, a new S3 version each);
4. per trust store and per CA: add the new CRL at its exact version, record it in the
   ``albca:crl:<issuer>`` tag, and only then remove the CA's previous CRL; finally remove
   CRLs no tag names (left by an interrupted run, or of CAs the store no longer trusts).

So a trust store always holds a CRL for each of its CAs: the previous one until the new
one is in. If anything fails, every trust store keeps a complete earlier state, a
``truststore-sync-pending`` event goes into the audit trail (``albca truststore status``
shows it; the next successful run clears it) and ``SyncIncomplete`` says what to rerun.

Runs take turns: each holds a lease in the certificate store (``claim_notice``, a
conditional write on SQLite and DynamoDB alike) from before it signs until its last trust
store call, and a run that finds the lease held waits for it (within its budget, and at
most one lease long). Two runs that overlapped (the CLI's ``revoke`` and the API's sync
after a revocation) used to lose a revocation: the first, acting on the tags it had read
before the second swapped in a newer CRL, put its older CRL back and then removed the
newer one as no tag's. Should a run still meet a newer CRL (a run whose lease ran out, an
albca from before the lease), it re-reads each store's tags before swapping and keeps a
CRL numbered at or above its own: a CRL is never replaced by one with a lower number.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cryptography import x509

from albca.ca.authority import Authority
from albca.ca.crl import CRLDocument
from albca.ca.errors import CAError, CertificateNotFound
from albca.ca.hierarchy import ca_identity
from albca.ca.records import AuditEvent
from albca.ca.stores.protocol import CertificateStore
from albca.trust_bundle.alb_rules import ALB_LIMITS, CheckedCRL, TrustStoreLimits
from albca.trust_bundle.artefacts import (
    PublishedCRL,
    S3Location,
    check_crl_document,
    publish_checked_crl,
)
from albca.trust_bundle.crl_swaps import HeldCrl, NewCrl, StoreSwaps, swaps_for
from albca.trust_bundle.elbv2 import TAG_CRL_PREFIX, CrlTag, TrustStore, TrustStoreApi
from albca.trust_bundle.errors import (
    PublishFailed,
    SyncIncomplete,
    TrustStoreError,
)
from albca.trust_bundle.key_ids import bundle_key_ids, certificate_key_ids
from albca.trust_bundle.publish import Publisher, S3Publisher
from albca.trust_bundle.sync_trail import SYNC_DONE, SYNC_RERUN, record_pending

__all__ = [
    "RevocationSync",
    "SyncReport",
    "StoreSync",
    "SyncOutcome",
    "sync_after_revocation",
    "only_these",
]


# The turn runs take (module docstring). A run that dies holding it holds up the next ones
# until it runs out: runs take seconds (a few AWS calls per trust store), so 15 minutes is
# long enough not to run out under a slow one and short enough for the next to go ahead.
SYNC_LEASE_KEY = "job:revocation-sync"
SYNC_LEASE = timedelta(minutes=15)
_FIRST_WAIT, _LONGEST_WAIT = 0.05, 2.0  # seconds between looks at a held lease
# How long a run without a budget (the CLI's) waits for its turn before it stops with a
# pending marker: a run takes seconds, and a person should not face a silent 15 minutes
# behind a run that died holding the lease.
_WAIT_FOR_TURN = 60.0


@dataclass(frozen=True)
class StoreSync:
    """What one run did to one trust store."""

    name: str
    arn: str
    added: Mapping[str, int]  # issuer key id -> new revocation id
    removed: tuple[int, ...]
    kept: tuple[str, ...] = ()  # issuers whose CRL in the store was already as new

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "arn": self.arn,
            "added": dict(self.added),
            "removed": list(self.removed),
            "kept": list(self.kept),
        }


@dataclass(frozen=True)
class SyncReport:
    crls: tuple[PublishedCRL, ...]
    stores: tuple[StoreSync, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "crls": [
                {
                    "issuer_key_id": crl.issuer_key_id,
                    "number": crl.number,
                    "entries": crl.entries,
                    **crl.published.audit_detail(),
                }
                for crl in self.crls
            ],
            "trust_stores": [store.to_json() for store in self.stores],
        }


@dataclass(frozen=True)
class _Plan:
    store: TrustStore
    swaps: StoreSwaps[int]


class RevocationSync:
    """Publish fresh CRLs and swap them into the trust stores this CA feeds.

    ``trust_stores`` is None when no trust store is fed (a ``file://`` target): the run
    then only publishes the CRLs. ``budget`` bounds the run in seconds (an API request on
    Lambda); the check is made between AWS calls, so give the ELBv2 and S3 clients their
    own timeouts too. ``only`` restricts the run to the trust stores of those names.

    ``include_roots``: also sign and swap in the roots' CRLs (they list retired issuing
    CAs). That needs the root keys, so the sync after each revocation (the CLI's, the HTTP
    API's) leaves it off and the roots' CRLs already in the stores stay; bundle changes
    (create, update, rotation, retirement, rollback) turn it on.
    """

    def __init__(
        self,
        *,
        authority: Authority,
        publisher: Publisher,
        trust_stores: TrustStoreApi | None,
        budget: float | None = None,
        limits: TrustStoreLimits = ALB_LIMITS,
        allow_gap: bool = False,
        include_roots: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if trust_stores is not None and not isinstance(publisher, S3Publisher):
            raise PublishFailed(
                f"trust stores load CRLs from S3, but the publish target is "
                f"{publisher.target}; publish to s3://BUCKET/PREFIX",
                target=publisher.target,
            )
        self.authority = authority
        self.publisher = publisher
        self.trust_stores = trust_stores
        self.budget = budget
        self.limits = limits
        self.allow_gap = allow_gap
        self.include_roots = include_roots
        self._monotonic = monotonic
        self._sleep = sleep
        self._deadline: float | None = None
        self._bundles: dict[S3Location, frozenset[str]] = {}

    @property
    def store(self) -> CertificateStore:
        return self.authority.store

    def fed_trust_stores(self) -> list[TrustStore]:
        """The trust stores tagged with this CA's identity."""
        if self.trust_stores is None:
            return []
        identity = ca_identity(self.store.list_authorities())
        return [store for store in self.trust_stores.all() if store.ca_id == identity]

    def run(
        self, *, actor: str, only: Collection[str] | None = None, serial: int | None = None
    ) -> SyncReport:
        """One sync; records ``truststore-sync`` on success, a pending marker on failure."""
        self._deadline = None if self.budget is None else self._monotonic() + self.budget
        turn = f"sync:{uuid.uuid4().hex}"
        try:
            self._take_turn(turn)
            try:
                # Every revocation recorded up to this audit event is in the CRLs this run
                # signs (a revocation and its audit event commit together); ``sync_state``
                # reads it back.
                newest = self.store.audit_events(limit=1)
                covers = newest[0].id if newest and newest[0].id is not None else 0
                report = self._run(actor, only, serial)
            finally:
                self.store.release_notice(SYNC_LEASE_KEY, owner=turn)
        except CAError as exc:
            failure = (
                exc
                if isinstance(exc, SyncIncomplete)
                else SyncIncomplete(
                    f"the trust stores were not brought in step: {exc.message}",
                    rerun=SYNC_RERUN,
                )
            )
            record_pending(self.store, actor, failure, serial, self.authority.now())
            if failure is exc:
                raise
            raise failure from exc
        self.store.append_audit(
            AuditEvent(
                at=self.authority.now(),
                action=SYNC_DONE,
                actor=actor,
                detail={
                    "covers_audit_id": covers,
                    "stores": [store.name for store in report.stores],
                    "crls": {
                        crl.issuer_key_id: {
                            "number": crl.number,
                            "entries": crl.entries,
                            "version_id": crl.published.version_id,
                        }
                        for crl in report.crls
                    },
                    **({"only": sorted(only)} if only is not None else {}),
                },
            )
        )
        return report

    def _take_turn(self, turn: str) -> None:
        """Hold the sync lease for ``turn``, waiting while another run holds it: until the
        budget runs out, or for ``_WAIT_FOR_TURN`` without one."""
        began = self._monotonic()
        give_up = began + _WAIT_FOR_TURN if self._deadline is None else self._deadline
        pause = _FIRST_WAIT
        while not self.store.claim_notice(
            SYNC_LEASE_KEY, owner=turn, now=self.authority.now(), lease=SYNC_LEASE
        ):
            now = self._monotonic()
            if now >= give_up:
                raise SyncIncomplete(
                    f"another revocation sync held the trust stores for the {now - began:.0f} s "
                    "this run waited for its turn (a run that stopped part-way holds them "
                    f"until its lease runs out, {SYNC_LEASE.total_seconds() / 60:.0f} minutes "
                    "after it began); nothing was changed",
                    rerun=SYNC_RERUN,
                )
            self._sleep(pause)
            pause = min(pause * 2, _LONGEST_WAIT)

    # -- the steps ---------------------------------------------------------------------
    def _run(self, actor: str, only: Collection[str] | None, serial: int | None) -> SyncReport:
        trusted = self.authority.trusted_certificates()
        trusted_ids = certificate_key_ids(trusted)
        stores = self.fed_trust_stores()
        if only is not None:
            stores = only_these(stores, only)
        # 1. Sign and check a CRL per issuing CA.
        documents: dict[str, tuple[CRLDocument, bytes, CheckedCRL]] = {}
        for issuer in self.authority.crl_issuer_key_ids(roots=self.include_roots):
            document = self.authority.generate_crl(issuer, requested_by=actor)
            documents[issuer] = (
                document,
                *check_crl_document(document, trusted, limits=self.limits),
            )
        if serial is not None:
            self._check_listed(serial, documents)
        # 2. Plan every store and check its limits before anything is uploaded.
        plans = [self._plan(store, documents, trusted_ids) for store in stores]
        # 3. Publish the CRLs.
        published: dict[str, PublishedCRL] = {}
        for issuer, (document, pem, checked) in documents.items():
            self._check_time("publishing the CRLs")
            try:
                published[issuer] = publish_checked_crl(
                    document,
                    pem,
                    checked,
                    publisher=self.publisher,
                    store=self.store,
                    actor=actor,
                    now=self.authority.now(),
                )
            except PublishFailed as exc:
                raise SyncIncomplete(
                    f"publishing the CRL of issuing CA {issuer} failed ({exc.message}); no "
                    "trust store was changed",
                    rerun=SYNC_RERUN,
                ) from exc
        # 4. Swap them into each store; a failing store does not stop the others.
        done: list[StoreSync] = []
        failures: dict[str, str] = {}
        for plan in plans:
            try:
                done.append(self._apply(plan, published))
            except TrustStoreError as exc:
                failures[plan.store.name] = exc.message
                if isinstance(exc, SyncIncomplete):  # out of time: stop here
                    break
        if failures:
            names = ", ".join(f"{name} ({reason})" for name, reason in failures.items())
            untouched = [plan.store.name for plan in plans[len(done) + len(failures) :]]
            raise SyncIncomplete(
                f"{len(failures)} trust store(s) were not brought in step: {names}"
                + (f"; not reached: {', '.join(untouched)}" if untouched else "")
                # Not "each holds a CRL of each CA": a store created or given a new CA
                # this run may not have received its first one yet.
                + "; none lost a CRL it held (the previous one stays where the new one "
                "could not be added)",
                rerun=SYNC_RERUN,
                failures=failures,
            )
        return SyncReport(tuple(published.values()), tuple(done))

    def _check_listed(
        self, serial: int, documents: Mapping[str, tuple[CRLDocument, bytes, CheckedCRL]]
    ) -> None:
        """The revocation this run is for is in the CRL it signed, or the run is not
        reported as done (issue 12, point 3: a CRL read from a lagging index missed it).
        The store's ``next_crl`` reads consistently, so this holds by construction; it is
        checked on the signed bytes all the same, as it is what the sync reports."""
        try:
            issuer = self.store.get_certificate(serial).issuer_key_id
        except CertificateNotFound:
            return  # not a certificate of this CA: no CRL of it lists it
        if issuer not in documents:
            return  # its CA is retired: no CRL of it is published any more
        document = documents[issuer][0]
        if x509.load_der_x509_crl(document.der).get_revoked_certificate_by_serial_number(serial):
            return
        raise SyncIncomplete(
            f"the new CRL of issuing CA {issuer} (number {document.number}) does not list "
            f"certificate {serial:x}; nothing was published",
            rerun=SYNC_RERUN,
        )

    def _plan(
        self,
        store: TrustStore,
        documents: Mapping[str, tuple[CRLDocument, bytes, CheckedCRL]],
        trusted_ids: frozenset[str],
    ) -> _Plan:
        assert self.trust_stores is not None
        existing = {r.revocation_id: r.entries for r in self.trust_stores.revocations(store.arn)}
        swaps = swaps_for(
            store.name,
            held={i: HeldCrl(tag.revocation_id, tag.number) for i, tag in store.crls.items()},
            revocations=existing,
            new={
                issuer: NewCrl(document.number, checked.entries)
                for issuer, (document, _, checked) in documents.items()
            },
            in_bundle=self.held_bundle_key_ids(store) or trusted_ids,
            trusted=trusted_ids,
            limits=self.limits,
            allow_gap=self.allow_gap,
        )
        return _Plan(store, swaps)

    def _apply(self, plan: _Plan, published: Mapping[str, PublishedCRL]) -> StoreSync:
        assert self.trust_stores is not None
        api, arn = self.trust_stores, plan.store.arn
        added: dict[str, int] = {}
        removed: list[int] = []
        kept = list(plan.swaps.kept)
        # The tags as they are now, not as planned: a run that did not take its turn (its
        # lease ran out, an older albca) may have swapped a newer CRL in since.
        self._check_time(f"trust store {plan.store.name}")
        tagged_now = api.crl_tags(arn)
        for step in plan.swaps.swaps:
            crl = published[step.issuer]
            newer, planned = tagged_now.get(step.issuer), plan.store.crls.get(step.issuer)
            if newer is not None and newer != planned and newer.number >= crl.number:
                kept.append(step.issuer)  # swapping ours in would hide its revocations
                continue
            location = S3Location.of(crl.published)
            if self.allow_gap and step.old is not None:
                self._check_time(f"trust store {plan.store.name}")
                self.remove_revocations(api, arn, [step.old])
                removed.append(step.old)
            self._check_time(f"trust store {plan.store.name}")
            revocation = api.add_revocation(arn, location)
            added[step.issuer] = revocation.revocation_id
            tag = CrlTag(revocation.revocation_id, crl.number)
            api.tag(arn, {f"{TAG_CRL_PREFIX}{step.issuer}": str(tag)})
            if step.old is not None and not self.allow_gap:
                self._check_time(f"trust store {plan.store.name}")
                self.remove_revocations(api, arn, [step.old])
                removed.append(step.old)
        # What no tag names any more: left by an interrupted run, or CAs no longer trusted.
        self._check_time(f"trust store {plan.store.name}")
        api.untag(arn, plan.swaps.stale_tags)
        named = {tag.revocation_id for tag in api.by_arn(arn).crls.values()}
        listed = {r.revocation_id for r in api.revocations(arn)}
        # The CRLs of CAs no longer trusted, by their tags, even when the store no longer
        # lists them: ModifyTrustStore may have dropped them itself (undocumented; issue 13,
        # point 10), and the dry run, which cannot know that, plans their removal.
        held = plan.store.crls
        stale = {
            held[issuer].revocation_id
            for issuer in (tag.removeprefix(TAG_CRL_PREFIX) for tag in plan.swaps.stale_tags)
            if issuer in held
        } - named
        orphans = sorted((listed - named) | stale)
        self.remove_revocations(api, arn, orphans)
        removed += orphans
        return StoreSync(plan.store.name, arn, added, tuple(removed), tuple(kept))

    @staticmethod
    def remove_revocations(api: TrustStoreApi, arn: str, ids: Sequence[int]) -> None:
        """Remove ``ids``; one already gone is what was wanted. RemoveTrustStoreRevocations
        is all-or-nothing, so when one is gone the ones still there are removed again."""
        try:
            api.remove_revocations(arn, ids)
        except TrustStoreError as exc:
            if exc.aws_code != "RevocationIdNotFound":
                raise
            listed = {r.revocation_id for r in api.revocations(arn)}
            still = [revocation_id for revocation_id in ids if revocation_id in listed]
            if still and len(still) < len(ids):
                api.remove_revocations(arn, still)

    def held_bundle_key_ids(self, store: TrustStore) -> frozenset[str] | None:
        """Key ids of the CAs in the bundle the store holds (read at the version its tag
        names), or None when that cannot be known (a store albca did not give a bundle)."""
        location = store.bundle
        if location is None or not isinstance(self.publisher, S3Publisher):
            return None
        if location.bucket != self.publisher.bucket:
            return None
        if location not in self._bundles:
            try:
                name = self.publisher.name_of(location.url)
                pem = self.publisher.read(name, location.version_id)
            except PublishFailed:
                return None
            self._bundles[location] = bundle_key_ids(pem)
        return self._bundles[location]

    def _check_time(self, doing: str) -> None:
        if self._deadline is not None and self._monotonic() > self._deadline:
            raise SyncIncomplete(
                f"the time allowed ({self.budget:g} s) ran out while {doing}", rerun=SYNC_RERUN
            )


def only_these(stores: Sequence[TrustStore], only: Collection[str]) -> list[TrustStore]:
    """The stores named in ``only``; raises when one of them is not among ``stores``."""
    missing = sorted(set(only) - {store.name for store in stores})
    if missing:
        raise TrustStoreError(
            f"trust store {missing[0]} is not one this CA feeds (no albca:ca tag with "
            "this CA's identity)",
            trust_store=missing[0],
        )
    return [store for store in stores if store.name in only]


@dataclass(frozen=True)
class SyncOutcome:
    """What became of the sync a revocation triggered."""

    synced: bool
    report: SyncReport | None
    error: str | None  # why it is pending
    rerun: str = SYNC_RERUN

    def to_json(self) -> dict[str, Any]:
        if self.synced:
            return {"status": "synced"}
        return {"status": "pending", "error": self.error, "rerun": self.rerun}


def sync_after_revocation(sync: RevocationSync, *, actor: str, serial: int) -> SyncOutcome:
    """Run the sync a revocation calls for (within the sync's budget). A failure is not
    raised: the revocation stands, the pending marker is in the audit trail, and the
    outcome says so (for the HTTP API's revoke response, or the CLI's message)."""
    try:
        report = sync.run(actor=actor, serial=serial)
    except SyncIncomplete as exc:
        return SyncOutcome(False, None, exc.message)
    return SyncOutcome(True, report, None)
