"""Scheduled maintenance: one idempotent run of every job that is due.

The same ``Maintenance.run`` serves every caller: ``albca maintain`` (cron, a systemd
timer), the Lambda handler on an EventBridge Scheduler event, and later ``albca aws
deploy``'s schedule. A run that finds nothing due changes nothing. The jobs, in order
(CRL work first, so a notice that cannot be delivered never holds it up):

``crl``
    Every CA relying parties trust (issuing CAs and roots) has its CRL re-signed,
    published and fed to every trust store the CA feeds, once the CRL published for it
    has lived ``crl_refresh_at`` of its validity (default half: RFC 5280 section 5.1.2.5
    lets a relying party reject a CRL past nextUpdate, so a fresh one must be out well
    before), or when none is published. When the CRL was signed is read from the
    published CRL itself (its thisUpdate and nextUpdate): that is what relying parties
    hold, and a publish that failed leaves the old one there, so the next run sees it is
    still due. The re-signing is ``RevocationSync`` with the roots included: the same code
    that runs after a revocation and on bundle changes.
``sync``
    A trust store sync that was queued or failed (``sync_trail.sync_state``: a pending
    marker, or a revocation no sync has covered) is run again. It shares the run of
    ``crl``: one sync does both.
``expiry``
    Every unexpired, unrevoked certificate that crossed a threshold (default 30, 7 and 1
    days before notAfter) is announced once per threshold. A threshold applies only to a
    certificate whose lifetime exceeds it (a 24-hour certificate is not "1 day from
    expiry" news), and only the tightest one crossed is announced (a certificate first
    seen 5 days from expiry gets the 7-day notice, not the 30-day one as well). A
    certificate the ``acm`` job replaced in ACM (it runs first) is not announced: its ARN
    holds the new certificate, and no one else holds the old one's key (albca keeps none
    of the keys it imports), so its expiry is no one's business.
``ca-rotation``
    An active CA past its ``rotate_by`` (``ca.ca_status``) is announced once.
``acm``
    Certificates albca imported into ACM (found by their ``albca:managed-by`` tag) past
    ``acm_renew_at`` of their life (default two thirds) are renewed in place, once, by
    ``renew_managed`` (``trust_bundle.acm_renewals``); a failed renewal is a notice, an
    audit event and a failed job. Without ``renew_managed`` they are only announced,
    naming the command that re-imports them.
``events``
    Audit events worth telling (issued, revoked, sync failed, maintenance failed;
    ``MaintenancePolicy.events`` chooses) since the previous run.

Exactly once. Each notice is claimed per sink in the store (``claim_notice``, a
conditional write on both backends) before it is sent and marked sent after, so two runs
at once never both send it; a failed delivery gives the claim back and the next run
tries again. Notices that share a digest (every certificate crossing one threshold in one
run) are claimed, sent and marked in batches: one store transaction each on SQLite and
one message per sink listing them (``notices.digest_of``: a count, the first names, at
most 100 listed whole), still once per certificate, threshold and sink.

The ``crl`` job is guarded by a claim too (a lease, given back at the end), taken when
something is due and what is due checked again once it holds it, so two runs at once sign
one set of CRLs.

Every run leaves a ``maintain`` audit event with what it did and what failed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from albca.ca.authority import Authority
from albca.ca.ca_status import authority_reports, rotation_due
from albca.ca.errors import CAError
from albca.ca.records import (
    AuditEvent,
    CertificateQuery,
    CertificateRecord,
    EffectiveStatus,
    format_serial,
)
from albca.ca.stores.protocol import CertificateStore
from albca.trust_bundle.acm_renewals import (
    AcmRenewals,
    ManagedCertificate,
    RenewManaged,
    superseded_key,
)
from albca.trust_bundle.artefacts import crl_name
from albca.trust_bundle.audit_window import AuditReader, AuditWindow
from albca.trust_bundle.errors import PublishFailed
from albca.trust_bundle.notices import DeliveryFailed, Notice, NoticeSink, digest_of
from albca.trust_bundle.publish import Publisher
from albca.trust_bundle.revocation_sync import RevocationSync
from albca.trust_bundle.sync_trail import SYNC_PENDING, sync_state

__all__ = [
    "EVENT_KINDS",
    "MAINTAIN",
    "ManagedCertificate",
    "MaintenancePolicy",
    "RenewManaged",
    "JobResult",
    "MaintenanceReport",
    "Maintenance",
]

MAINTAIN = "maintain"
"""The audit action of a maintenance run."""

EVENT_KINDS: dict[str, str] = {
    "issued": "issue",
    "revoked": "revoke",
    "sync-failed": SYNC_PENDING,
    "maintenance-failed": MAINTAIN,
}
"""The events a user can ask to be told about -> the audit action that records each."""

_CRL_LEASE_KEY = "job:crl"
_EVENT_SCAN_LIMIT = 5_000
_PAGE = 1_000


@dataclass(frozen=True)
class MaintenancePolicy:
    crl_refresh_at: float = 0.5  # of a CRL's validity
    expiry_thresholds: tuple[timedelta, ...] = (
        timedelta(days=30),
        timedelta(days=7),
        timedelta(days=1),
    )
    events: frozenset[str] = frozenset({"revoked", "sync-failed", "maintenance-failed"})
    acm_renew_at: float = 2 / 3  # of a certificate's life
    # How long a run holds the CRL job or a notice before another run may take it over
    # (a run that died holding it). Well above a run's length, well below the schedule's.
    lease: timedelta = timedelta(minutes=15)

    def __post_init__(self) -> None:
        if not 0 < self.crl_refresh_at < 1:
            raise ValueError("crl_refresh_at must be between 0 and 1 (a share of validity)")
        if not 0 < self.acm_renew_at < 1:
            raise ValueError("acm_renew_at must be between 0 and 1 (a share of the life)")
        if any(t <= timedelta(0) for t in self.expiry_thresholds):
            raise ValueError("expiry_thresholds must be positive")
        unknown = sorted(self.events - set(EVENT_KINDS))
        if unknown:
            raise ValueError(
                f"events: {unknown[0]!r} is not an event albca tells; choose from "
                f"{', '.join(EVENT_KINDS)}"
            )
        object.__setattr__(
            self, "expiry_thresholds", tuple(sorted(set(self.expiry_thresholds), reverse=True))
        )


@dataclass
class JobResult:
    name: str
    due: list[str] = field(default_factory=list)  # what was found due
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: str | None = None  # why the job did not run at all

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "due": self.due,
            "done": self.done,
            "failed": self.failed,
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class MaintenanceReport:
    run_id: str
    at: datetime
    dry_run: bool
    jobs: tuple[JobResult, ...]

    @property
    def ok(self) -> bool:
        return not any(job.failed for job in self.jobs)

    @property
    def failures(self) -> list[str]:
        return [f"{job.name}: {failure}" for job in self.jobs for failure in job.failed]

    def job(self, name: str) -> JobResult:
        return next(job for job in self.jobs if job.name == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "at": self.at.isoformat(),
            "dry_run": self.dry_run,
            "ok": self.ok,
            "jobs": [job.to_json() for job in self.jobs],
        }


class Maintenance:
    """Every due job, once. ``sync`` makes the revocation sync (roots included) or is None
    without a publish target; ``publisher`` is where the CRLs are read back from;
    ``managed_certificates`` lists albca's certificates in ACM (None: no ACM job) and
    ``renew_managed`` renews one in place (None: they are announced instead)."""

    def __init__(
        self,
        *,
        authority: Authority,
        publisher: Publisher | None,
        sync: Callable[[], RevocationSync] | None,
        sinks: Sequence[NoticeSink] = (),
        policy: MaintenancePolicy | None = None,
        managed_certificates: Callable[[], Sequence[ManagedCertificate]] | None = None,
        renew_managed: RenewManaged | None = None,
        actor: str = "maintenance",
    ) -> None:
        self.authority = authority
        self.publisher = publisher
        self.make_sync = sync
        self.sinks = tuple(sinks)
        self.policy = policy or MaintenancePolicy()
        self.managed_certificates = managed_certificates
        self.actor = actor
        self.acm_renewals = AcmRenewals(
            store=authority.store,
            renew=renew_managed,
            renew_at=self.policy.acm_renew_at,
            lease=self.policy.lease,
            clock=authority.now,
            actor=actor,
        )

    @property
    def store(self) -> CertificateStore:
        return self.authority.store

    def run(self, *, dry_run: bool = False) -> MaintenanceReport:
        """Run every due job (``dry_run``: find what is due, change and send nothing)."""
        run_id = secrets.token_hex(8)
        now = self.authority.now()
        # The audit trail, read once for the run's three readers (``audit_window``).
        trail = AuditWindow(self.store)
        jobs = [self._crl_job(run_id, dry_run, trail)]
        through = trail.newest_id()  # as read before this run wrote anything
        notices: list[tuple[JobResult, Notice]] = []
        for name, find in (
            ("acm", lambda now, job: self._acm_job(now, job, run_id, dry_run)),
            ("expiry", self._expiry_notices),
            ("ca-rotation", self._rotation_notices),
            ("events", lambda now, job: self._event_notices(now, job, trail)),
        ):
            job = JobResult(name)
            if name == "events" and any(earlier.done or earlier.failed for earlier in jobs):
                # A job that did or failed something may have written to the trail since
                # it was read (a sync, a pending marker, a renewal's issue): read it anew,
                # so those events are told in this run, as they always were.
                trail.forget()
            jobs.append(job)
            try:
                found = find(now, job)
            except CAError as exc:  # a store or AWS failure in one job stops only that job
                job.failed.append(exc.message)
                continue
            if name != "acm":  # its due list names certificates, not notices
                job.due += [notice.text for notice in found]
            notices += [(job, notice) for notice in found]
        if not dry_run:
            self._announce(run_id, now, notices)
        report = MaintenanceReport(run_id, now, dry_run, tuple(jobs))
        if not dry_run:
            self._record(report, through)
        return report

    # -- CRLs and syncs ------------------------------------------------------------------
    def crls_due(self, trail: AuditReader | None = None) -> list[str]:
        """Why the CRLs must be re-signed and synced now; empty when nothing is due.
        ``trail``: the run's window onto the audit trail (default: the store)."""
        reasons: list[str] = []
        now = self.authority.now()
        if self.publisher is not None:
            for key_id in self.authority.crl_issuer_key_ids(roots=True):
                reasons += self._crl_reasons(key_id, now)
        state = sync_state(trail or self.store)
        if state.pending:
            reasons.append(
                f"a trust store sync is pending: {state.pending[0].detail.get('error', '?')}"
            )
        if state.revocations_since:
            reasons.append(f"{len(state.revocations_since)} revocation(s) not yet in a synced CRL")
        return reasons

    def _crl_reasons(self, key_id: str, now: datetime) -> list[str]:
        assert self.publisher is not None
        name = crl_name(key_id)
        try:
            crl = x509.load_pem_x509_crl(self.publisher.read(name))
        except PublishFailed:
            return [f"CA {key_id[:8]}...: no CRL published at {name}"]
        except ValueError:
            return [f"CA {key_id[:8]}...: {name} is not a readable CRL"]
        this_update, next_update = crl.last_update_utc, crl.next_update_utc
        if next_update is None:
            return [f"CA {key_id[:8]}...: its CRL has no nextUpdate"]
        refresh = this_update + (next_update - this_update) * self.policy.crl_refresh_at
        if now >= refresh:
            return [
                f"CA {key_id[:8]}...: CRL signed {this_update.isoformat()} is due for "
                f"re-signing (next update {next_update.isoformat()})"
            ]
        return []

    def _crl_job(self, run_id: str, dry_run: bool, trail: AuditWindow) -> JobResult:
        job = JobResult("crl")
        if self.make_sync is None:
            job.skipped = "no publish target (ALBCA_PUBLISH_TO): CRLs are not published"
            return job
        try:
            if dry_run:
                job.due = self.crls_due(trail)
                return job
            # Most hourly runs find nothing due: looked at first without the lease, whose
            # claim and release are three requests (read, put, delete) a run need not make.
            if not self.crls_due(trail):
                return job
            lease, now = self.policy.lease, self.authority.now()
            if not self.store.claim_notice(_CRL_LEASE_KEY, owner=run_id, now=now, lease=lease):
                job.skipped = "another maintenance run is signing the CRLs"
                return job
            try:
                # Checked again once the lease is held, the trail read anew: a run that
                # just finished signing is seen here, and this one signs nothing.
                trail.forget()
                job.due = self.crls_due(trail)
                if job.due:
                    report = self.make_sync().run(actor=self.actor)
                    job.done += [
                        f"CRL {crl.number} of CA {crl.issuer_key_id[:8]}... published"
                        for crl in report.crls
                    ]
                    job.done += [f"trust store {store.name} in step" for store in report.stores]
            finally:
                self.store.release_notice(_CRL_LEASE_KEY, owner=run_id)
        except CAError as exc:  # the sync left a pending marker; the next run retries it
            job.failed.append(exc.message)
        return job

    # -- notices -------------------------------------------------------------------------
    def _expiry_notices(self, now: datetime, job: JobResult) -> list[Notice]:
        thresholds = self.policy.expiry_thresholds
        if not thresholds:
            return []
        crossing: list[tuple[CertificateRecord, timedelta]] = []
        for record in self._expiring(now + thresholds[0]):
            left = record.not_after - now
            # Issued to now, not from notBefore: that is backdated a few minutes for
            # clock skew, which would put a 30-day certificate over the 30-day threshold.
            lifetime = record.not_after - record.issued_at
            crossed = [t for t in thresholds if left <= t < lifetime]
            if crossed:
                crossing.append((record, crossed[-1]))  # the tightest one crossed
        return [
            _expiry_notice(record, _days(threshold))
            for record, threshold in self._not_superseded(crossing)
        ]

    def _not_superseded(
        self, crossing: list[tuple[CertificateRecord, timedelta]]
    ) -> list[tuple[CertificateRecord, timedelta]]:
        """``crossing`` less the certificates the ``acm`` job replaced (one read)."""
        if not crossing:
            return crossing
        keys = [superseded_key(record.serial) for record, _ in crossing]
        superseded = self.store.sent_notices(keys)
        return [pair for pair, key in zip(crossing, keys, strict=True) if key not in superseded]

    def _expiring(self, before: datetime) -> Iterator[CertificateRecord]:
        cursor: str | None = None
        while True:
            page = self.authority.list_certificates(
                CertificateQuery(
                    status=EffectiveStatus.ACTIVE,
                    expiring_before=before,
                    limit=_PAGE,
                    cursor=cursor,
                )
            )
            yield from page.records
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def _rotation_notices(self, now: datetime, job: JobResult) -> list[Notice]:
        if not rotation_due(self.store, self.authority.profiles, now):
            return []  # the reports (and their certificate counts) only when one is due
        notices = []
        for report in authority_reports(self.store, self.authority.profiles, now):
            if report.rotate_by is None or now < report.rotate_by:
                continue
            role = report.record.role.value
            notices.append(
                Notice(
                    key=f"ca-rotation:{report.record.key_id}",
                    kind="ca-rotation",
                    text=(
                        f"{role} CA {report.subject} entered its rotation window "
                        f"(rotate by {report.rotate_by.date().isoformat()}, expires "
                        f"{report.not_after.date().isoformat()}): {report.advice}"
                    ),
                    detail=report.to_json(),
                )
            )
        return notices

    def _acm_job(self, now: datetime, job: JobResult, run_id: str, dry_run: bool) -> list[Notice]:
        if self.managed_certificates is None:
            job.skipped = "no AWS target: no certificates in ACM to look at"
            return []
        due = self.acm_renewals.due(list(self.managed_certificates()), now)
        job.due += [
            f"ACM certificate {cert.arn} ({cert.purpose}) expires {cert.not_after.isoformat()}"
            for cert in due
        ]
        if dry_run:
            return []
        outcome = self.acm_renewals.run(due, run_id)
        job.done += outcome.renewed
        job.failed += outcome.failed
        return outcome.notices

    def _event_notices(self, now: datetime, job: JobResult, trail: AuditReader) -> list[Notice]:
        actions = {EVENT_KINDS[kind]: kind for kind in self.policy.events}
        if not actions:
            return []
        notices = []
        for event in self._events_since_last_run(trail):
            kind = actions.get(event.action)
            if kind is None:
                continue
            if event.action == MAINTAIN and not event.detail.get("failed"):
                continue
            notices.append(_event_notice(kind, event))
        return notices

    def _events_since_last_run(self, trail: AuditReader) -> list[AuditEvent]:
        """Audit events after the previous run's ``audit_through``, newest first, and that
        run's own event (a failed run is news); none on a first run. At most
        ``_EVENT_SCAN_LIMIT`` events (the claims keep one read twice from being told twice)."""
        found: list[AuditEvent] = []
        before: int | None = None
        size = 20  # the previous run is usually a few events back: small pages first
        while len(found) < _EVENT_SCAN_LIMIT:
            page = trail.audit_events(limit=size, before_id=before)
            size = min(size * 4, 500)
            if not page:
                # No earlier run at all: this first one starts the record here rather
                # than announce every revocation in the CA's past.
                return []
            for event in page:
                if event.action == MAINTAIN:
                    through = int(event.detail.get("audit_through", 0))
                    found.append(event)  # itself: a failed run is an event
                    return [e for e in found if e.id is None or e.id > through or e is event]
                found.append(event)
            before = page[-1].id
        return found  # the newest ``_EVENT_SCAN_LIMIT``: the previous run is further back

    def _announce(
        self, run_id: str, now: datetime, notices: list[tuple[JobResult, Notice]]
    ) -> None:
        """Each sink gets each notice once: per sink, the notices of one digest (every
        certificate crossing one threshold in this run) are claimed in one batch, sent as
        one message (``digest_of``) and marked sent in one batch; a failed delivery gives
        the whole batch back for the next run."""
        if not notices:
            return
        if not self.sinks:
            for job, _notice in notices:
                job.skipped = job.skipped or "nowhere to send notices (ALBCA_NOTIFY_*)"
            return
        lease = self.policy.lease
        for sink in self.sinks:
            for job, group in _by_digest(notices):
                keys = {f"{notice.key}@{sink.name}": notice for notice in group}
                claimed = self.store.claim_notices(list(keys), owner=run_id, now=now, lease=lease)
                if not claimed:
                    continue  # sent already, or another run is sending them
                message = digest_of([n for key, n in keys.items() if key in claimed])
                try:
                    sink.deliver(message)
                except DeliveryFailed as exc:
                    self.store.release_notices(list(claimed), owner=run_id)
                    job.failed.append(f"{sink.name}: {exc} (retried on the next run)")
                    break  # after one failure, a sink waits for the next run
                self.store.mark_notices_sent(list(claimed), owner=run_id, now=self.authority.now())
                job.done.append(f"{sink.name}: {message.text}")

    def _record(self, report: MaintenanceReport, through: int) -> None:
        failed = report.failures
        self.store.append_audit(
            AuditEvent(
                at=report.at,
                action=MAINTAIN,
                actor=self.actor,
                detail={
                    "run_id": report.run_id,
                    "audit_through": through,
                    "done": {job.name: len(job.done) for job in report.jobs if job.done},
                    "failed": failed,
                },
            )
        )
        if failed and "maintenance-failed" in self.policy.events:
            # Told now; if that fails too, the next run finds this run's event and tries
            # again under the same key.
            event = AuditEvent(
                at=report.at,
                action=MAINTAIN,
                actor=self.actor,
                detail={"run_id": report.run_id, "failed": failed},
            )
            job = JobResult("maintenance-failed")
            self._announce(
                report.run_id, report.at, [(job, _event_notice("maintenance-failed", event))]
            )


def _by_digest(
    notices: list[tuple[JobResult, Notice]],
) -> list[tuple[JobResult, list[Notice]]]:
    """The notices in groups to send as one message: those of one job sharing a digest
    together, every other one alone; in the order they were found."""
    groups: dict[tuple[str, int, str], tuple[JobResult, list[Notice]]] = {}
    for index, (job, notice) in enumerate(notices):
        group = ("digest", id(job), notice.digest) if notice.digest else ("alone", index, "")
        groups.setdefault(group, (job, []))[1].append(notice)
    return list(groups.values())


def _expiry_notice(record: CertificateRecord, days: int) -> Notice:
    serial = format_serial(record.serial)
    name = record.common_name or record.subject
    return Notice(
        key=f"expiry:{serial}:{days}d",
        kind="expiry",
        digest=f"certificates expire within {days} day(s)",
        label=f"{name} ({serial[:12]})",
        text=(
            f"certificate {serial} ({name}, profile {record.profile}) expires "
            f"{record.not_after.isoformat()}: within {days} day(s)"
        ),
        detail={
            "serial": serial,
            "common_name": record.common_name,
            "profile": record.profile,
            "not_after": record.not_after.isoformat(),
            "threshold_days": days,
        },
    )


def _days(threshold: timedelta) -> int:
    return max(1, round(threshold / timedelta(days=1)))


def _event_notice(kind: str, event: AuditEvent) -> Notice:
    serial = format_serial(event.serial) if event.serial is not None else None
    if kind == "maintenance-failed":
        run_id = event.detail.get("run_id", event.id)
        text = f"maintenance run {run_id} failed: {'; '.join(event.detail.get('failed', []))}"
        return Notice(
            key=f"maintenance-failed:{run_id}", kind=kind, text=text, detail=event.to_json()
        )
    if kind == "sync-failed":
        text = f"trust store sync failed: {event.detail.get('error', '?')}"
    else:
        what = {"issued": "issued", "revoked": "revoked"}[kind]
        text = f"certificate {serial} {what} by {event.actor}"
    return Notice(key=f"event:{event.id}", kind=kind, text=text, detail=event.to_json())
