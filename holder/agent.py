"""Keeping certificate/key pairs fresh, like ``step ca renew --daemon`` and Vault Agent.

Each pair is renewed when two thirds of its lifetime have passed (``renew_at``), less a
random jitter (up to ``jitter`` of the lifetime, drawn once per certificate) so that a
fleet issued at the same moment does not renew at the same moment. While the CA cannot be
reached the old files stay and the attempt is repeated after a pause that doubles up to
``max_backoff``. A certificate the CA will not renew (revoked, unknown) or one that has
expired stops the agent with an error: looping would not help, a person must act.

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
    RenewalRefused,
)
from albca.holder.files import PairPaths, read_pair
from albca.holder.renewal import PendingRenewal, Renewed

__all__ = ["Agent", "AgentPolicy", "RenewOne"]

RenewOne = Callable[[PairPaths, PendingRenewal, datetime], Renewed]


@dataclass(frozen=True)
class AgentPolicy:
    renew_at: float = 2 / 3  # fraction of the lifetime after which to renew
    jitter: float = 0.05  # of the lifetime, subtracted at random
    first_backoff: timedelta = timedelta(seconds=30)
    max_backoff: timedelta = timedelta(minutes=30)
    max_sleep: timedelta = timedelta(hours=1)  # wake up now and then: suspend, clock jumps
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

    def due_time(self, certificate: x509.Certificate) -> datetime:
        start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
        lifetime = end - start
        jitter = lifetime * self.policy.jitter * self.rng.random()
        return start + lifetime * self.policy.renew_at - jitter

    def run_once(self) -> int:
        """One pass (``--once``, for cron): renew what is due. Returns how many pairs were
        renewed; raises when one that is due could not be."""
        renewed = 0
        for state in self._states:
            if self._step(state, self.clock(), once=True):
                renewed += 1
        return renewed

    def run(self) -> None:
        """Forever, until a pair can no longer be renewed (raises)."""
        while True:
            now = self.clock()
            for state in self._states:
                self._step(state, now, once=False)
            wake = min(
                (state.retry_at or state.due for state in self._states if state.due),
                default=now + self.policy.max_sleep,
            )
            pause = min(max(wake - self.clock(), timedelta(seconds=1)), self.policy.max_sleep)
            self.sleep(pause.total_seconds())

    def _step(self, state: _State, now: datetime, *, once: bool) -> bool:
        certificate = read_pair(state.paths).certificate
        if certificate.serial_number != state.serial:
            state.serial = certificate.serial_number
            state.due = self.due_time(certificate)
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
        except RenewalRefused as exc:
            raise RenewalRefused(
                f"{state.paths.certificate}: {exc.message}", status=exc.status, code=exc.code
            ) from None
        except (CaUnreachable, ApiRefused) as exc:
            if isinstance(exc, ApiRefused) and not exc.retryable:
                raise
            if once:
                raise
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
        self.log(
            f"{state.paths.certificate}: renewed {renewed.old.serial_number:x} -> "
            f"{renewed.new.serial_number:x}, valid until "
            f"{renewed.new.not_valid_after_utc.isoformat()}"
        )
        self.on_renewed(state.paths, renewed)
        return True
