"""boto3 clients whose changes go on an ``Aws`` record: the bridge to adapters that make
their own calls.

``trust_bundle``'s ``S3Publisher`` and ``TrustStoreApi`` take a boto3 client and translate
its errors themselves, at their own boundary (``trust_bundle`` never imports ``infra``).
Given a ``RecordingClient`` instead, each call they make that changes AWS is put on the
``Aws`` record just before it is made, so that it shows in what a run reports as changed,
and a run that changes nothing records nothing. Reads (``describe_*``, ``get_*``,
``list_*``, ``head_*``) go straight through.

A dry run never lets such an adapter change anything: the dry run plans those changes
instead (``trust_bundle.planning``, for ``albca alb enable-mtls`` through
``trust_bundle.store_for_listener.plan_trust_store``, and for the trust bundle commands themselves).
Should a change reach a dry run's client all the same, it is refused with ``DryRunBreach``
before AWS sees it.
"""

from __future__ import annotations

from typing import Any

from albca.infra.calls import Aws, Call

__all__ = ["RecordingClient", "DryRunBreach"]

_READS = ("describe_", "get_", "list_", "head_")
_NOT_CALLS = frozenset({"meta", "exceptions", "can_paginate", "generate_presigned_url", "close"})


class DryRunBreach(RuntimeError):
    """A dry run reached a call that changes AWS (a bug: it must plan, not call)."""


class RecordingClient:
    """Stands in for the boto3 client of ``service`` that ``aws.clients`` makes."""

    def __init__(self, aws: Aws, service: str, region: str | None = None) -> None:
        self._aws = aws
        self._service = service
        self._region = region
        self._client = aws.clients.client(service, region)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name.startswith(_READS) or name in _NOT_CALLS or not callable(attribute):
            return attribute

        def change(**params: Any) -> Any:
            self._aws.record(Call(self._service, name, dict(params), self._region))
            if self._aws.dry_run:
                raise DryRunBreach(f"a dry run must not call {self._service}.{name}")
            return attribute(**params)

        return change
