"""Maintenance's ``acm`` job: the certificates albca imported into ACM, renewed in place.

Each certificate past ``renew_at`` of its life (default two thirds, as ``alb server-cert``
and ``cloudfront origin-mtls`` renew) is renewed by ``renew`` (``infra.acm_renewal``,
given by the composition root: the same issue-and-import path those commands take).

Exactly once across concurrent runs: the renewal of one certificate version (its ARN and
notAfter) is a claim in the store (``claim_notice``, a conditional write on both backends)
taken before anything is issued, and ``renew`` reads the certificate again once the claim
is held, so a run that lost the race, or a run after a crashed one took over its lease,
finds the new certificate there and does nothing. A renewal that fails gives the claim
back (the next run tries again), is a failure of the job (``albca maintain`` exits
non-zero), an ``acm-renew`` audit event, and a notice, once per certificate version,
naming the command to run by hand. The ``crl`` job runs before this one and a failure here
is caught per certificate, so it never holds up CRL work or another certificate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509

from albca.ca.errors import CAError
from albca.ca.records import AuditEvent, format_serial
from albca.ca.stores.protocol import CertificateStore
from albca.trust_bundle.notices import Notice

__all__ = [
    "ACM_RENEW",
    "ManagedCertificate",
    "RenewManaged",
    "AcmRenewals",
    "renewal_due_at",
    "superseded_key",
]

ACM_RENEW = "acm-renew"
"""The audit action of a renewal (or a failed one) of a certificate in ACM."""


@dataclass(frozen=True)
class ManagedCertificate:
    """A certificate albca imported into ACM (for an ALB listener or a CloudFront origin)."""

    arn: str
    purpose: str  # the albca:managed-by tag: what it is for
    not_before: datetime
    not_after: datetime
    renew_with: str  # the command that re-imports it by hand

    @property
    def version(self) -> str:
        """Names this certificate at this ARN: a re-import changes its notAfter."""
        return f"{self.arn}:{int(self.not_after.timestamp())}"


RenewManaged = Callable[[ManagedCertificate], x509.Certificate | None]
"""Renews the certificate in place if it is still due when read again: returns the
certificate it replaced, or None when it no longer was due; raises ``CAError``."""


def superseded_key(serial: int) -> str:
    """The store's mark (a notice key, marked sent) of a certificate maintenance replaced
    in ACM: the expiry job announces nothing of it."""
    return f"superseded:{format_serial(serial)}"


def renewal_due_at(not_before: datetime, not_after: datetime, renew_at: float) -> datetime:
    """When a certificate valid from ``not_before`` to ``not_after`` is due."""
    return not_before + (not_after - not_before) * renew_at


@dataclass
class Outcome:
    renewed: list[str]
    failed: list[str]
    notices: list[Notice]


class AcmRenewals:
    def __init__(
        self,
        *,
        store: CertificateStore,
        renew: RenewManaged | None,
        renew_at: float,
        lease: timedelta,
        clock: Callable[[], datetime],
        actor: str,
    ) -> None:
        self.store = store
        self.renew = renew
        self.renew_at = renew_at
        self.lease = lease
        self.clock = clock
        self.actor = actor

    def due(
        self, certificates: list[ManagedCertificate], now: datetime
    ) -> list[ManagedCertificate]:
        return [
            cert
            for cert in certificates
            if now >= renewal_due_at(cert.not_before, cert.not_after, self.renew_at)
        ]

    def run(self, due: list[ManagedCertificate], run_id: str) -> Outcome:
        """Renew each of ``due`` (without ``renew``, announce each instead)."""
        outcome = Outcome([], [], [])
        for cert in due:
            if self.renew is None:
                outcome.notices.append(_renew_by_hand(cert, None))
                continue
            key = f"acm-renewal:{cert.version}"
            if not self.store.claim_notice(key, owner=run_id, now=self.clock(), lease=self.lease):
                continue  # renewed already, or another run is renewing it
            try:
                replaced = self.renew(cert)
            except CAError as exc:
                self.store.release_notice(key, owner=run_id)
                outcome.failed.append(
                    f"{cert.arn} ({cert.purpose}): {exc.message} (retried on the next run)"
                )
                outcome.notices.append(_renew_by_hand(cert, exc.message))
                self._audit(cert, run_id, error=exc.message)
                continue
            self.store.mark_notice_sent(key, owner=run_id, now=self.clock())
            if replaced is not None:
                outcome.renewed.append(f"{cert.arn} ({cert.purpose}) re-imported in place")
                self._audit(cert, run_id, replaced=replaced)
                self._mark_superseded(replaced.serial_number, run_id)
        return outcome

    def _mark_superseded(self, serial: int, run_id: str) -> None:
        """Record that ``serial`` left ACM for good, for the expiry job (``superseded_key``).
        Not revoked: a re-import takes a while to reach ELB and CloudFront, which may
        still present the old certificate meanwhile, and a CRL listing it would break
        them."""
        key = superseded_key(serial)
        now = self.clock()
        if self.store.claim_notice(key, owner=run_id, now=now, lease=self.lease):
            self.store.mark_notice_sent(key, owner=run_id, now=now)

    def _audit(
        self,
        cert: ManagedCertificate,
        run_id: str,
        *,
        replaced: x509.Certificate | None = None,
        error: str | None = None,
    ) -> None:
        detail: dict[str, object] = {"run_id": run_id, "arn": cert.arn, "purpose": cert.purpose}
        if replaced is not None:
            detail["replaced_serial"] = f"{replaced.serial_number:x}"
            detail["replaced_not_after"] = replaced.not_valid_after_utc.isoformat()
        if error is not None:
            detail["error"] = error
        self.store.append_audit(
            AuditEvent(at=self.clock(), action=ACM_RENEW, actor=self.actor, detail=detail)
        )


def _renew_by_hand(cert: ManagedCertificate, error: str | None) -> Notice:
    why = f"its renewal failed ({error})" if error else "albca does not renew it here"
    return Notice(
        key=f"acm-renewal:{cert.version}" + (":failed" if error else ""),
        kind="acm-renewal-failed" if error else "acm-renewal",
        text=(
            f"ACM certificate {cert.arn} ({cert.purpose}) expires "
            f"{cert.not_after.isoformat()} and {why}: re-import it with `{cert.renew_with}`"
        ),
        detail={
            "arn": cert.arn,
            "purpose": cert.purpose,
            "not_after": cert.not_after.isoformat(),
            **({"error": error} if error else {}),
        },
    )
