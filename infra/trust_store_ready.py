"""The trust store a verify-mode listener uses, made sure of before the listener changes.

``TrustStoreSource`` is the one step ``albca alb enable-mtls`` (and ``albca cloudfront
origin-mtls``) take before touching a listener: "the bundle is published and the trust
store is ACTIVE". Today the source is ``ExistingTrustStore``: a trust store named by
name or ARN, polled with a bound until it is ACTIVE (there is no boto3 waiter for trust
stores; AWS_NOTES). The trust bundle service (issue 5: publish the bundle, create or
update the store from that exact object version) plugs in as another ``TrustStoreSource``
in ``albca.wiring`` without changing the listener code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from infra.calls import Aws
from infra.errors import SetupRefused, TrustStoreNotReady
from infra.waiting import Wait

__all__ = ["TrustStore", "TrustStoreSource", "ExistingTrustStore", "find_trust_store"]

_NAME = re.compile(r"^([a-zA-Z0-9]+-)*[a-zA-Z0-9]+$")
_MAX_NAME_LENGTH = 32


@dataclass(frozen=True)
class TrustStore:
    arn: str
    name: str
    status: str  # CREATING | ACTIVE
    certificates: int = 0
    revoked_entries: int = 0

    @classmethod
    def from_description(cls, described: dict[str, Any]) -> TrustStore:
        return cls(
            arn=described["TrustStoreArn"],
            name=described.get("Name", ""),
            status=described.get("Status", ""),
            certificates=int(described.get("NumberOfCaCertificates", 0)),
            revoked_entries=int(described.get("TotalRevokedEntries", 0)),
        )


class TrustStoreSource(Protocol):
    """Makes sure a trust store holding albca's bundle exists and is ACTIVE."""

    def describe(self) -> str:
        """For plans and messages: ``trust store 'albca-prod'``."""
        ...

    def ready(self, aws: Aws) -> TrustStore:
        """The ACTIVE trust store, after whatever it takes (recorded on ``aws``); raises
        ``TrustStoreNotReady`` when it does not become ACTIVE in time."""
        ...


def find_trust_store(aws: Aws, name_or_arn: str) -> TrustStore:
    if name_or_arn.startswith("arn:"):
        response = aws.read("elbv2", "describe_trust_stores", TrustStoreArns=[name_or_arn])
    else:
        if len(name_or_arn) > _MAX_NAME_LENGTH or not _NAME.match(name_or_arn):
            raise SetupRefused(
                f"--trust-store: {name_or_arn!r} is neither a trust store ARN nor a trust store "
                "name (1-32 letters, digits and single hyphens)",
                rule="trust store name",
            )
        response = aws.read("elbv2", "describe_trust_stores", Names=[name_or_arn])
    (described,) = response["TrustStores"]
    return TrustStore.from_description(described)


class ExistingTrustStore:
    """A trust store that already exists (created with ``albca truststore create`` or by
    hand), named by name or ARN."""

    def __init__(self, name_or_arn: str, wait: Wait | None = None) -> None:
        self.name_or_arn = name_or_arn
        self.wait = wait or Wait()

    def describe(self) -> str:
        return f"trust store {self.name_or_arn!r}"

    def ready(self, aws: Aws) -> TrustStore:
        store = find_trust_store(aws, self.name_or_arn)
        for _ in range(self.wait.polls):
            if store.status == "ACTIVE":
                return store
            if aws.dry_run:
                aws.note(
                    f"trust store {store.name} is {store.status}; a real run waits up to "
                    f"{self.wait.seconds:g} s for it to become ACTIVE"
                )
                return store
            self.wait.sleep(self.wait.interval)
            store = find_trust_store(aws, store.arn)
        if store.status != "ACTIVE":
            raise TrustStoreNotReady(
                f"trust store {store.name} is {store.status}, not ACTIVE, after "
                f"{self.wait.seconds:g} s; a listener can only verify with an ACTIVE store: "
                "run the command again later (or give --wait-seconds)",
                trust_store=store.arn,
                status=store.status,
            )
        return store
