"""What a trust store command would do, for ``--dry-run``: every change planned, none made.

``Planner`` reads the state as a run reads it (the trust stores of the region with their
tags and revocations, the latest published bundle, the bundle each store holds) and makes
the same decisions with the same functions (``select_targets``, ``rollback_choice``,
``swaps_for``, ``check_bundle``), but puts each change on a ``Plan`` instead of making
it: a call (service, operation, parameters) or a step albca takes itself. Nothing is
signed, published, created or recorded, not even an audit event or a CRL number. A
bundle or CRL is shown by what it holds, never by its bytes; a value only an earlier
call could tell (a new object version, a new store's ARN, a new revocation id) is an
``Unknown``, printed as ``PLACEHOLDER``.

The planner's model of the stores and of the published bundle moves on with each planned
change, so a plan of several steps is true of the state each step would meet: a root
rotation distributes the bundle twice, and the second distribution replaces the CRLs the
first one put in.

Which CAs the run would trust is a ``TrustedCAs``: those trusted now, or what a planned
change of the CA (a new CA, a retirement, a revocation) would make them; a CA the run
would make has no certificate and no key id yet, only a name that says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from albca.ca.authority import Authority
from albca.ca.hierarchy import certificate_of
from albca.ca.records import AuthorityRecord, AuthorityRole, AuthorityStatus
from albca.trust_bundle.alb_rules import check_bundle
from albca.trust_bundle.artefacts import BUNDLE_NAME, PEM_CONTENT_TYPE, S3Location, crl_name
from albca.trust_bundle.bundle import TrustBundle
from albca.trust_bundle.crl_swaps import HeldCrl, NewCrl, StoreSwaps, swaps_for
from albca.trust_bundle.elbv2 import (
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
from albca.trust_bundle.errors import BundleRejected, BundleRule, TrustStoreError
from albca.trust_bundle.key_ids import bundle_key_ids
from albca.trust_bundle.publish import S3Publisher
from albca.trust_bundle.revocation_sync import only_these
from albca.trust_bundle.trust_stores import (
    RollbackChoice,
    TrustStoreManager,
    bundle_tags,
    select_targets,
)

__all__ = [
    "PLACEHOLDER",
    "Unknown",
    "PlannedCall",
    "PlannedStep",
    "Plan",
    "PlannedCA",
    "TrustedCAs",
    "Planner",
]

PLACEHOLDER = "<known after the previous step>"
"""What a plan shows for a value only a change it did not make could tell (every plan:
the trust bundle's and ``infra``'s dry runs)."""


class Unknown(str):
    """A value only an earlier call of the run could tell. Each one is distinct (two new
    object versions are two versions), and each prints as ``PLACEHOLDER``."""

    __slots__ = ()

    def __new__(cls) -> Unknown:
        return super().__new__(cls, PLACEHOLDER)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def __hash__(self) -> int:
        return id(self)


@dataclass(frozen=True)
class PlannedCall:
    """A call a run would make: ``service`` and ``operation`` as boto3 names them."""

    service: str
    operation: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class PlannedStep:
    """A change a run would make itself: a CA record, a CA key, a local file."""

    text: str


@dataclass
class Plan:
    """The changes of a run, in the order it would make them, and what the user should
    know besides (a wait, a warning)."""

    actions: list[PlannedCall | PlannedStep] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def calls(self) -> tuple[PlannedCall, ...]:
        return tuple(action for action in self.actions if isinstance(action, PlannedCall))

    def call(self, service: str, operation: str, params: Mapping[str, Any]) -> None:
        self.actions.append(PlannedCall(service, operation, params))

    def step(self, text: str) -> None:
        self.actions.append(PlannedStep(text))

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


# -- the CAs a run would trust ------------------------------------------------------------


@dataclass(frozen=True)
class PlannedCA:
    key_id: str  # for a CA the run makes, a name that says so (its key id is not known)
    role: AuthorityRole
    created_at: datetime
    certificate: x509.Certificate | None  # None: a CA the run makes
    entries: int  # what its CRL would list

    @classmethod
    def of(cls, record: AuthorityRecord, entries: int) -> PlannedCA:
        return cls(record.key_id, record.role, record.created_at, certificate_of(record), entries)


@dataclass(frozen=True)
class TrustedCAs:
    """The CAs relying parties would trust (not retired), in the order the CA store
    keeps them (by creation): the order CRLs are signed and swapped in."""

    cas: tuple[PlannedCA, ...]

    @classmethod
    def now(cls, authority: Authority) -> TrustedCAs:
        return cls(
            tuple(
                PlannedCA.of(record, len(authority.crl_entries(record.key_id)))
                for record in authority.authorities()
                if record.status is not AuthorityStatus.RETIRED
            )
        )

    def adding(self, name: str, role: AuthorityRole, now: datetime) -> TrustedCAs:
        """With a CA the run makes at ``now``, called ``name`` until its key id is known.
        It comes after every CA there is (``ca.hierarchy`` stamps it so)."""
        at = max([now, *(ca.created_at + timedelta(seconds=1) for ca in self.cas)])
        return TrustedCAs((*self.cas, PlannedCA(name, role, at, None, 0)))

    def without(self, key_id: str) -> TrustedCAs:
        return TrustedCAs(tuple(ca for ca in self.cas if ca.key_id != key_id))

    def with_entries(self, key_id: str, more: int) -> TrustedCAs:
        """With ``more`` entries in the CRL of CA ``key_id`` (a revocation the run makes)."""
        more_of = {key_id: more}
        return TrustedCAs(
            tuple(replace(ca, entries=ca.entries + more_of.get(ca.key_id, 0)) for ca in self.cas)
        )

    @property
    def in_bundle_order(self) -> tuple[PlannedCA, ...]:
        """Roots first, then issuing CAs, each by creation (``trusted_certificates``)."""
        return tuple(sorted(self.cas, key=_bundle_order))

    @property
    def pem(self) -> bytes | None:
        """The bundle, or None while a CA in it is one the run makes."""
        certificates = [ca.certificate for ca in self.in_bundle_order]
        if any(certificate is None for certificate in certificates):
            return None
        return TrustBundle.of([c for c in certificates if c is not None]).pem

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(ca.key_id for ca in self.cas)

    def crl_issuers(self, *, roots: bool) -> tuple[PlannedCA, ...]:
        return tuple(ca for ca in self.cas if roots or ca.role is AuthorityRole.ISSUING)

    def summary(self) -> str:
        """The bundle as a plan shows it: what it holds, never its bytes."""
        count = len(self.cas)
        pem = self.pem
        if pem is None:
            return f"<bundle: {count} certificates including the new CA's, known once it is made>"
        return f"<bundle: {count} certificates, sha256 {hashlib.sha256(pem).hexdigest()}>"


def _bundle_order(ca: PlannedCA) -> tuple[bool, datetime]:
    return (ca.role is not AuthorityRole.ROOT, ca.created_at)


# -- the planner ---------------------------------------------------------------------------


_NOT_READ: Any = object()


@dataclass
class _Store:
    """One trust store as the plan has left it."""

    store: TrustStore  # name, ARN, status, and its tags as the plan has set them
    held: dict[str, HeldCrl[Any]]  # the CRL of each CA, by its albca:crl: tag
    revocations: Any = _NOT_READ  # dict: revocation id -> entries, once read
    bundle_ids: Any = _NOT_READ  # frozenset | None: the CAs of the bundle it holds

    @property
    def name(self) -> str:
        return self.store.name

    @property
    def arn(self) -> str:
        return self.store.arn

    def tagged(self, tags: Mapping[str, str]) -> None:
        self.store = replace(self.store, tags={**self.store.tags, **tags})


@dataclass(frozen=True)
class _Latest:
    sha256: str  # an Unknown for a bundle the run makes
    version_id: str


class Planner:
    """Plans the trust store work of ``manager``'s CA onto ``plan``; ``trusted`` are the
    CAs the run would trust (default: those trusted now; ``trust`` changes them when a
    planned step would)."""

    def __init__(
        self, manager: TrustStoreManager, plan: Plan, trusted: TrustedCAs | None = None
    ) -> None:
        self.manager = manager
        self.plan = plan
        self.trusted = trusted if trusted is not None else TrustedCAs.now(manager.authority)
        self._identity = manager.identity()
        self._sync = manager.revocation_sync()
        self._stores: list[_Store] | None = None
        self._latest: dict[str, _Latest | None] = {}

    def trust(self, trusted: TrustedCAs) -> None:
        self.trusted = trusted

    # -- what the commands do --------------------------------------------------------------
    def publish_bundle(
        self, *, advertise_ca_names: bool = False, name: str = BUNDLE_NAME
    ) -> S3Location | None:
        """``artefacts.publish_bundle``: the bundle checked, then published unless the latest
        S3 version holds exactly these bytes. Returns where the bundle is (None: a file)."""
        pem = self.trusted.pem
        if pem is not None:
            check_bundle(pem, advertise_ca_names=advertise_ca_names, limits=self.manager.limits)
        else:
            self._check_known_part(advertise_ca_names)
        publisher = self.manager.publisher
        if not isinstance(publisher, S3Publisher):
            self.plan.step(f"write {self.trusted.summary()} to {publisher.target}/{name}")
            return None
        latest = self._latest_of(publisher, name)
        digest = hashlib.sha256(pem).hexdigest() if pem is not None else Unknown()
        if latest is not None and latest.sha256 == digest:
            return S3Location(publisher.bucket, publisher.key(name), latest.version_id)
        self.plan.call(
            "s3",
            "put_object",
            publisher.put_params(name, self.trusted.summary(), PEM_CONTENT_TYPE),
        )
        version = Unknown()
        self._latest[name] = _Latest(digest, version)
        return S3Location(publisher.bucket, publisher.key(name), version)

    def create(self, name: str, *, advertise_ca_names: bool = False) -> None:
        """``TrustStoreManager.create``."""
        self.manager.require_api()
        if any(store.name == name for store in self._all()):
            raise TrustStoreError(
                f"a trust store named {name} already exists in this region: a real run would "
                f"publish the bundle, then fail; update it with `albca truststore update {name}`",
                trust_store=name,
                aws_code="DuplicateTrustStoreName",
            )
        location = self._s3_bundle(advertise_ca_names)
        tags = {TAG_CA: self._identity, **bundle_tags(location)}
        self.plan.call("elbv2", "create_trust_store", create_params(name, location, tags))
        created = TrustStore(name, Unknown(), "CREATING", 0, 0, tags)
        self._all().append(_Store(created, {}, {}, self.trusted.key_ids))
        self._note_wait()
        self.sync(only=[name], include_roots=True)

    def update(
        self,
        names: Sequence[str] | None = None,
        *,
        adopt: bool = False,
        advertise_ca_names: bool = False,
    ) -> None:
        """``TrustStoreManager.update`` (and ``distribute``: every store this CA feeds)."""
        if self.manager.api is None:
            self.publish_bundle()
            self.sync(include_roots=True)
            return
        targets = self._targets(names, adopt=adopt)
        advertised = advertise_ca_names or self._advertised(targets)
        location = self._s3_bundle(advertised)
        for target in targets:
            if target.store.bundle != location or target.store.ca_id is None:
                tags = {TAG_CA: self._identity, **bundle_tags(location)}
                self.plan.call("elbv2", "modify_trust_store", modify_params(target.arn, location))
                self.plan.call("elbv2", "add_tags", add_tags_params(target.arn, tags))
                target.tagged(tags)
                target.bundle_ids = self.trusted.key_ids
                self._note_wait()
        self.sync(only=None if names is None else [t.name for t in targets], include_roots=True)

    def rollback(
        self, names: Sequence[str] | None = None, *, to_version: str | None = None,
        force: bool = False,
    ) -> RollbackChoice:  # fmt: skip
        """``TrustStoreManager.rollback``."""
        choice = self.manager.rollback_choice(names, to_version=to_version, force=force)
        for chosen, target, pem in choice.chosen:
            store = self._store(chosen.arn)
            tags = bundle_tags(target)
            self.plan.call("elbv2", "modify_trust_store", modify_params(store.arn, target))
            self.plan.call("elbv2", "add_tags", add_tags_params(store.arn, tags))
            store.tagged(tags)
            store.bundle_ids = bundle_key_ids(pem)
            self._note_wait()
        self.sync(only=choice.sync_only, include_roots=True)
        return choice

    def delete(self, name: str) -> None:
        """``TrustStoreManager.delete``."""
        store = self.manager.require_api().get(name)
        self.manager.refuse_if_used(store)
        self.plan.call("elbv2", "delete_trust_store", {"TrustStoreArn": store.arn})

    def sync(self, *, only: Sequence[str] | None = None, include_roots: bool = False) -> None:
        """``RevocationSync.run``: a new CRL of each CA published, then swapped into each
        store this CA feeds (or ``only`` those), its limits checked first."""
        stores = self._fed()
        if only is not None:
            wanted = {s.name for s in only_these([store.store for store in stores], only)}
            stores = [store for store in stores if store.name in wanted]
        issuers = self.trusted.crl_issuers(roots=include_roots)
        new = {ca.key_id: NewCrl(None, ca.entries) for ca in issuers}
        planned = [(store, self._swaps(store, new)) for store in stores]
        crls = {ca.key_id: self._publish_crl(ca) for ca in issuers}
        for store, swaps in planned:
            self._apply(store, swaps, crls)

    def _check_known_part(self, advertise_ca_names: bool) -> None:
        """A bundle with a CA the run makes is checked once it is made; what breaks a rule
        without it breaks it with it (every rule is per certificate or grows with them)."""
        known = [ca.certificate for ca in self.trusted.in_bundle_order if ca.certificate]
        limits = self.manager.limits
        if len(self.trusted.cas) > limits.max_certificates:
            raise BundleRejected(
                BundleRule.MAX_CERTIFICATES,
                f"the bundle would hold {len(self.trusted.cas)} certificates; the limit is "
                f"{limits.max_certificates}",
            )
        if known:
            check_bundle(
                TrustBundle.of(known).pem, advertise_ca_names=advertise_ca_names, limits=limits
            )
        self.plan.note(
            "the bundle with the new CA is checked against every ALB rule once the CA is made, "
            "before it is uploaded"
        )

    # -- the steps of a sync ---------------------------------------------------------------
    def _swaps(self, store: _Store, new: Mapping[str, NewCrl]) -> StoreSwaps[Any]:
        return swaps_for(
            store.name,
            held=store.held,
            revocations=self._revocations(store),
            new=new,
            in_bundle=self._bundle_ids(store) or self.trusted.key_ids,
            trusted=self.trusted.key_ids,
            limits=self._sync.limits,
            allow_gap=self.manager.allow_gap,
        )

    def _publish_crl(self, ca: PlannedCA) -> S3Location | None:
        body = f"<CRL of CA {ca.key_id}: {ca.entries} entries, signed when the change is made>"
        publisher = self.manager.publisher
        name = crl_name(ca.key_id)
        if not isinstance(publisher, S3Publisher):
            self.plan.step(f"write the {body} to {publisher.target}/{name}")
            return None
        # As ``publish_checked_crl`` writes it: only over the CRL there then (its ETag, known
        # only then), or only if there is none.
        key = publisher.key(name)
        written = any(c.params.get("Key") == key for c in self.plan.calls if c.service == "s3")
        there = written or publisher.current_etag(name) is not None
        params = publisher.conditional_put_params(
            name, body, PEM_CONTENT_TYPE, etag=Unknown() if there else None
        )
        self.plan.call("s3", "put_object", params)
        return S3Location(publisher.bucket, publisher.key(name), Unknown())

    def _apply(
        self, store: _Store, swaps: StoreSwaps[Any], crls: Mapping[str, S3Location | None]
    ) -> None:
        """``RevocationSync._apply``, call for call."""
        gap = self.manager.allow_gap
        for swap in swaps.swaps:
            location = crls[swap.issuer]
            assert location is not None  # a store is fed from S3
            if gap and swap.old is not None:
                self._remove(store, [swap.old])
            self.plan.call(
                "elbv2", "add_trust_store_revocations", add_revocation_params(store.arn, location)
            )
            added = Unknown()
            store.revocations[added] = swap.entries
            crl_tag = {f"{TAG_CRL_PREFIX}{swap.issuer}": Unknown()}  # "<revocation id>:<number>"
            self.plan.call("elbv2", "add_tags", add_tags_params(store.arn, crl_tag))
            store.held[swap.issuer] = HeldCrl(added, None)
            if swap.old is not None and not gap:
                self._remove(store, [swap.old])
        if swaps.stale_tags:
            self.plan.call("elbv2", "remove_tags", remove_tags_params(store.arn, swaps.stale_tags))
            for tag in swaps.stale_tags:
                store.held.pop(tag.removeprefix(TAG_CRL_PREFIX), None)
        named = {held.revocation_id for held in store.held.values()}
        self._remove(store, [r for r in store.revocations if r not in named])

    def _remove(self, store: _Store, ids: Sequence[Any]) -> None:
        if not ids:
            return
        self.plan.call(
            "elbv2", "remove_trust_store_revocations", remove_revocations_params(store.arn, ids)
        )
        for revocation_id in ids:
            store.revocations.pop(revocation_id, None)

    # -- the state, read once ----------------------------------------------------------------
    def _all(self) -> list[_Store]:
        """Every trust store of the region (none without an ELBv2 client), as planned."""
        if self._stores is None:
            api = self.manager.api
            found = api.all() if api is not None else []
            self._stores = [
                _Store(s, {i: HeldCrl(t.revocation_id, t.number) for i, t in s.crls.items()})
                for s in found
            ]
        return self._stores

    def _fed(self) -> list[_Store]:
        return [store for store in self._all() if store.store.ca_id == self._identity]

    def _store(self, arn: str) -> _Store:
        return next(store for store in self._all() if store.arn == arn)

    def _targets(self, names: Sequence[str] | None, *, adopt: bool) -> list[_Store]:
        by_name = {store.name: store for store in self._all()}

        def get(name: str) -> TrustStore:
            if name in by_name:
                return by_name[name].store
            return self.manager.require_api().get(name)  # raises TrustStoreNotFound

        fed = [store.store for store in self._fed()]
        chosen = select_targets(fed, names, adopt=adopt, identity=self._identity, get=get)
        return [by_name[store.name] for store in chosen]

    def _advertised(self, targets: Sequence[_Store]) -> bool:
        real = [t.store for t in targets if not isinstance(t.arn, Unknown)]
        return bool(real) and self.manager.advertised(real)

    def _revocations(self, store: _Store) -> dict[Any, int]:
        if store.revocations is _NOT_READ:
            api = self.manager.require_api()
            store.revocations = {r.revocation_id: r.entries for r in api.revocations(store.arn)}
        revocations: dict[Any, int] = store.revocations
        return revocations

    def _bundle_ids(self, store: _Store) -> frozenset[str] | None:
        if store.bundle_ids is _NOT_READ:
            store.bundle_ids = self._sync.held_bundle_key_ids(store.store)
        ids: frozenset[str] | None = store.bundle_ids
        return ids

    def _latest_of(self, publisher: S3Publisher, name: str) -> _Latest | None:
        if name not in self._latest:
            current = publisher.current(name)
            self._latest[name] = (
                None
                if current is None or current.version_id is None
                else _Latest(current.sha256, current.version_id)
            )
        return self._latest[name]

    def _s3_bundle(self, advertise_ca_names: bool) -> S3Location:
        self.manager.require_s3()  # trust stores load their bundle from S3
        location = self.publish_bundle(advertise_ca_names=advertise_ca_names)
        assert location is not None
        return location

    def _note_wait(self) -> None:
        self.plan.note(
            f"a real run waits up to {self.manager.wait_seconds:g} s for each trust store it "
            "changes to become ACTIVE before it goes on"
        )
