"""The trust store a verify-mode listener uses, made sure of before the listener changes.

``TrustStoreSource`` is the one step ``albca alb enable-mtls`` (and ``albca cloudfront
origin-mtls``) take before touching a listener: "the bundle is published and the trust
store is ACTIVE". Two sources, chosen in ``albca.compose.infra``:

- ``infra.published_trust_store.PublishedTrustStore``, when albca publishes to S3: the
  bundle published, the store created or updated from that exact object version, its
  CRLs in step, ACTIVE;
- ``ExistingTrustStore`` (here), when it does not: a trust store that already exists,
  named by name or ARN, polled with a bound until it is ACTIVE (there is no boto3 waiter
  for trust stores; AWS_NOTES).
"""

from __future__ import annotations

import re
from typing import Protocol

from albca.infra.calls import Aws
from albca.infra.errors import AwsNotFound, SetupRefused, TrustStoreNotReady
from albca.infra.waiting import Wait
from albca.trust_bundle.elbv2 import TrustStore

__all__ = [
    "TrustStoreSource",
    "ExistingTrustStore",
    "ReadyTrustStore",
    "find_trust_store",
    "check_trust_store_name",
]

_NAME = re.compile(r"^([a-zA-Z0-9]+-)*[a-zA-Z0-9]+$")
_MAX_NAME_LENGTH = 32


class TrustStoreSource(Protocol):
    """Makes sure a trust store holding albca's bundle exists and is ACTIVE."""

    def describe(self) -> str:
        """For plans and messages: ``trust store 'albca-prod'``."""
        ...

    def ready(self, aws: Aws) -> TrustStore:
        """The ACTIVE trust store, after whatever it takes (recorded on ``aws``); raises
        ``TrustStoreNotReady`` when it does not become ACTIVE in time."""
        ...


def check_trust_store_name(name_or_arn: str) -> None:
    """Refuses what is neither an ARN nor a valid trust store name (AWS_NOTES)."""
    if name_or_arn.startswith("arn:"):
        return
    if len(name_or_arn) > _MAX_NAME_LENGTH or not _NAME.match(name_or_arn):
        raise SetupRefused(
            f"--trust-store: {name_or_arn!r} is neither a trust store ARN nor a trust store "
            "name (1-32 letters, digits and single hyphens)",
            rule="trust store name",
        )


def find_trust_store(aws: Aws, name_or_arn: str) -> TrustStore:
    check_trust_store_name(name_or_arn)
    if name_or_arn.startswith("arn:"):
        response = aws.read("elbv2", "describe_trust_stores", TrustStoreArns=[name_or_arn])
    else:
        response = aws.read("elbv2", "describe_trust_stores", Names=[name_or_arn])
    (described,) = response["TrustStores"]
    return TrustStore.from_description(described)


class ExistingTrustStore:
    """A trust store that already exists (created with ``albca truststore create`` or by
    hand), named by name or ARN."""

    def __init__(self, name_or_arn: str, wait: Wait | None = None, *, missing: str = "") -> None:
        """``missing``: what to tell the user when there is no such store (how to have
        albca create it)."""
        self.name_or_arn = name_or_arn
        self.wait = wait or Wait()
        self.missing = missing

    def describe(self) -> str:
        return f"trust store {self.name_or_arn!r}"

    def ready(self, aws: Aws) -> TrustStore:
        try:
            store = find_trust_store(aws, self.name_or_arn)
        except AwsNotFound as exc:
            if not self.missing:
                raise
            raise AwsNotFound(
                f"{exc.message}; {self.missing}", aws_code=exc.aws_code, operation=exc.operation
            ) from exc
        for _ in range(self.wait.polls):
            if store.status == "ACTIVE":
                return store
            if aws.dry_run:
                aws.note(
                    f"trust store {store.name} is {store.status}; a real run waits up to "
                    f"{self.wait.seconds:g} s for it to become ACTIVE"
                )
                return store
            self.wait.pause(f"trust store {store.name} is {store.status}, not yet ACTIVE")
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


class ReadyTrustStore:
    """A trust store an earlier step of this run made ready (in a dry run, possibly one
    that is only planned: its ARN is then ``PLACEHOLDER``)."""

    def __init__(self, store: TrustStore) -> None:
        self.store = store

    def describe(self) -> str:
        return f"trust store {self.store.name!r}"

    def ready(self, aws: Aws) -> TrustStore:
        return self.store
