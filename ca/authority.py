"""The authority: issues, revokes and lists certificates and signs CRLs.

It owns no I/O of its own: records go through a ``CertificateStore``, CA keys through
``Signer``s found by a ``SignerResolver`` (a local file, a KMS key), time through a
``Clock``. The CLI, the HTTP API and the Lambda handler all drive this one class.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from albca.ca.certificates import IssuerContext, leaf_subject_text, random_serial
from albca.ca.clock import Clock, system_clock, to_epoch
from albca.ca.crl import CRLDocument, build_crl, collector_paused
from albca.ca.csr import parse_csr
from albca.ca.der.leaf import LeafTemplate, encode_leaf_der, pem_of_certificate
from albca.ca.errors import (
    AlreadyRevoked,
    AuthorityNotInitialized,
    CertificateNotFound,
    DuplicateSerial,
    InvalidLifetime,
    NotRenewable,
    StoreUnavailable,
)
from albca.ca.group_commit import GroupCommit, Pending
from albca.ca.issued import IssuedCertificate
from albca.ca.issuing_thread import IssuingThread
from albca.ca.keys import KeySpec, generate_private_key, key_spec_of
from albca.ca.names import RequestedNames
from albca.ca.policy import NamePolicy
from albca.ca.profiles import Profile, ProfileSet
from albca.ca.records import (
    AuditEvent,
    AuthorityRecord,
    AuthorityRole,
    AuthorityStatus,
    CertificatePage,
    CertificateQuery,
    CertificateRecord,
    CertificateStatus,
    KeyClaim,
    RevocationReason,
    RevokedEntry,
    utc_text,
)
from albca.ca.signer import Signer
from albca.ca.stores.protocol import CertificateStore

__all__ = ["Authority", "AuthorityConfig", "IssueRequest", "SignerResolver"]

SignerResolver = Callable[[str], Signer]
"""Turns an authority record's ``key_location`` into a signer (loading or connecting)."""

# A serial collision among 159 random bits is not expected before the heat death of the
# universe; retrying a few times turns "not expected" into "handled".
_SERIAL_ATTEMPTS = 3

# Issuances in a row that must have been alone on the event loop before one commits there
# (``Authority._commit_here``).
_LOOP_COMMITS_AFTER = 8

# Longest renewal chain followed when looking for a revoked ancestor (a 30-day
# certificate renewed monthly for 80 years).
_MAX_RENEWAL_CHAIN = 1000


@dataclass(frozen=True)
class AuthorityConfig:
    profiles: ProfileSet
    crl_validity: timedelta = timedelta(days=7)
    crl_urls: tuple[str, ...] = ()
    ca_issuers_urls: tuple[str, ...] = ()
    # notBefore is set this far in the past so that a relying party whose clock is a
    # little behind does not reject a brand-new certificate.
    backdate: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if self.crl_validity <= timedelta(0):
            raise ValueError("crl_validity must be positive")
        if not timedelta(0) <= self.backdate <= timedelta(hours=1):
            raise ValueError("backdate must be between 0 and 1 hour")


@dataclass(frozen=True)
class IssueRequest:
    """A fully validated request: the key and the names are already known to be well formed."""

    profile: str
    public_key: CertificatePublicKeyTypes
    names: RequestedNames
    requested_by: str
    lifetime: timedelta | None = None
    # A serial chosen by the caller: issued exactly once, or ``DuplicateSerial``. The HTTP
    # API picks it before signing so that a retried request can never issue twice.
    serial: int | None = None
    renewal_of: int | None = None  # the certificate this one renews, for the audit trail
    # Who asked, for the audit trail, when it is not ``requested_by``: a renewal keeps its
    # certificate's owner, and the token or operator that renewed it is the event's actor.
    actor: str | None = None
    # An API caller's Idempotency-Key, claimed in the transaction that writes the record
    # (``KeyClaim``); ``IdempotencyKeyTaken`` when a retry claimed it first.
    idempotency: KeyClaim | None = None
    key_spec: KeySpec = field(init=False)

    def __post_init__(self) -> None:
        if not self.requested_by:
            raise ValueError("requested_by must name who asked")
        if self.serial is not None and not 0 < self.serial < (1 << 159):
            raise ValueError("serial must be positive and at most 159 bits (RFC 5280 4.1.2.2)")
        object.__setattr__(self, "key_spec", key_spec_of(self.public_key))


def renewal_names(record: CertificateRecord) -> RequestedNames:
    """The names a renewal of ``record`` carries: exactly the ones it has."""
    return RequestedNames.of(
        common_name=record.common_name,
        dns_names=record.dns_names,
        ip_addresses=record.ip_addresses,
    )


@dataclass(frozen=True)
class _IssuePlan:
    request: IssueRequest
    profile: Profile
    template: LeafTemplate
    now: datetime
    not_before: datetime
    not_after: datetime


@dataclass(frozen=True)
class _Signed:
    plan: _IssuePlan
    record: CertificateRecord
    event: AuditEvent
    issued: IssuedCertificate

    @property
    def weight(self) -> int:
        """About the bytes the record and its event take in a store (for batch sizes):
        the PEM, the names (in the record and again in the event) and a margin for the
        other attributes."""
        names = sum(len(name) for name in self.record.dns_names + self.record.ip_addresses)
        subject = len(self.record.subject)
        return len(self.record.certificate_pem) + 2 * (names + subject) + 1024


def _no_unused_serial() -> StoreUnavailable:
    return StoreUnavailable(
        f"could not find an unused serial in {_SERIAL_ATTEMPTS} attempts; the store may "
        "be returning duplicates for every write"
    )


class Authority:
    def __init__(
        self,
        *,
        store: CertificateStore,
        config: AuthorityConfig,
        resolve_signer: SignerResolver,
        clock: Clock = system_clock,
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self._resolve_signer = resolve_signer
        self._templates: dict[str, LeafTemplate] = {}
        self._lock = threading.Lock()
        # Concurrent issuers' records are committed together (``ca.group_commit``).
        self.group_commit: GroupCommit = GroupCommit(store)
        # ``issue_async`` commits here unless it can commit on the event loop at once
        # (``_alone_on_loop``, ``GroupCommit.try_commit``): one thread, so that the records
        # queued while it commits go in its next transaction together.
        self._committer: ThreadPoolExecutor | None = None
        self._committer_pid = 0  # the process that made it
        # ``issue_async`` calls in flight. Counted on the event loop's thread only; with
        # loops in several threads a miscount can only send a commit to the loop or to the
        # thread needlessly, never skip one (``GroupCommit`` decides who commits).
        self._issuing_async = 0
        self._alone_streak = 0  # issuances in a row that were alone on the loop
        # ``issue`` calls in flight on threads; the second and later ones go through the
        # issuing thread (``ca.issuing_thread``), started with the first of them.
        self._issuing_threads = 0
        self._issuing_count_lock = threading.Lock()
        self._issuing: IssuingThread | None = None

    @property
    def profiles(self) -> ProfileSet:
        return self.config.profiles

    # -- the CA hierarchy ------------------------------------------------------------
    def authorities(self) -> list[AuthorityRecord]:
        return list(self.store.list_authorities())

    def active_issuer_record(self) -> AuthorityRecord:
        """The issuing CA that signs. During a switch (``ca.hierarchy.activate_authority``)
        two can be active for a moment, or after an interruption: the newest one signs."""
        active = [
            record
            for record in self.store.list_authorities()
            if record.role is AuthorityRole.ISSUING and record.status is AuthorityStatus.ACTIVE
        ]
        if not active:
            raise AuthorityNotInitialized(
                "this CA has no active issuing CA; run `albca init` first"
            )
        return max(active, key=lambda record: (record.created_at, record.key_id))

    def issuer(self, key_id: str | None = None) -> IssuerContext:
        """The issuing CA ``key_id`` (the active one by default), ready to sign."""
        return self._leaf_template(key_id).issuer

    def _leaf_template(self, key_id: str | None = None) -> LeafTemplate:
        """The issuing CA with the parts of its leaves encoded once (``ca.der.leaf``)."""
        if key_id is None:
            key_id = self._active_key_id()
        with self._lock:
            cached = self._templates.get(key_id)
        if cached is not None:
            return cached
        record = self._authority(key_id)
        context = IssuerContext.of(
            x509.load_pem_x509_certificate(record.certificate_pem.encode()),
            self._resolve_signer(record.key_location),
            crl_urls=self.config.crl_urls,
            ca_issuers_urls=self.config.ca_issuers_urls,
        )
        template = LeafTemplate.of(context)
        with self._lock:
            return self._templates.setdefault(key_id, template)

    def _active_key_id(self) -> str:
        # Read on every signing, never cached: a CA retired (or put on standby) by another
        # process (`albca ca retire --force`, a rotation) signs nothing once that commits
        # (issue 12, point 5). One small read per certificate (the authorities are a few
        # rows); the signing context of each CA is still built once (``_templates``).
        return self.active_issuer_record().key_id

    def forget_cached_issuers(self) -> None:
        """Drop cached issuer contexts (after a rotation changed which CA is active)."""
        with self._lock:
            self._templates.clear()

    def _authority(self, key_id: str) -> AuthorityRecord:
        for record in self.store.list_authorities():
            if record.key_id == key_id:
                return record
        raise AuthorityNotInitialized(f"this CA has no authority with key id {key_id}")

    def chain_for(self, issuer_key_id: str) -> tuple[x509.Certificate, ...]:
        """What a leaf of ``issuer_key_id`` presents above itself: the issuing CA."""
        record = self._authority(issuer_key_id)
        return (x509.load_pem_x509_certificate(record.certificate_pem.encode()),)

    def trusted_certificates(self) -> list[x509.Certificate]:
        """Every CA relying parties must trust now: roots first, then issuing CAs."""
        records = [
            r for r in self.store.list_authorities() if r.status is not AuthorityStatus.RETIRED
        ]
        records.sort(key=lambda r: (r.role is not AuthorityRole.ROOT, r.created_at))
        if not records:
            raise AuthorityNotInitialized("this CA has no certificates yet; run `albca init` first")
        return [x509.load_pem_x509_certificate(r.certificate_pem.encode()) for r in records]

    # -- issuing ---------------------------------------------------------------------
    def issue_from_csr(
        self,
        csr: bytes | str,
        *,
        profile: str,
        requested_by: str,
        lifetime: timedelta | None = None,
        names: RequestedNames | None = None,
        caller_policy: NamePolicy | None = None,
        serial: int | None = None,
    ) -> IssuedCertificate:
        """Issue for a CSR. The CSR's names are used unless ``names`` overrides them."""

        def plan(template: LeafTemplate | None) -> _IssuePlan:
            parsed = parse_csr(csr)
            request = IssueRequest(
                profile=profile,
                public_key=parsed.public_key,
                names=names if names is not None else parsed.names,
                requested_by=requested_by,
                lifetime=lifetime,
                serial=serial,
            )
            return self._plan(request, caller_policy, template)

        return self._issue(plan)

    def issue_with_new_key(
        self,
        *,
        profile: str,
        names: RequestedNames,
        requested_by: str,
        key_spec: KeySpec = KeySpec.EC_P256,
        lifetime: timedelta | None = None,
        caller_policy: NamePolicy | None = None,
    ) -> IssuedCertificate:
        """Issue with a key made here; the key comes back once and is never stored."""
        # Check before generating: an RSA-4096 key takes a second to make for nothing.
        self.check(profile, key_spec, names, caller_policy)
        private_key = generate_private_key(key_spec)
        request = IssueRequest(
            profile=profile,
            public_key=private_key.public_key(),
            names=names,
            requested_by=requested_by,
            lifetime=lifetime,
        )
        issued = self.issue(request, caller_policy=caller_policy)
        return IssuedCertificate(
            record=issued.record,
            certificate=issued.certificate,
            chain=issued.chain,
            private_key=private_key,
        )

    def check(
        self,
        profile_name: str,
        key_spec: KeySpec,
        names: RequestedNames,
        caller_policy: NamePolicy | None = None,
    ) -> None:
        """Raise what ``issue`` would raise for this profile, key and names, before any
        work is done (a key generated, a serial reserved)."""
        self._check(self.profiles.get(profile_name), key_spec, names, caller_policy)

    @staticmethod
    def _check(
        profile: Profile,
        key_spec: KeySpec,
        names: RequestedNames,
        caller_policy: NamePolicy | None,
    ) -> None:
        profile.check_key(key_spec)
        profile.check_names(names)
        if caller_policy is not None:
            caller_policy.check(names)

    def issue(
        self, request: IssueRequest, *, caller_policy: NamePolicy | None = None
    ) -> IssuedCertificate:
        """Sign and record one certificate; it is returned only once its record is committed."""
        return self._issue(lambda template: self._plan(request, caller_policy, template))

    def _issue(self, plan_of: Callable[[LeafTemplate | None], _IssuePlan]) -> IssuedCertificate:
        """Check and sign (``plan_of``, then ``_sign``) and wait for the record's commit.
        Alone, on this thread; with other calls in flight on other threads, on the issuing
        thread (``ca.issuing_thread``: one thread signing for all measured 63-66% of the raw
        cryptography rate at four callers and 72-77% at sixteen, against 50% and 44% with
        each signing its own; ``bench/library_issuance.py``).
        There ``plan_of`` gets the issuing CA read once for every request it signs
        together, as ``issue_batches`` reads it once a batch; here None (read it now)."""
        with self._issuing_count_lock:
            self._issuing_threads += 1
            concurrent = self._issuing_threads > 1
        try:
            handed = None
            if concurrent:
                handed = self._issuing_thread().issue(
                    lambda template: self._signed(plan_of(template))
                )
            if handed is None:
                with self.group_commit.signing():
                    signed = self._signed(plan_of(None))
                    pending = self._queue(signed)
            else:
                signed, pending = handed
            return self._committed(signed, pending)
        finally:
            with self._issuing_count_lock:
                self._issuing_threads -= 1

    def _signed(self, plan: _IssuePlan) -> _Signed:
        return self._sign(plan, plan.request.serial or random_serial())

    def _committed(self, signed: _Signed, pending: Pending) -> IssuedCertificate:
        """Wait for the commit of ``signed`` (queued as ``pending``), inside whose
        ``signing`` it was signed and queued, so that a commit starting meanwhile knew it
        was coming. A random serial that is taken is replaced, a chosen one is not."""
        plan = signed.plan
        chosen = plan.request.serial is not None
        for attempt in range(1 if chosen else _SERIAL_ATTEMPTS):
            if attempt:
                with self.group_commit.signing():
                    signed = self._sign(plan, random_serial())
                    pending = self._queue(signed)
            try:
                if pending.error is not None or not pending.done:
                    self.group_commit.wait(pending)  # raises a done one's error at once
            except DuplicateSerial:
                if chosen:
                    raise
                continue
            return signed.issued
        raise _no_unused_serial()

    async def issue_async(
        self, request: IssueRequest, *, caller_policy: NamePolicy | None = None
    ) -> IssuedCertificate:
        """``issue`` for an event loop: checks and signs on the loop (CPU work, shorter than
        a hand-off to a thread). Returns once the record is committed.

        The commit runs on the loop when nothing else on it would wait for it, now or
        lately (``_commit_here``), and the store can start writing at once
        (``GroupCommit.try_commit``: never waiting for another process's writer lock);
        otherwise on the committer thread, together with whatever other requests queued
        meanwhile, while the loop serves them. Committing on the loop saves the hand-off to
        a thread and back: +19% at one client in issue 17's measurements. With others in
        flight the loop keeps signing them during the fsync instead, so that they share
        the next commit."""
        self._issuing_async += 1
        try:
            return await self._issue_async(request, caller_policy)
        finally:
            self._issuing_async -= 1

    async def _issue_async(
        self, request: IssueRequest, caller_policy: NamePolicy | None
    ) -> IssuedCertificate:
        plan = self._plan(request, caller_policy)
        attempts = 1 if request.serial is not None else _SERIAL_ATTEMPTS
        for _attempt in range(attempts):
            with self.group_commit.signing():
                signed = self._sign(plan, request.serial or random_serial())
                # Queued here, on the loop, before the hand-off: requests that arrive while
                # the committer is busy join its next batch.
                pending = self._queue(signed)
            try:
                if self._commit_here() and self.group_commit.try_commit(pending):
                    self.group_commit.wait(pending)  # done: returns, or raises its error
                else:
                    await self.group_commit.commit_async(pending, self._commit_thread())
            except DuplicateSerial:
                if request.serial is not None:
                    raise
                continue
            return signed.issued
        raise _no_unused_serial()

    def _commit_here(self) -> bool:
        """Whether to commit on the loop: this issuance is alone on it, and so were the
        ones before it (``_LOOP_COMMITS_AFTER``). Alone now is not enough under load: with
        four clients, one request often finds itself alone because the others' requests
        are still unread, and they arrive while it holds the loop for its fsync. Committing
        it there then takes turns with the committer's batches instead of overlapping them
        (measured: half the rate at four clients on a slow disk). Concurrent clients keep
        resetting the streak; one client keeps it."""
        if not self._alone_on_loop():
            self._alone_streak = 0
            return False
        self._alone_streak += 1
        return self._alone_streak > _LOOP_COMMITS_AFTER

    def _alone_on_loop(self) -> bool:
        """Whether a commit on the loop would hold up nothing: no other issuance waits for
        a commit, and no other task of this loop is ready to run (a request read in the
        same poll, not started yet). A task waiting for something (the network, a timer,
        the committer thread) is not held up: it could not run anyway.

        ``_fut_waiter`` (the future a task waits on, None while it is ready to run) is
        CPython's, read with a default: where it is missing every other task counts as
        ready, and the commit goes to the committer thread as before."""
        if self._issuing_async != 1:
            return False
        current = asyncio.current_task()
        return not any(
            task is not current and getattr(task, "_fut_waiter", None) is None
            for task in asyncio.all_tasks()
        )

    def _queue(self, signed: _Signed) -> Pending:
        return self.group_commit.queue(signed.record, signed.event, signed.weight)

    def _commit_thread(self) -> ThreadPoolExecutor:
        with self._lock:
            # In a child of ``os.fork`` the parent's committer has no thread: a commit handed
            # to it would wait for ever, so the child makes its own.
            if self._committer is None or self._committer_pid != os.getpid():
                self._committer = ThreadPoolExecutor(1, thread_name_prefix="albca-commit")
                self._committer_pid = os.getpid()
            return self._committer

    def _issuing_thread(self) -> IssuingThread:
        with self._lock:
            if self._issuing is None or self._issuing.stopped:
                self._issuing = IssuingThread(
                    self.group_commit, self._commit_thread, self._leaf_template
                )
            return self._issuing

    def close(self) -> None:
        """Stop the issuing thread and the committer thread (after the requests and the
        commits queued on them)."""
        with self._lock:
            issuing, self._issuing = self._issuing, None
        if issuing is not None:
            issuing.stop()
        with self._lock:
            committer, self._committer = self._committer, None
        if committer is not None:
            committer.shutdown(wait=True)

    def issue_batches(
        self, requests: Sequence[IssueRequest], *, caller_policy: NamePolicy | None = None
    ) -> Iterator[list[IssuedCertificate]]:
        """Issue many certificates, committing them in batches: one transaction (and one
        fsync) per batch instead of one per certificate. A batch holds at most
        ``store.batch_limit`` certificates and ``store.batch_bytes`` of records.

        Every request is checked before anything is signed, so a refusal issues nothing.
        Each batch is yielded once committed; if a later batch fails, the ones yielded
        before it stand (they are recorded and in the caller's hands), and nothing of the
        failed one is recorded. Callers choose no serials here.
        """
        if any(request.serial is not None for request in requests):
            raise ValueError("issue_batches picks serials itself; use issue() for a chosen one")
        # The active CA read once for the checks, not once per request; each batch reads
        # it again below before signing.
        active = self._leaf_template()
        plans = [self._plan(request, caller_policy, active) for request in requests]
        batch: list[_Signed] = []
        weight = 0
        template: LeafTemplate | None = None
        for plan in plans:
            if not batch:
                # Each batch is signed by the CA active when it starts: a CA retired
                # meanwhile signs no further batch (issue 12, point 5).
                template = self._leaf_template()
            if plan.template is not template:
                plan = self._plan(plan.request, caller_policy, template)
            signed = self._sign(plan, random_serial())
            if batch and (
                len(batch) == self.store.batch_limit
                or weight + signed.weight > self.store.batch_bytes
            ):
                yield self._commit_batch(batch)
                batch, weight = [], 0
            batch.append(signed)
            weight += signed.weight
        if batch:
            yield self._commit_batch(batch)

    def _commit_batch(self, batch: list[_Signed]) -> list[IssuedCertificate]:
        for _attempt in range(_SERIAL_ATTEMPTS):
            try:
                self.store.add_certificates([(s.record, s.event) for s in batch])
            except DuplicateSerial:
                # Nothing of the batch was written: sign it again with new serials.
                batch = [self._sign(s.plan, random_serial()) for s in batch]
                continue
            return [s.issued for s in batch]
        raise _no_unused_serial()

    def _plan(
        self,
        request: IssueRequest,
        caller_policy: NamePolicy | None,
        template: LeafTemplate | None = None,
    ) -> _IssuePlan:
        """Everything about a certificate but its serial, checked against every rule.
        The issuing CA is the one active now (``template`` if the caller just read it)."""
        profile = self.profiles.get(request.profile)
        self._check(profile, request.key_spec, request.names, caller_policy)
        lifetime = profile.resolve_lifetime(request.lifetime)
        if template is None:
            template = self._leaf_template()
        now = self.clock()
        not_after = now + lifetime
        issuer_expiry = template.not_valid_after
        if not_after > issuer_expiry:
            raise InvalidLifetime(
                f"lifetime: the certificate would outlive the issuing CA, which expires "
                f"{issuer_expiry.isoformat()}; ask for a shorter lifetime or rotate the CA"
            )
        return _IssuePlan(
            request=request,
            profile=profile,
            template=template,
            now=now,
            not_before=now - self.config.backdate,
            not_after=not_after,
        )

    @staticmethod
    def _sign(plan: _IssuePlan, serial: int) -> _Signed:
        request, profile, issuer = plan.request, plan.profile, plan.template.issuer
        certificate_der = encode_leaf_der(
            plan.template,
            kind=profile.kind,
            public_key=request.public_key,
            names=request.names,
            serial=serial,
            not_before=plan.not_before,
            not_after=plan.not_after,
        )
        certificate = x509.load_der_x509_certificate(certificate_der)
        record = CertificateRecord(
            serial=serial,
            issuer_key_id=issuer.key_id,
            # From the names, not certificate.subject: reading the subject back out of
            # the signed DER costs more than writing the string.
            subject=leaf_subject_text(request.names),
            common_name=request.names.common_name,
            dns_names=request.names.dns_names,
            ip_addresses=tuple(str(ip) for ip in request.names.ip_addresses),
            profile=profile.name,
            not_before=plan.not_before,
            not_after=plan.not_after,
            # From the DER in hand: cheaper than cryptography encoding the parsed certificate.
            certificate_pem=pem_of_certificate(certificate_der),
            requested_by=request.requested_by,
            issued_at=plan.now,
            idempotency=request.idempotency,
        )
        detail: dict[str, object] = {
            "profile": profile.name,
            "names": request.names.describe(),
            "key": request.key_spec.value,
            "not_after": utc_text(plan.not_after),
            "issuer": issuer.key_id,
        }
        if request.renewal_of is not None:
            detail["renewal_of"] = f"{request.renewal_of:x}"
        event = AuditEvent(
            at=plan.now,
            action="issue",
            actor=request.actor or request.requested_by,
            serial=serial,
            detail=detail,
        )
        issued = IssuedCertificate(
            record=record, certificate=certificate, chain=plan.template.chain
        )
        return _Signed(plan=plan, record=record, event=event, issued=issued)

    # -- renewal ---------------------------------------------------------------------
    def renewable(
        self, serial: int, presented: x509.Certificate | None = None
    ) -> CertificateRecord:
        """The record of ``serial`` if it may be renewed now, else ``NotRenewable``.

        A renewable certificate is one this CA issued, is not revoked and has not expired.
        ``presented`` is the certificate a holder showed: it must be exactly the one on
        record (a certificate from another CA can share a serial by chance or by design).
        """
        record = self.store.get_certificate(serial)
        if presented is not None:
            on_record = x509.load_pem_x509_certificate(record.certificate_pem.encode())
            if presented.public_bytes(serialization.Encoding.DER) != on_record.public_bytes(
                serialization.Encoding.DER
            ):
                raise NotRenewable(
                    f"certificate {serial:x}: the certificate presented is not the one this "
                    "CA issued with that serial",
                    serial=serial,
                    reason="mismatch",
                )
        if record.status is CertificateStatus.REVOKED:
            raise NotRenewable(
                f"certificate {serial:x} is revoked and cannot be renewed; request a new one",
                serial=serial,
                reason="revoked",
            )
        now = self.clock()
        if now >= record.not_after:
            raise NotRenewable(
                f"certificate {serial:x} expired at {record.not_after.isoformat()} and cannot "
                "be renewed; request a new one",
                serial=serial,
                reason="expired",
            )
        revoked = self._revoked_ancestor(record.serial)
        if revoked is not None:
            # Revoking a certificate ends its renewal chain: a renewal made before the
            # revocation must not keep the revoked holder's access alive. step-ca refuses
            # the same way (a renewal of a certificate descended from a revoked one).
            raise NotRenewable(
                f"certificate {serial:x} descends by renewal from certificate {revoked:x}, "
                "which is revoked; request a new certificate",
                serial=serial,
                reason="ancestor_revoked",
            )
        return record

    def _revoked_ancestor(self, serial: int) -> int | None:
        """The first revoked certificate up the renewal chain of ``serial``, or None.

        The chain is read from the audit trail: each renewal's ``issue`` event names the
        certificate it renews (``renewal_of``), written in the certificate's own
        transaction. A certificate the store no longer holds (expired and purged) ends
        the walk.
        """
        seen = {serial}
        parent = self._renewal_of(serial)
        while parent is not None and parent not in seen and len(seen) <= _MAX_RENEWAL_CHAIN:
            seen.add(parent)
            try:
                ancestor = self.store.get_certificate(parent)
            except CertificateNotFound:
                return None
            if ancestor.status is CertificateStatus.REVOKED:
                return parent
            parent = self._renewal_of(parent)
        return None

    def _renewal_of(self, serial: int) -> int | None:
        before: int | None = None
        while True:
            events = self.store.audit_events(serial=serial, limit=100, before_id=before)
            for event in events:
                if event.action == "issue":
                    renewed = event.detail.get("renewal_of")
                    return int(renewed, 16) if isinstance(renewed, str) else None
            if len(events) < 100 or events[-1].id is None:
                return None
            before = events[-1].id

    def renew(
        self,
        serial: int,
        *,
        requested_by: str,
        public_key: CertificatePublicKeyTypes | None = None,
        presented: x509.Certificate | None = None,
        caller_policy: NamePolicy | None = None,
        new_serial: int | None = None,
        idempotency: KeyClaim | None = None,
    ) -> IssuedCertificate:
        """A new certificate for the same names, profile, lifetime and owner as ``serial``.

        ``requested_by`` is who asks (the audit event's actor); the new record keeps the
        owner of the one it renews, so that whoever obtained a certificate can still renew
        and revoke it after another token (``renew-any``) renewed it. The key stays the same
        unless ``public_key`` (from a CSR, which proved possession of it) replaces it. The
        lifetime is the original's, shortened to the profile's maximum if an operator has
        lowered it since. ``idempotency`` as for ``IssueRequest``.
        """
        current = self.renewable(serial, presented)
        request = self._renewal_request(
            current,
            requested_by=requested_by,
            public_key=public_key,
            new_serial=new_serial,
            idempotency=idempotency,
        )
        return self.issue(request, caller_policy=caller_policy)

    def check_renewal(
        self,
        record: CertificateRecord,
        *,
        public_key: CertificatePublicKeyTypes | None = None,
        caller_policy: NamePolicy | None = None,
    ) -> None:
        """Raise what ``renew`` would raise for this certificate, key and caller (profile,
        key type, names, the issuing CA's expiry), before any work is done (an
        Idempotency-Key claimed)."""
        request = self._renewal_request(record, requested_by="check", public_key=public_key)
        self._plan(request, caller_policy)

    def _renewal_request(
        self,
        current: CertificateRecord,
        *,
        requested_by: str,
        public_key: CertificatePublicKeyTypes | None,
        new_serial: int | None = None,
        idempotency: KeyClaim | None = None,
    ) -> IssueRequest:
        profile = self.profiles.get(current.profile)
        key = public_key
        if key is None:
            key = x509.load_pem_x509_certificate(current.certificate_pem.encode()).public_key()
        return IssueRequest(
            profile=current.profile,
            public_key=key,
            names=renewal_names(current),
            requested_by=current.requested_by,
            actor=requested_by,
            lifetime=min(current.not_after - current.issued_at, profile.max_lifetime),
            serial=new_serial,
            renewal_of=current.serial,
            idempotency=idempotency,
        )

    # -- lifecycle -------------------------------------------------------------------
    def get(self, serial: int) -> CertificateRecord:
        return self.store.get_certificate(serial)

    def list_certificates(self, query: CertificateQuery) -> CertificatePage:
        return self.store.query_certificates(query, self.clock())

    def revocable(self, serial: int) -> CertificateRecord:
        """The certificate ``revoke`` would revoke; raises what it would refuse
        (``CertificateNotFound``, ``AlreadyRevoked``). Changes nothing (``--dry-run``)."""
        record = self.store.get_certificate(serial)
        if record.status is CertificateStatus.REVOKED:
            assert record.revoked_at is not None
            raise AlreadyRevoked(serial, record.revoked_at.isoformat())
        return record

    def revoke(
        self, serial: int, reason: RevocationReason, *, requested_by: str
    ) -> CertificateRecord:
        now = self.clock()
        event = AuditEvent(
            at=now,
            action="revoke",
            actor=requested_by,
            serial=serial,
            detail={"reason": reason.label},
        )
        return self.store.revoke_certificate(serial, now, reason, event)

    def audit(
        self, *, limit: int = 100, serial: int | None = None, before_id: int | None = None
    ) -> list[AuditEvent]:
        return self.store.audit_events(limit=limit, serial=serial, before_id=before_id)

    # -- CRLs ------------------------------------------------------------------------
    def generate_crl(self, issuer_key_id: str | None = None, *, requested_by: str) -> CRLDocument:
        """A new full CRL for one CA (the active issuing CA by default), numbered above
        every CRL this CA signed before.

        An issuing CA's CRL lists the certificates it issued that are revoked and not yet
        expired. A root's lists the issuing CAs under it that were retired before they
        expired: a client that sends a retired issuing CA's certificate along with its own
        still chains to the root, so the root must say that CA is no longer good
        (cessationOfOperation, RFC 5280 section 5.3.1).
        """
        return self.generate_counted_crl(issuer_key_id, requested_by=requested_by)[0]

    def generate_counted_crl(
        self, issuer_key_id: str | None = None, *, requested_by: str
    ) -> tuple[CRLDocument, int]:
        """``generate_crl``, and the issuer's revocation counter (``CrlState.revocations``)
        at the instant its entries were read: while the counter still reads so, the CRL
        lists every revocation."""
        issuer = self.issuer(issuer_key_id)
        now = self.clock()
        # The number and the entries come from one instant of the store (``next_crl``), so a
        # CRL with a higher number lists every revocation a lower-numbered one listed: a
        # consumer keeping "the highest number" loses none (issue 12, point 1).
        with collector_paused():
            snapshot = self.store.next_crl(issuer.key_id, now)
        entries = snapshot.entries
        if self._authority(issuer.key_id).role is AuthorityRole.ROOT:
            entries = self._retired_children(issuer.key_id, now)
        document = build_crl(
            issuer=issuer.certificate,
            signer=issuer.signer,
            number=snapshot.number,
            this_update=now,
            next_update=now + self.config.crl_validity,
            entries=entries,
        )
        self.store.append_audit(
            AuditEvent(
                at=now,
                action="crl",
                actor=requested_by,
                detail={
                    "issuer": issuer.key_id,
                    "number": snapshot.number,
                    "entries": document.entries,
                },
            )
        )
        return document, snapshot.revocations

    def crl_entries(self, issuer_key_id: str) -> list[RevokedEntry]:
        """What a CRL of this CA signed now would list (``generate_crl``'s entries), without
        signing one: to tell whether a CRL already published is still complete."""
        return self._crl_entries(issuer_key_id, self.clock())

    def _crl_entries(self, key_id: str, now: datetime) -> list[RevokedEntry]:
        if self._authority(key_id).role is AuthorityRole.ROOT:
            return self._retired_children(key_id, now)
        with collector_paused():
            return self.store.revoked_entries(key_id, now)

    def _retired_children(self, root_key_id: str, now: datetime) -> list[RevokedEntry]:
        entries = []
        for child in self.store.list_authorities():
            if child.parent_key_id != root_key_id or child.status is not AuthorityStatus.RETIRED:
                continue
            certificate = x509.load_pem_x509_certificate(child.certificate_pem.encode())
            if certificate.not_valid_after_utc <= now:
                continue  # expired: no relying party accepts it anyway (RFC 5280 5.1.2.6)
            # ``ca.hierarchy.retire_authority`` files its audit event under the CA
            # certificate's serial, so the retirement time is one indexed lookup away.
            events = self.store.audit_events(serial=certificate.serial_number, limit=20)
            retired = next((e.at for e in events if e.action == "ca-retire"), child.created_at)
            entries.append(
                RevokedEntry(
                    certificate.serial_number,
                    to_epoch(retired),
                    int(RevocationReason.CESSATION_OF_OPERATION),
                )
            )
        return entries

    def crl_issuer_key_ids(self, *, roots: bool) -> Sequence[str]:
        """CAs relying parties still trust, whose CRLs they need: the issuing CAs, and the
        roots too when ``roots`` (signing a root's CRL needs the root key)."""
        return [
            record.key_id
            for record in self.store.list_authorities()
            if record.status is not AuthorityStatus.RETIRED
            and (roots or record.role is AuthorityRole.ISSUING)
        ]

    def issuing_key_ids(self) -> Sequence[str]:
        """Issuing CAs whose certificates relying parties still trust (need a CRL)."""
        return [
            record.key_id
            for record in self.store.list_authorities()
            if record.role is AuthorityRole.ISSUING and record.status is not AuthorityStatus.RETIRED
        ]

    def now(self) -> datetime:
        return self.clock()
