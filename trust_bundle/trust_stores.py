"""The ALB trust stores this CA feeds: create, update, show, delete, roll back.

Every change points a trust store at an exact S3 object version of a bundle that passed
every ALB rule, waits (with a bound) until the store is ACTIVE, then brings its CRLs in
step (``RevocationSync``). Each is recorded in the audit trail. A failure part-way leaves
every store with a complete earlier state and says which command finishes the work.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from albca.ca.authority import Authority
from albca.ca.certificates import key_id_of
from albca.ca.errors import AuthorityInUse, CAError
from albca.ca.hierarchy import ca_identity
from albca.ca.records import AuditEvent
from albca.ca.stores.protocol import CertificateStore
from albca.trust_bundle.alb_rules import ALB_LIMITS, TrustStoreLimits, check_bundle
from albca.trust_bundle.artefacts import PublishedBundle, S3Location, publish_bundle
from albca.trust_bundle.bundle import TrustBundle
from albca.trust_bundle.elbv2 import (
    TAG_BUNDLE,
    TAG_BUNDLE_VERSION,
    TAG_CA,
    TAG_CRL_PREFIX,
    ListenerUse,
    Revocation,
    TrustStore,
    TrustStoreApi,
)
from albca.trust_bundle.errors import (
    PublishFailed,
    SyncIncomplete,
    TrustStoreError,
    TrustStoreInUse,
    TrustStoreNotFound,
)
from albca.trust_bundle.key_ids import bundle_key_ids, certificate_key_ids
from albca.trust_bundle.publish import Publisher, S3Publisher
from albca.trust_bundle.revocation_sync import RevocationSync, SyncReport

__all__ = [
    "TrustStoreManager",
    "UpdateResult",
    "StoreView",
    "RollbackResult",
    "RollbackChoice",
    "select_targets",
    "bundle_tags",
    "UPDATE_RERUN",
]

UPDATE_RERUN = "albca truststore update"
DEFAULT_WAIT_SECONDS = 300.0


@dataclass(frozen=True)
class UpdateResult:
    bundle: PublishedBundle
    stores: tuple[TrustStore, ...]  # as they stand after the change
    sync: SyncReport

    def to_json(self) -> dict[str, Any]:
        return {
            "bundle": {**self.bundle.published.audit_detail(), "reused": self.bundle.reused},
            "trust_stores": [
                {"name": s.name, "arn": s.arn, "status": s.status} for s in self.stores
            ],
            "sync": self.sync.to_json(),
        }


@dataclass(frozen=True)
class StoreView:
    store: TrustStore
    revocations: tuple[tuple[Revocation, str | None], ...]  # with the issuer its tag names
    listeners: tuple[ListenerUse, ...]
    bundle_subjects: tuple[str, ...] | None  # None: the bundle object could not be read

    def to_json(self) -> dict[str, Any]:
        bundle = self.store.bundle
        return {
            "name": self.store.name,
            "arn": self.store.arn,
            "status": self.store.status,
            "ca_id": self.store.ca_id,
            "bundle": {
                "object": bundle.url if bundle else None,
                "version_id": bundle.version_id if bundle else None,
                "ca_certificates": self.store.ca_certificates,
                "subjects": list(self.bundle_subjects) if self.bundle_subjects else None,
            },
            "revocations": [
                {"revocation_id": r.revocation_id, "entries": r.entries, "issuer_key_id": issuer}
                for r, issuer in self.revocations
            ],
            "total_revoked_entries": self.store.revoked_entries,
            "listeners": [
                {
                    "listener_arn": use.listener_arn,
                    "load_balancer_arn": use.load_balancer_arn,
                    "advertise_ca_names": use.advertises_ca_names,
                }
                for use in self.listeners
            ],
        }


@dataclass(frozen=True)
class RollbackResult:
    moves: tuple[tuple[str, S3Location, S3Location], ...]  # (store name, from, to)
    untrusted_key_ids: tuple[str, ...]  # CAs the rolled-back bundle leaves out
    certificates_refused: int  # valid certificates of those CAs, now refused by the stores
    sync: SyncReport

    def to_json(self) -> dict[str, Any]:
        return {
            "trust_stores": [
                {
                    "name": name,
                    "from_version": before.version_id,
                    "to_version": after.version_id,
                    "object": after.url,
                }
                for name, before, after in self.moves
            ],
            "untrusted_key_ids": list(self.untrusted_key_ids),
            "certificates_refused": self.certificates_refused,
            "sync": self.sync.to_json(),
        }


@dataclass(frozen=True)
class RollbackChoice:
    """What a rollback would do, decided before anything changes."""

    chosen: tuple[tuple[TrustStore, S3Location, bytes], ...]  # (store, back to, its bundle)
    untrusted_key_ids: tuple[str, ...]  # CAs those bundles leave out
    certificates_refused: int  # valid certificates of those CAs
    sync_only: tuple[str, ...] | None  # the stores the sync after it covers (None: all fed)


class TrustStoreManager:
    """Trust store work for one CA: ``authority`` (its store and keys), the ``publisher``
    the bundle and CRLs go to, and ``api`` (None when no ELBv2 client is wanted: then the
    bundle and CRLs are only published)."""

    def __init__(
        self,
        *,
        authority: Authority,
        publisher: Publisher,
        api: TrustStoreApi | None,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
        poll_seconds: float = 5.0,
        allow_gap: bool = False,
        limits: TrustStoreLimits = ALB_LIMITS,
    ) -> None:
        self.authority = authority
        self.publisher = publisher
        self.api = api
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self.allow_gap = allow_gap
        self.limits = limits  # the account's trust store quotas (most are adjustable)

    @property
    def store(self) -> CertificateStore:
        return self.authority.store

    def revocation_sync(
        self, *, budget: float | None = None, include_roots: bool = False
    ) -> RevocationSync:
        return RevocationSync(
            authority=self.authority,
            publisher=self.publisher,
            trust_stores=self.api,
            budget=budget,
            allow_gap=self.allow_gap,
            include_roots=include_roots,
            limits=self.limits,
        )

    def identity(self) -> str:
        return ca_identity(self.store.list_authorities())

    def fed(self) -> list[TrustStore]:
        """The trust stores of this region tagged with this CA's identity."""
        return self.revocation_sync().fed_trust_stores()

    # -- the bundle --------------------------------------------------------------------
    def bundle_pem(self) -> bytes:
        return TrustBundle.of(self.authority.trusted_certificates()).pem

    def publish_bundle(self, *, actor: str, advertise_ca_names: bool = False) -> PublishedBundle:
        return publish_bundle(
            self.bundle_pem(),
            publisher=self.publisher,
            store=self.store,
            actor=actor,
            now=self.authority.now(),
            advertise_ca_names=advertise_ca_names,
            limits=self.limits,
        )

    # -- create, update ----------------------------------------------------------------
    def create(self, name: str, *, actor: str, advertise_ca_names: bool = False) -> UpdateResult:
        """``advertise_ca_names``: the store is for a listener that will advertise its CA
        names, so the bundle must also meet the CA names limit."""
        api = self.require_api()
        bundle = self.publish_bundle(actor=actor, advertise_ca_names=advertise_ca_names)
        location = S3Location.of(bundle.published)
        tags = {TAG_CA: self.identity(), **bundle_tags(location)}
        created = api.create(name, location, tags)
        self._audit("truststore-create", actor, created, location)
        rerun = f"{UPDATE_RERUN} {name}"
        try:
            api.wait_active(created.arn, timeout=self.wait_seconds, interval=self.poll_seconds)
            report = self.revocation_sync(include_roots=True).run(actor=actor, only=[name])
        except CAError as exc:
            raise SyncIncomplete(
                f"trust store {name} was created but does not hold its CRLs yet "
                f"({exc.message}); attach it to no listener until it does",
                rerun=rerun,
            ) from exc
        return UpdateResult(bundle, (api.by_arn(created.arn),), report)

    def update(
        self,
        names: Sequence[str] | None = None,
        *,
        actor: str,
        adopt: bool = False,
        advertise_ca_names: bool = False,
    ) -> UpdateResult:
        """Publish the bundle of every CA trusted now and point the stores at it (all the
        stores this CA feeds, or ``names``), then bring their CRLs in step.

        ``adopt``: also take on stores of those names that carry no albca tags yet (made by
        hand in the console), tagging them with this CA's identity. ``advertise_ca_names``:
        check the CA names limit even if no listener advertises them yet.
        """
        if self.api is None:
            bundle = self.publish_bundle(actor=actor)
            return UpdateResult(
                bundle, (), self.revocation_sync(include_roots=True).run(actor=actor)
            )
        api = self.api
        targets = self._targets(names, adopt=adopt)
        advertised = advertise_ca_names or self.advertised(targets)
        bundle = self.publish_bundle(actor=actor, advertise_ca_names=advertised)
        location = S3Location.of(bundle.published)
        done: list[str] = []
        try:
            for target in targets:
                if target.bundle != location or target.ca_id is None:
                    trusted = certificate_key_ids(self.authority.trusted_certificates())
                    self._modify(target, location, trusted)
                    api.tag(target.arn, {TAG_CA: self.identity(), **bundle_tags(location)})
                    self._audit("truststore-update", actor, target, location)
                api.wait_active(target.arn, timeout=self.wait_seconds, interval=self.poll_seconds)
                done.append(target.name)
            only = None if names is None else [t.name for t in targets]
            report = self.revocation_sync(include_roots=True).run(actor=actor, only=only)
        except CAError as exc:
            raise _partly(exc, "updating the trust stores", done, targets, UPDATE_RERUN) from exc
        return UpdateResult(bundle, tuple(api.by_arn(t.arn) for t in targets), report)

    def _modify(self, store: TrustStore, bundle: S3Location, keeps: frozenset[str]) -> None:
        """Point ``store`` at ``bundle``, whose CAs have the key ids ``keeps``.

        What ModifyTrustStore does with the CRLs of CAs the new bundle leaves out is not
        documented (issue 13, point 10): AWS may keep them (the sync then removes them), drop
        them, or refuse the bundle. albca modifies first, so that a CA's CRL stays for as
        long as the store trusts the CA; only if the bundle is refused while the store holds
        such CRLs are they removed (by their albca:crl tags) and the modify tried again. A
        dry run prints the first path; it cannot know which answer AWS gives."""
        api = self.require_api()
        try:
            api.modify(store.arn, bundle)
        except TrustStoreError as exc:
            leaving = {i: t for i, t in sorted(store.crls.items()) if i not in keeps}
            if exc.aws_code != "InvalidCaCertificatesBundle" or not leaving:
                raise
            RevocationSync.remove_revocations(
                api, store.arn, [tag.revocation_id for tag in leaving.values()]
            )
            api.untag(store.arn, [f"{TAG_CRL_PREFIX}{issuer}" for issuer in leaving])
            api.modify(store.arn, bundle)

    def advertised(self, stores: Sequence[TrustStore]) -> bool:
        """Whether a listener verifying with one of ``stores`` advertises its CA names."""
        api = self.require_api()
        return any(use.advertises_ca_names for s in stores for use in api.listeners_using(s.arn))

    def distribute(self, *, actor: str) -> UpdateResult:
        """What a rotation or a retirement needs: the new bundle published and loaded by
        every store this CA feeds, and their CRLs in step."""
        return self.update(None, actor=actor)

    def _targets(self, names: Sequence[str] | None, *, adopt: bool) -> list[TrustStore]:
        return select_targets(
            self.fed(), names, adopt=adopt, identity=self.identity(), get=self.require_api().get
        )

    # -- show, delete ------------------------------------------------------------------
    def show(self, name: str) -> StoreView:
        api = self.require_api()
        store = api.get(name)
        issuers = {tag.revocation_id: issuer for issuer, tag in store.crls.items()}
        revocations = tuple((r, issuers.get(r.revocation_id)) for r in api.revocations(store.arn))
        return StoreView(
            store=store,
            revocations=revocations,
            listeners=tuple(api.listeners_using(store.arn)),
            bundle_subjects=self._bundle_subjects(store),
        )

    def delete(self, name: str, *, actor: str) -> TrustStore:
        api = self.require_api()
        store = api.get(name)
        self.refuse_if_used(store)
        api.delete(store.arn)
        self._audit("truststore-delete", actor, store, store.bundle)
        return store

    def refuse_if_used(self, store: TrustStore) -> None:
        """Raises ``TrustStoreInUse``, naming them, while listeners verify with ``store``
        (AWS refuses to delete it then, with no names)."""
        users = self.require_api().listeners_using(store.arn)
        if users:
            listed = ", ".join(use.listener_arn for use in users)
            raise TrustStoreInUse(
                f"trust store {store.name} is in use by {len(users)} listener(s): {listed}; "
                "turn their mutual TLS off or point them at another trust store first",
                trust_store=store.name,
                listeners=tuple(use.listener_arn for use in users),
            )

    # -- rollback ----------------------------------------------------------------------
    def rollback(
        self,
        names: Sequence[str] | None = None,
        *,
        actor: str,
        to_version: str | None = None,
        force: bool = False,
    ) -> RollbackResult:
        """Point the stores back at the bundle version before the one they hold (or at
        ``to_version``), then bring their CRLs in step with it.

        Refused, unless ``force``, when that bundle leaves out the active issuing CA: every
        certificate issued from then on would be refused.
        """
        api = self.require_api()
        choice = self.rollback_choice(names, to_version=to_version, force=force)
        moves: list[tuple[str, S3Location, S3Location]] = []
        done: list[str] = []
        targets = [store for store, _, _ in choice.chosen]
        try:
            for store, target, pem in choice.chosen:
                before = store.bundle
                assert before is not None
                self._modify(store, target, bundle_key_ids(pem))
                api.tag(store.arn, bundle_tags(target))
                self._audit(
                    "truststore-rollback", actor, store, target, from_version=before.version_id
                )
                api.wait_active(store.arn, timeout=self.wait_seconds, interval=self.poll_seconds)
                moves.append((store.name, before, target))
                done.append(store.name)
            report = self.revocation_sync(include_roots=True).run(
                actor=actor, only=choice.sync_only
            )
        except CAError as exc:
            raise _partly(exc, "rolling back", done, targets, "albca truststore sync") from exc
        return RollbackResult(
            tuple(moves), choice.untrusted_key_ids, choice.certificates_refused, report
        )

    def rollback_choice(
        self,
        names: Sequence[str] | None = None,
        *,
        to_version: str | None = None,
        force: bool = False,
    ) -> RollbackChoice:
        """What ``rollback`` would do (reads only): the bundle version each store goes back
        to, checked; raises what ``rollback`` would refuse."""
        publisher = self.require_s3()
        targets = self._targets(names, adopt=False)
        if not targets:
            raise TrustStoreNotFound("this CA feeds no trust store; nothing to roll back")
        chosen = [(store, *self._previous(publisher, store, to_version)) for store in targets]
        active = self.authority.active_issuer_record().key_id
        left_out: set[str] = set()
        for _, _, pem in chosen:
            check_bundle(pem, limits=self.limits)
            left_out |= {
                key_id
                for key_id in self.authority.issuing_key_ids()
                if key_id not in bundle_key_ids(pem)
            }
        if active in left_out and not force:
            raise AuthorityInUse(
                f"that bundle leaves out the active issuing CA {active}: every certificate it "
                "issues would be refused; make an issuing CA of that bundle active first "
                "(`albca ca activate KEY_ID`) or pass --force",
                key_id=active,
                valid_certificates=0,
            )
        now = self.authority.now()
        refused = sum(self.store.issuer_counts(key_id, now).active for key_id in left_out)
        only = None if names is None else tuple(store.name for store in targets)
        return RollbackChoice(tuple(chosen), tuple(sorted(left_out)), refused, only)

    def _previous(
        self, publisher: S3Publisher, store: TrustStore, to_version: str | None
    ) -> tuple[S3Location, bytes]:
        current = store.bundle
        if current is None or current.bucket != publisher.bucket:
            raise TrustStoreError(
                f"trust store {store.name} has no albca:bundle tags under {publisher.target}; "
                "albca does not know which bundle it holds, so it cannot roll it back",
                trust_store=store.name,
            )
        name = publisher.name_of(current.url)
        versions = [version.version_id for version in publisher.versions(name)]
        if to_version is not None:
            if to_version not in versions:
                raise PublishFailed(
                    f"{current.url} has no version {to_version}", target=current.url
                )
            return S3Location(current.bucket, current.key, to_version), publisher.read(
                name, to_version
            )
        if current.version_id not in versions:
            raise PublishFailed(
                f"{current.url} no longer has version {current.version_id} (the one trust store "
                f"{store.name} holds); give --to-version",
                target=current.url,
            )
        holding = publisher.read(name, current.version_id)
        for older in versions[versions.index(current.version_id) + 1 :]:
            pem = publisher.read(name, older)
            if pem != holding:
                return S3Location(current.bucket, current.key, older), pem
        raise PublishFailed(
            f"{current.url} has no earlier version that differs from the one trust store "
            f"{store.name} holds",
            target=current.url,
        )

    # -- helpers -----------------------------------------------------------------------
    def require_api(self) -> TrustStoreApi:
        if self.api is None:
            raise TrustStoreError("no ELBv2 client: trust stores need an s3:// publish target")
        self.require_s3()
        return self.api

    def require_s3(self) -> S3Publisher:
        if not isinstance(self.publisher, S3Publisher):
            raise PublishFailed(
                f"trust stores load their bundle and CRLs from S3, but the publish target is "
                f"{self.publisher.target}; publish to s3://BUCKET/PREFIX",
                target=self.publisher.target,
            )
        return self.publisher

    def _bundle_subjects(self, store: TrustStore) -> tuple[str, ...] | None:
        location = store.bundle
        publisher = self.publisher
        if location is None or not isinstance(publisher, S3Publisher):
            return None
        try:
            pem = publisher.read(publisher.name_of(location.url), location.version_id)
        except PublishFailed:
            return None
        return tuple(
            f"{c.subject.rfc4514_string()} (key id {_key_id(c)})"
            for c in x509.load_pem_x509_certificates(pem)
        )

    def _audit(
        self,
        action: str,
        actor: str,
        store: TrustStore,
        bundle: S3Location | None,
        **extra: object,
    ) -> None:
        detail: dict[str, object] = {"name": store.name, "arn": store.arn, **extra}
        if bundle is not None:
            detail |= {"bundle": bundle.url, "version_id": bundle.version_id}
        self.store.append_audit(
            AuditEvent(at=self.authority.now(), action=action, actor=actor, detail=detail)
        )


def select_targets(
    fed: Sequence[TrustStore],
    names: Sequence[str] | None,
    *,
    adopt: bool,
    identity: str,
    get: Callable[[str], TrustStore],
) -> list[TrustStore]:
    """The stores a command names (``names``; None: every store this CA feeds, ``fed``).
    A named store this CA does not feed is refused, unless ``adopt`` and it carries no
    ``albca:ca`` tag (made by hand); ``get`` finds it (raising ``TrustStoreNotFound``)."""
    if names is None:
        return list(fed)
    by_name = {store.name: store for store in fed}
    targets = []
    for name in dict.fromkeys(names):
        store = by_name.get(name)
        if store is None:
            store = get(name)  # TrustStoreNotFound if there is none at all
            if store.ca_id is not None and store.ca_id != identity:
                raise TrustStoreNotFound(
                    f"trust store {name} is fed by another CA (albca:ca={store.ca_id})",
                    trust_store=name,
                )
            if not adopt:
                raise TrustStoreNotFound(
                    f"trust store {name} is not fed by this CA (it has no albca:ca tag); "
                    "pass --adopt to take it on",
                    trust_store=name,
                )
        targets.append(store)
    return targets


def bundle_tags(location: S3Location) -> dict[str, str]:
    """The ``albca:bundle`` tags of a store given the bundle at ``location``."""
    return {TAG_BUNDLE: location.url, TAG_BUNDLE_VERSION: location.version_id}


def _key_id(certificate: x509.Certificate) -> str:
    try:
        return key_id_of(certificate)
    except x509.ExtensionNotFound:
        return "none"


def _partly(
    exc: CAError, doing: str, done: Collection[str], targets: Sequence[TrustStore], rerun: str
) -> SyncIncomplete:
    if isinstance(exc, SyncIncomplete) and not done:
        return exc
    reached = f"; done: {', '.join(done)}" if done else ""
    left = [t.name for t in targets if t.name not in done]
    return SyncIncomplete(
        f"{doing} stopped: {exc.message}{reached}"
        + (f"; not done: {', '.join(left)}" if left else "")
        + "; every store keeps its previous bundle or the new one, with a CRL for each of its CAs",
        rerun=rerun,
    )
