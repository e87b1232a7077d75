"""Rotating CAs with an overlap, so that no certificate stops working on the way.

Issuing CA (``albca ca rotate``):

1. a new issuing CA is signed under the active root and recorded in standby;
2. the bundle (old and new issuing CA) is published and every trust store this CA feeds
   loads it, with a CRL for each CA;
3. only then does the new CA start signing; the old one goes to standby: still trusted,
   still given CRLs, until ``albca ca retire`` removes it (refused while certificates it
   issued are unexpired and unrevoked, unless forced).

Root (``albca ca rotate --root``): the same, with the overlap a root needs. The new root
goes into the bundle first (step 2, alone); then a new issuing CA is made under it and
distributed; then both switch. ``stop_after_root`` stops after the first distribution, for
relying parties outside AWS that need time to install the new root.

Each step is recorded, and a rerun resumes: a standby CA newer than the active one of its
role is a rotation that has not switched yet, and is picked up rather than made again.

Where a new key lives is the caller's choice (``NewKeySource``): an encrypted file in the
CA home, or a KMS key; this module only sees a ``Signer``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from cryptography import x509
from cryptography.x509.oid import NameOID

from albca.ca.authority import Authority
from albca.ca.ca_status import ROTATION_MARGIN
from albca.ca.errors import AuthorityError, AuthorityNotInitialized, CAError, InvalidLifetime
from albca.ca.hierarchy import (
    ISSUING_LIFETIME,
    ROOT_LIFETIME,
    RetiredAuthority,
    activate_authority,
    certificate_of,
    check_activation,
    check_new_subject,
    check_retirement,
    create_issuing_ca,
    create_root_ca,
    find_authority,
    retire_authority,
)
from albca.ca.keys import KeySpec, key_spec_of
from albca.ca.names import normalize_common_name
from albca.ca.records import AuditEvent, AuthorityRecord, AuthorityRole, AuthorityStatus
from albca.ca.signer import Signer
from albca.ca.stores.protocol import CertificateStore
from albca.trust_bundle.errors import SyncIncomplete
from albca.trust_bundle.planning import Plan, PlannedCall, Planner, TrustedCAs

__all__ = [
    "NewKeySource",
    "KeyCall",
    "Distributor",
    "Rotation",
    "RotationResult",
    "successor_subject",
    "NEW_ROOT",
    "NEW_ISSUING",
]

NewKeySource = Callable[[AuthorityRole, KeySpec], Signer]
"""Makes a new CA key of a spec and returns a signer over it, its ``location`` set (where
the key lives: ``file:keys/...``, a KMS key ARN) so the authority can find it again."""


KeyCall = Callable[[AuthorityRole, KeySpec], PlannedCall]
"""The AWS call a ``NewKeySource`` makes for a new key (KMS ``create_key``), for plans."""

NEW_ROOT = "<key id of the new root CA>"
NEW_ISSUING = "<key id of the new issuing CA>"
"""What a plan calls a CA the run would make: its key id is known once its key is."""


class Distributor(Protocol):
    """Publishes the bundle of the CAs trusted now and brings the trust stores in step
    (``TrustStoreManager.distribute``); raises if it cannot."""

    def distribute(self, *, actor: str) -> Any: ...


@dataclass(frozen=True)
class RotationResult:
    role: AuthorityRole
    previous: AuthorityRecord  # the CA that stopped being active (issuing, or root)
    current: AuthorityRecord  # the new active CA of that role (or, stopped early, in standby)
    created: tuple[AuthorityRecord, ...]  # CAs made by this run (none when it resumed)
    distributed: int  # bundle distributions made (0 without a distributor)
    finished: bool  # False: stopped after the new root, as asked

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role.value,
            "previous": self.previous.key_id,
            "current": self.current.key_id,
            "created": [record.key_id for record in self.created],
            "distributed": self.distributed,
            "finished": self.finished,
        }


class Rotation:
    """``distributor`` None: no publish target; the records change and the caller must get
    the new bundle to relying parties itself before certificates of the new CA are used.
    ``key_store`` says in words where ``new_key`` puts a new key, and ``key_call`` which AWS
    call it makes for one (None: none, a key file), for plans."""

    def __init__(
        self,
        *,
        authority: Authority,
        new_key: NewKeySource,
        distributor: Distributor | None,
        margin: timedelta = ROTATION_MARGIN,
        key_store: str = "a new key",
        key_call: KeyCall | None = None,
    ) -> None:
        self.authority = authority
        self.new_key = new_key
        self.distributor = distributor
        self.margin = margin
        self.key_store = key_store
        self.key_call = key_call

    @property
    def store(self) -> CertificateStore:
        return self.authority.store

    # -- issuing CA --------------------------------------------------------------------
    def rotate_issuing(
        self,
        *,
        actor: str,
        key_spec: KeySpec | None = None,
        common_name: str | None = None,
        lifetime: timedelta = ISSUING_LIFETIME,
    ) -> RotationResult:
        previous = self.authority.active_issuer_record()
        root = self._active(AuthorityRole.ROOT)
        created: list[AuthorityRecord] = []
        pending = self._pending(AuthorityRole.ISSUING, parent=root.key_id)
        if pending is None:
            pending = self._new_issuing(root, previous, actor, key_spec, common_name, lifetime)
            created.append(pending)
        rerun = "albca ca rotate"
        distributed = self._distribute(actor, rerun, f"the new issuing CA {pending.key_id}")
        current = activate_authority(
            store=self.store, key_id=pending.key_id, now=self.authority.now(), actor=actor
        )
        self.authority.forget_cached_issuers()
        self._audit("ca-rotate", actor, previous, current)
        return RotationResult(
            AuthorityRole.ISSUING, previous, current, tuple(created), distributed, True
        )

    # -- root --------------------------------------------------------------------------
    def rotate_root(
        self,
        *,
        actor: str,
        key_spec: KeySpec | None = None,
        issuing_key_spec: KeySpec | None = None,
        common_name: str | None = None,
        issuing_common_name: str | None = None,
        lifetime: timedelta = ROOT_LIFETIME,
        issuing_lifetime: timedelta = ISSUING_LIFETIME,
        stop_after_root: bool = False,
    ) -> RotationResult:
        previous_root = self._active(AuthorityRole.ROOT)
        previous_issuing = self.authority.active_issuer_record()
        rerun = "albca ca rotate --root"
        created: list[AuthorityRecord] = []
        new_root = self._pending(AuthorityRole.ROOT)
        if new_root is None:
            old = certificate_of(previous_root)
            spec = key_spec or key_spec_of(old.public_key(), field="root")
            subject = successor_subject(old.subject, common_name, self._subjects())
            new_root = create_root_ca(
                store=self.store,
                signer=self.new_key(AuthorityRole.ROOT, spec),
                subject=subject,
                lifetime=lifetime,
                now=self.authority.now(),
                actor=actor,
            )
            created.append(new_root)
        # The overlap a root needs: relying parties trust it before anything chains to it.
        distributed = self._distribute(actor, rerun, f"the new root CA {new_root.key_id}")
        if stop_after_root:
            return RotationResult(
                AuthorityRole.ROOT, previous_root, new_root, tuple(created), distributed, False
            )
        issuing = self._pending(AuthorityRole.ISSUING, parent=new_root.key_id)
        if issuing is None:
            issuing = self._new_issuing(
                new_root,
                previous_issuing,
                actor,
                issuing_key_spec,
                issuing_common_name,
                issuing_lifetime,
            )
            created.append(issuing)
        distributed += self._distribute(actor, rerun, f"the new issuing CA {issuing.key_id}")
        now = self.authority.now()
        activate_authority(store=self.store, key_id=issuing.key_id, now=now, actor=actor)
        current = activate_authority(store=self.store, key_id=new_root.key_id, now=now, actor=actor)
        self.authority.forget_cached_issuers()
        self._audit("ca-rotate", actor, previous_root, current)
        return RotationResult(
            AuthorityRole.ROOT, previous_root, current, tuple(created), distributed, True
        )

    # -- retire, activate --------------------------------------------------------------
    def retire(self, key_id: str, *, actor: str, force: bool = False) -> RetiredAuthority:
        """Stop trusting a standby CA, then publish the bundle without it."""
        retired = retire_authority(
            store=self.store, key_id=key_id, now=self.authority.now(), actor=actor, force=force
        )
        self._distribute(actor, "albca truststore update", f"CA {retired.record.key_id} (retired)")
        return retired

    def activate(self, key_id: str, *, actor: str) -> AuthorityRecord:
        """Make a standby CA active again (after a rollback, say): the bundle is distributed
        first, so the stores trust it before it signs."""
        record = find_authority(self.store, key_id)
        self._distribute(actor, f"albca ca activate {record.key_id}", f"CA {record.key_id}")
        current = activate_authority(
            store=self.store, key_id=record.key_id, now=self.authority.now(), actor=actor
        )
        self.authority.forget_cached_issuers()
        return current

    # -- plans (--dry-run): what each of the above would do, changing nothing --------------
    def plan_rotate_issuing(
        self,
        plan: Plan,
        planner: Planner | None,
        *,
        key_spec: KeySpec | None = None,
        common_name: str | None = None,
        lifetime: timedelta = ISSUING_LIFETIME,
    ) -> None:
        """``rotate_issuing``, planned: the new CA described (no key is made), the
        distribution of a bundle holding it planned by ``planner`` (None: no publish
        target), then the switch. Raises what ``rotate_issuing`` would refuse."""
        previous = self.authority.active_issuer_record()
        root = self._active(AuthorityRole.ROOT)
        trusted = TrustedCAs.now(self.authority)
        pending = self._pending(AuthorityRole.ISSUING, parent=root.key_id)
        if pending is None:
            new = self._plan_new_issuing(
                plan,
                root.key_id,
                certificate_of(root).not_valid_after_utc,
                previous,
                key_spec,
                common_name,
                lifetime,
                self._subjects(),
            )
            trusted = trusted.adding(new, AuthorityRole.ISSUING, self.authority.now())
        else:
            new = pending.key_id
            plan.step(f"resume the rotation to issuing CA {new} (made earlier, in standby)")
        self._plan_distribution(plan, planner, trusted)
        plan.step(
            f"make issuing CA {new} active; issuing CA {previous.key_id} goes to standby "
            "(still trusted until `albca ca retire`)"
        )

    def plan_rotate_root(
        self,
        plan: Plan,
        planner: Planner | None,
        *,
        key_spec: KeySpec | None = None,
        issuing_key_spec: KeySpec | None = None,
        common_name: str | None = None,
        issuing_common_name: str | None = None,
        lifetime: timedelta = ROOT_LIFETIME,
        issuing_lifetime: timedelta = ISSUING_LIFETIME,
        stop_after_root: bool = False,
    ) -> None:
        """``rotate_root``, planned: the new root, its distribution, the new issuing CA
        under it, the second distribution (on the state the first would leave), then the
        switch. Raises what ``rotate_root`` would refuse."""
        previous_root = self._active(AuthorityRole.ROOT)
        previous_issuing = self.authority.active_issuer_record()
        now = self.authority.now()
        trusted = TrustedCAs.now(self.authority)
        taken = self._subjects()
        new_root = self._pending(AuthorityRole.ROOT)
        if new_root is None:
            old = certificate_of(previous_root)
            spec = key_spec or key_spec_of(old.public_key(), field="root")
            subject = successor_subject(old.subject, common_name, taken)
            check_new_subject(self.store, subject)
            if lifetime <= timedelta(0):
                raise InvalidLifetime("lifetime: a root CA's lifetime must be positive")
            self._plan_key(plan, AuthorityRole.ROOT, spec)
            plan.step(
                f"create root CA {subject.rfc4514_string()}: a new {spec.value} key "
                f"({self.key_store}), self-signed, valid until {(now + lifetime).date()}, in "
                "standby (trusted, signing nothing yet)"
            )
            root_id, root_not_after = NEW_ROOT, now + lifetime
            taken = taken | {subject}
            trusted = trusted.adding(NEW_ROOT, AuthorityRole.ROOT, now)
        else:
            root_id = new_root.key_id
            root_not_after = certificate_of(new_root).not_valid_after_utc
            plan.step(f"resume the rotation to root CA {root_id} (made earlier, in standby)")
        self._plan_distribution(plan, planner, trusted)
        if stop_after_root:
            plan.note(
                "--stop-after-root: the run stops once the new root is in the bundle and the "
                "trust stores; `albca ca rotate --root` again makes its issuing CA and switches"
            )
            return
        issuing = None
        if new_root is not None:
            issuing = self._pending(AuthorityRole.ISSUING, parent=new_root.key_id)
        if issuing is None:
            new_issuing = self._plan_new_issuing(
                plan,
                root_id,
                root_not_after,
                previous_issuing,
                issuing_key_spec,
                issuing_common_name,
                issuing_lifetime,
                taken,
            )
            trusted = trusted.adding(new_issuing, AuthorityRole.ISSUING, now)
        else:
            new_issuing = issuing.key_id
            plan.step(f"resume with issuing CA {new_issuing} (made earlier, in standby)")
        self._plan_distribution(plan, planner, trusted)
        plan.step(
            f"make issuing CA {new_issuing} and root CA {root_id} active; issuing CA "
            f"{previous_issuing.key_id} and root CA {previous_root.key_id} go to standby "
            "(still trusted until `albca ca retire`)"
        )

    def plan_retire(
        self, plan: Plan, planner: Planner | None, key_id: str, *, force: bool = False
    ) -> RetiredAuthority:
        """``retire``, planned; raises what it would refuse."""
        now = self.authority.now()
        retiring = check_retirement(self.store, key_id=key_id, now=now, force=force)
        record = retiring.record
        stops = (
            f": {retiring.valid_certificates} valid certificate(s) it issued stop working"
            if retiring.valid_certificates
            else ""
        )
        plan.step(f"retire {record.role.value} CA {record.key_id}{stops}")
        trusted = TrustedCAs.now(self.authority).without(record.key_id)
        if record.parent_key_id and certificate_of(record).not_valid_after_utc > now:
            trusted = trusted.with_entries(record.parent_key_id, 1)  # its root's CRL lists it
        self._plan_distribution(plan, planner, trusted)
        return retiring

    def plan_activate(self, plan: Plan, planner: Planner | None, key_id: str) -> AuthorityRecord:
        """``activate``, planned; raises what it would refuse."""
        record = check_activation(self.store, key_id)
        self._plan_distribution(plan, planner, TrustedCAs.now(self.authority))
        others = [
            other.key_id
            for other in self.store.list_authorities()
            if other.role is record.role
            and other.status is AuthorityStatus.ACTIVE
            and other.key_id != record.key_id
        ]
        if record.status is not AuthorityStatus.ACTIVE or others:
            standby = f"; {', '.join(others)} goes to standby" if others else ""
            plan.step(f"make {record.role.value} CA {record.key_id} active{standby}")
        return record

    def _plan_new_issuing(
        self,
        plan: Plan,
        root_id: str,
        root_not_after: datetime,
        previous: AuthorityRecord,
        key_spec: KeySpec | None,
        common_name: str | None,
        lifetime: timedelta,
        taken: set[x509.Name],
    ) -> str:
        spec, subject, not_after = self._issuing_terms(
            root_id, root_not_after, previous, key_spec, common_name, lifetime, taken
        )
        check_new_subject(self.store, subject)
        self._plan_key(plan, AuthorityRole.ISSUING, spec)
        plan.step(
            f"create issuing CA {subject.rfc4514_string()}: a new {spec.value} key "
            f"({self.key_store}), signed by root CA {root_id}, valid until {not_after.date()}, "
            "in standby (trusted, signing nothing yet)"
        )
        return NEW_ISSUING

    def _plan_key(self, plan: Plan, role: AuthorityRole, spec: KeySpec) -> None:
        if self.key_call is not None:
            call = self.key_call(role, spec)
            plan.call(call.service, call.operation, call.params)

    def _plan_distribution(self, plan: Plan, planner: Planner | None, trusted: TrustedCAs) -> None:
        if planner is None:
            plan.note(
                "nothing is published (--no-publish): distribute the new bundle to relying "
                "parties yourself before certificates of a new CA are used"
            )
            return
        planner.trust(trusted)
        planner.update(None)

    # -- helpers -----------------------------------------------------------------------
    def _new_issuing(
        self,
        root: AuthorityRecord,
        previous: AuthorityRecord,
        actor: str,
        key_spec: KeySpec | None,
        common_name: str | None,
        lifetime: timedelta,
    ) -> AuthorityRecord:
        root_certificate = certificate_of(root)
        spec, subject, _ = self._issuing_terms(
            root.key_id,
            root_certificate.not_valid_after_utc,
            previous,
            key_spec,
            common_name,
            lifetime,
            self._subjects(),
        )
        return create_issuing_ca(
            store=self.store,
            root=root,
            root_signer=self.authority.issuer(root.key_id).signer,
            issuing_signer=self.new_key(AuthorityRole.ISSUING, spec),
            subject=subject,
            lifetime=lifetime,
            now=self.authority.now(),
            actor=actor,
        )

    def _issuing_terms(
        self,
        root_key_id: str,
        root_not_after: datetime,
        previous: AuthorityRecord,
        key_spec: KeySpec | None,
        common_name: str | None,
        lifetime: timedelta,
        taken: set[x509.Name],
    ) -> tuple[KeySpec, x509.Name, datetime]:
        """The key spec, subject and end of validity of a new issuing CA under a root
        valid until ``root_not_after``; refused when it would be too short-lived."""
        now = self.authority.now()
        usable = min(now + lifetime, root_not_after) - now
        longest = max(profile.max_lifetime for profile in self.authority.profiles.profiles)
        if usable < longest + self.margin:
            raise AuthorityError(
                f"root CA {root_key_id} expires {root_not_after.date()}: an "
                f"issuing CA under it would be usable for {usable.days} days, less than the "
                f"longest certificate lifetime ({longest.days} days) plus {self.margin.days}; "
                "rotate the root instead (`albca ca rotate --root`)"
            )
        old = certificate_of(previous)
        spec = key_spec or key_spec_of(old.public_key(), field="issuing")
        return spec, successor_subject(old.subject, common_name, taken), now + usable

    def _active(self, role: AuthorityRole) -> AuthorityRecord:
        active = [
            r
            for r in self.store.list_authorities()
            if r.role is role and r.status is AuthorityStatus.ACTIVE
        ]
        if not active:
            raise AuthorityNotInitialized(f"this CA has no active {role.value} CA")
        return max(active, key=lambda r: (r.created_at, r.key_id))

    def _pending(self, role: AuthorityRole, *, parent: str | None = None) -> AuthorityRecord | None:
        """A standby CA newer than every active CA of its role: a rotation not switched yet."""
        records = list(self.store.list_authorities())
        newest_active = max(
            (
                r.created_at
                for r in records
                if r.role is role and r.status is AuthorityStatus.ACTIVE
            ),
            default=None,
        )
        pending = [
            r
            for r in records
            if r.role is role
            and r.status is AuthorityStatus.STANDBY
            and (newest_active is None or r.created_at > newest_active)
            and (parent is None or r.parent_key_id == parent)
        ]
        return max(pending, key=lambda r: (r.created_at, r.key_id)) if pending else None

    def _subjects(self) -> set[x509.Name]:
        return {certificate_of(record).subject for record in self.store.list_authorities()}

    def _distribute(self, actor: str, rerun: str, what: str) -> int:
        if self.distributor is None:
            return 0
        try:
            self.distributor.distribute(actor=actor)
        except CAError as exc:
            raise SyncIncomplete(
                f"{what} is recorded but the trust stores do not all trust it yet, so nothing "
                f"was switched ({exc.message})",
                rerun=rerun,
            ) from exc
        return 1

    def _audit(
        self, action: str, actor: str, previous: AuthorityRecord, current: AuthorityRecord
    ) -> None:
        self.store.append_audit(
            AuditEvent(
                at=self.authority.now(),
                action=action,
                actor=actor,
                detail={
                    "role": current.role.value,
                    "previous": previous.key_id,
                    "current": current.key_id,
                },
            )
        )


_GENERATION = re.compile(r"^(.*?)(?: G(\d+))?$")


def successor_subject(
    current: x509.Name, common_name: str | None, taken: set[x509.Name]
) -> x509.Name:
    """The subject of a CA that replaces ``current``: the same attributes with the common
    name given, or by default the current one with a generation suffix (``... G2``,
    ``... G3``) that no CA of this authority has used."""
    attributes = list(current)
    cn_values = [a.value for a in attributes if a.oid == NameOID.COMMON_NAME]
    base = str(cn_values[0]) if cn_values else "albca CA"

    def named(cn: str) -> x509.Name:
        rdns = [a for a in attributes if a.oid != NameOID.COMMON_NAME]
        return x509.Name([*rdns, x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    if common_name is not None:
        # A CA's name follows the rules issued names follow (``ca_subject``): a blank or
        # over-long one was a cryptography ValueError and a traceback.
        return named(normalize_common_name(common_name))
    match = _GENERATION.match(base)
    assert match is not None
    stem, generation = match.group(1), int(match.group(2) or 1)
    while True:
        generation += 1
        candidate = named(f"{stem} G{generation}")
        if candidate not in taken:
            return candidate
