"""The trust store source when albca publishes to S3: the listener's trust store is made
from albca's bundle, by the trust bundle service (``trust_bundle.store_for_listener``).

Before a listener verifies with the store named on the command line, ``ready``:

1. publishes albca's bundle, checked against every ALB rule, as a new S3 object version,
   unless the latest version already holds exactly these bytes;
2. creates the store from that exact version if there is none of that name, or points it
   at that version if it holds another bundle (only a store this CA feeds: tag ``albca:ca``);
3. brings its CRLs in step (a current CRL of each of its CAs, published to S3 first),
   unless they are already;
4. waits, with a bound, until it is ACTIVE.

Each change is made by ``trust_bundle`` through ``RecordingClient``s, so it lands on the
``Aws`` record like every other call of the run. A dry run makes none of them: it reads
the state, plans, and records the calls a run would make, with ``PLACEHOLDER`` for what
only an earlier call could tell (the new object version, the new store's ARN). A store
already in step is left alone, so a second run records nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from albca.infra.calls import Aws, Call
from albca.infra.trust_store_ready import check_trust_store_name, find_trust_store
from albca.trust_bundle.elbv2 import TrustStore
from albca.trust_bundle.planning import PLACEHOLDER
from albca.trust_bundle.store_for_listener import ensure_trust_store, plan_trust_store
from albca.trust_bundle.trust_stores import TrustStoreManager

__all__ = ["ManagerFactory", "PublishedTrustStore"]

ManagerFactory = Callable[[Aws], TrustStoreManager]
"""The trust store manager of albca's CA, its S3 and ELBv2 clients recording on ``aws``
(``infra.recording.RecordingClient``)."""


class PublishedTrustStore:
    """A ``TrustStoreSource``: the store ``name_or_arn`` (a name, to create it) fed with the
    bundle and CRLs albca publishes to ``target``."""

    def __init__(
        self,
        name_or_arn: str,
        *,
        manager: ManagerFactory,
        actor: str,
        target: str,
        advertise_ca_names: bool = False,
    ) -> None:
        self.name_or_arn = name_or_arn
        self.manager = manager
        self.actor = actor
        self.target = target
        self.advertise_ca_names = advertise_ca_names

    def describe(self) -> str:
        return f"trust store {self.name_or_arn!r} (fed from {self.target})"

    def ready(self, aws: Aws) -> TrustStore:
        name = self._name(aws)
        manager = self.manager(aws)
        if aws.dry_run:
            return self._planned(aws, manager, name)
        result = ensure_trust_store(
            manager, name, actor=self.actor, advertise_ca_names=self.advertise_ca_names
        )
        aws.note(result.describe())
        return result.store

    def _planned(self, aws: Aws, manager: TrustStoreManager, name: str) -> TrustStore:
        plan = plan_trust_store(manager, name, advertise_ca_names=self.advertise_ca_names)
        for call in plan.calls:
            aws.record(Call(call.service, call.operation, dict(call.params)))
        if plan.waits:
            aws.note(
                f"a real run waits up to {manager.wait_seconds:g} s for trust store {name} to "
                "become ACTIVE before it changes the listener"
            )
        if plan.store is None:
            return TrustStore(arn=PLACEHOLDER, name=name, status="CREATING")
        return plan.store

    def _name(self, aws: Aws) -> str:
        """A name as given; an ARN names a store that exists (a new one needs a name)."""
        check_trust_store_name(self.name_or_arn)
        if not self.name_or_arn.startswith("arn:"):
            return self.name_or_arn
        return find_trust_store(aws, self.name_or_arn).name
