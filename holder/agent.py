"""Keeping certificate/key pairs fresh, like ``step ca renew --daemon`` and Vault Agent.

Each pair is renewed when two thirds of its lifetime have passed (``renew_at``), less a
random jitter (up to ``jitter`` of the lifetime, drawn once per certificate) so that a
fleet issued at the same moment does not renew at the same moment. The lifetime counts
from issuance, not from notBefore: the CA backdates notBefore for clock skew (5 minutes,
``AuthorityConfig.backdate``), and a one-minute certificate counted from notBefore was
due the moment it arrived, so the agent renewed it about once a second. A certificate
this agent renewed was issued when it got it; one found on disk was issued the CA's
backdate after its notBefore. Nor is a certificate due sooner than ``min_interval``
after the agent got it, whatever its CA backdated.

While the CA cannot be reached, answers 502/503/504/408/429, or refuses a renewal token
for clock skew, the old files stay and the attempt is repeated after a pause that doubles
up to ``max_backoff``. A certificate the CA will not renew (revoked, unknown), one that
has expired, or files that cannot be read stop the watch on that pair with a one-line
error: looping would not help, a person must act. The other pairs are kept fresh; the
agent stops (raises that error) when no pair is left.

Time and sleep are injected: tests move a clock instead of waiting.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509

from albca.ca.clock import Clock
from albca.holder.errors import (
    ApiRefused,
    CaUnreachable,
    CertificateExpired,
    HolderError,
)
from albca.holder.files import PairPaths, read_pair
from albca.holder.renewal import PendingRenewal, Renewed

__all__ = ["Agent", "AgentPolicy", "RenewOne"]

RenewOne = Callable[[PairPaths, PendingRenewal, datetime], Renewed]

# How far albca's CA backdates notBefore by default (ca/authority.py, AuthorityConfig).
CA_BACKDATE = timedelta(minutes=5)


@dataclass(frozen=True)
class AgentPolicy:
    renew_at: float = 2 / 3  # fraction of the lifetime after which to renew
    jitter: float = 0.05  # of the lifetime, subtracted at random
    first_backoff: timedelta = timedelta(seconds=30)
    max_backoff: timedelta = timedelta(minutes=30)
    max_sleep: timedelta = timedelta(hours=1)  # wake up now and then: suspend, clock jumps
    # Never due sooner than this after the agent got a certificate (a floor for CAs that
    # backdate more than albca's default, or certificates of a few seconds).
    min_interval: timedelta = timedelta(seconds=10)
    rekey: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.renew_at < 1:
            raise ValueError("renew_at: a fraction of the lifetime between 0 and 1, like 0.66")
        if not 0 <= self.jitter < self.renew_at:
            raise ValueError("jitter: a fraction of the lifetime, smaller than renew_at")


@dataclass
class _State:
    paths: PairPaths
    serial: int | None = None
    due: datetime | None = None
    retry_at: datetime | None = None
    backoff: timedelta | None = None
    pending: PendingRenewal | None = None
    renewed_at: datetime | None = None  # when this agent got the current certificate
    stopped: HolderError | None = None  # why the pair is no longer watched


@dataclass
class Agent:
    pairs: Sequence[PairPaths]
    renew: RenewOne
    clock: Clock
    sleep: Callable[[float], None]
    policy: AgentPolicy = field(default_factory=AgentPolicy)
    on_renewed: Callable[[PairPaths, Renewed], None] = lambda paths, renewed: None
    log: Callable[[str], None] = lambda line: None
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._states = [_State(paths) for paths in self.pairs]

    def due_time(
        self, certificate: x509.Certificate, *, received_at: datetime | None = None
    ) -> datetime:
        """When to renew ``certificate``; ``received_at``: when this agent got it from
        the CA (None: found on disk)."""
        start, end = _issued_at(certificate, received_at), certificate.not_valid_after_utc
        lifetime = end - start
        jitter = lifetime * self.policy.jitter * self.rng.random()
        due = start + lifetime * self.policy.renew_at - jitter
        if received_at is not None:
            due = max(due, received_at + self.policy.min_interval)
        # Whole seconds, as the clock (ca/clock.py) and certificates keep time: a
        # certificate due "now" is due in the second it was issued, not the next.
        return due.replace(microsecond=0)

    def run_once(self) -> int:
        """One pass (``--once``, for cron): renew what is due. Returns how many pairs were
        renewed; raises, after trying every pair, when one that is due could not be (the
        first such error; the others are logged)."""
        renewed = 0
        failures: list[HolderError] = []
        for state in self._states:
            try:
                if self._step(state, self.clock(), once=True):
                    renewed += 1
            except HolderError as exc:
                if failures:
                    self.log(exc.message)
                failures.append(exc)
        if failures:
            raise failures[0]
        return renewed

    def run(self) -> None:
        """Until no pair is left to keep fresh: raises the last pair's error then (each
        earlier one was logged when its pair was dropped)."""
        while True:
            now = self.clock()
            for state in self._watched():
                try:
                    self._step(state, now, once=False)
                except HolderError as exc:
                    state.stopped = exc
                    if not self._watched():
                        raise
                    self.log(f"{exc.message}; no longer renewing {state.paths.certificate}")
            watched = self._watched()
            wake = min(
                (state.retry_at or state.due for state in watched if state.due),
                default=now + self.policy.max_sleep,
            )
            pause = min(max(wake - self.clock(), timedelta(seconds=1)), self.policy.max_sleep)
            self.sleep(pause.total_seconds())

    def _watched(self) -> list[_State]:
        return [state for state in self._states if state.stopped is None]

    def _step(self, state: _State, now: datetime, *, once: bool) -> bool:
        certificate = read_pair(state.paths).certificate
        if certificate.serial_number != state.serial:
            state.serial = certificate.serial_number
            state.due = self.due_time(certificate, received_at=state.renewed_at)
            self.log(
                f"{state.paths.certificate}: certificate {state.serial:x} valid until "
                f"{certificate.not_valid_after_utc.isoformat()}, renewal due "
                f"{state.due.isoformat(timespec='seconds')}"
            )
        if now >= certificate.not_valid_after_utc:
            raise CertificateExpired(
                f"{state.paths.certificate}: certificate {state.serial:x} expired at "
                f"{certificate.not_valid_after_utc.isoformat()} before it could be renewed; "
                "request a new one (albca request)"
            )
        assert state.due is not None
        if now < state.due or (state.retry_at is not None and now < state.retry_at):
            return False
        if state.pending is None:
            state.pending = PendingRenewal(rekey=self.policy.rekey)
        try:
            renewed = self.renew(state.paths, state.pending, now)
        except HolderError as exc:
            if once or not _transient(exc):
                raise _naming(exc, state.paths) from None
            state.backoff = (
                self.policy.first_backoff
                if state.backoff is None
                else min(state.backoff * 2, self.policy.max_backoff)
            )
            state.retry_at = now + state.backoff
            self.log(
                f"{state.paths.certificate}: renewal failed ({exc.message}); keeping the "
                f"current files, next try in {int(state.backoff.total_seconds())} s"
            )
            return False
        state.pending = state.retry_at = state.backoff = None
        state.renewed_at = now
        self.log(
            f"{state.paths.certificate}: renewed {renewed.old.serial_number:x} -> "
            f"{renewed.new.serial_number:x}, valid until "
            f"{renewed.new.not_valid_after_utc.isoformat()}"
        )
        self.on_renewed(state.paths, renewed)
        return True


def _issued_at(certificate: x509.Certificate, received_at: datetime | None) -> datetime:
    """When ``certificate`` was issued, as near as the holder can tell."""
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if received_at is not None:
        return min(max(start, received_at), end)
    if start + CA_BACKDATE < end:
        return start + CA_BACKDATE
    return start  # shorter than albca's backdate: another CA's, which did not backdate


def _transient(exc: HolderError) -> bool:
    """Worth another try later: no answer, a busy CA, or clocks that get synced."""
    return isinstance(exc, CaUnreachable) or (isinstance(exc, ApiRefused) and exc.retryable)


def _naming(exc: HolderError, paths: PairPaths) -> HolderError:
    """``exc`` with the pair's certificate named first (an agent watches several)."""
    if exc.message.startswith(str(paths.certificate)):
        return exc
    message = f"{paths.certificate}: {exc.message}"
    if isinstance(exc, ApiRefused):
        return type(exc)(message, status=exc.status, code=exc.code)
    return type(exc)(message)
