"""Every AWS call albca makes goes through ``Aws``: the plan, the dry run, the error boundary.

- ``read`` calls AWS at once (a dry run still needs to see the current state).
- ``change`` records the call, then makes it, unless this is a dry run: then it only
  records it. What was recorded is what ``--dry-run`` prints and what a live run reports
  as changed; a second run of an idempotent command records nothing.
- ``local`` records a step albca takes itself (issuing a certificate, writing a file);
  the caller runs it only when ``dry_run`` is false.
- ``record`` puts a change on the record that is made elsewhere: by an adapter with its
  own error boundary (``trust_bundle``'s S3 publisher and trust store API, given a
  ``infra.recording.RecordingClient``), or planned by a dry run.

This is the one place botocore errors become ``CAError``s (``infra.errors``) for ``infra``'s
own calls, as httpx's ``map_httpcore_exceptions`` does for its transports (``trust_bundle``
maps the errors of the calls it makes, in ``trust_bundle.elbv2`` and
``trust_bundle.publish``). Printed parameters never show private keys, and certificates
are shown by size, not content.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from albca.ca.aws_errors import AwsFailure, aws_errors
from albca.ca.progress import NO_PROGRESS, Progress
from albca.infra.clients import AwsClients
from albca.infra.errors import AwsNotFound, AwsRefused, AwsSetupError, AwsUnavailable

__all__ = ["Aws", "Call", "LocalStep", "Action"]


# Error codes that mean "the thing you named does not exist" (botocore service models).
_NOT_FOUND = frozenset(
    {
        "ListenerNotFound",
        "LoadBalancerNotFound",
        "TargetGroupNotFound",
        "TrustStoreNotFound",
        "RevocationIdNotFound",
        "AccessPointNotFound",
        "PolicyNotFound",
        "ResourceNotFoundException",
        "NoSuchDistribution",
        "NoSuchOrigin",
        "InvalidGroup.NotFound",
        "InvalidGroupId.Malformed",
        "InvalidVpcID.NotFound",
        "NoSuchEntity",  # IAM
        "NotFound",  # SNS
        "NotFoundException",  # API Gateway v2
        "404",  # S3 HeadObject/HeadBucket: no body, so no code but the status
        "NoSuchBucket",
    }
)
_SECRET_KEYS = frozenset({"PrivateKey"})
_PEM_KEYS = frozenset({"Certificate", "CertificateChain"})


@dataclass(frozen=True)
class Call:
    """One AWS call: ``service`` is the boto3 client name (``elbv2``), ``operation`` the
    boto3 method (``modify_listener``)."""

    service: str
    operation: str
    params: Mapping[str, Any]
    region: str | None = None
    shown: Mapping[str, Any] | None = None  # what to print instead of ``params``

    def describe(self) -> str:
        shown = self.shown if self.shown is not None else _redacted(self.params)
        where = f" (region {self.region})" if self.region else ""
        return f"{self.service}.{self.operation}{where} {json.dumps(shown, default=str)}"


@dataclass(frozen=True)
class LocalStep:
    text: str

    def describe(self) -> str:
        return f"albca: {self.text}"


Action = Call | LocalStep


@dataclass
class Aws:
    clients: AwsClients
    dry_run: bool = False
    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Told of each change as it is made (a status line on a terminal; a deploy makes dozens).
    progress: Progress = field(default=NO_PROGRESS, compare=False)

    @property
    def changed(self) -> bool:
        return bool(self.actions)

    def read(
        self, service: str, operation: str, /, *, region: str | None = None, **params: Any
    ) -> Any:
        """Make a call that changes nothing (describe, get, list); always made."""
        return self._call(service, operation, region, params)

    def change(
        self,
        service: str,
        operation: str,
        /,
        *,
        region: str | None = None,
        shown: Mapping[str, Any] | None = None,
        already_done: Iterable[str] = (),
        **params: Any,
    ) -> Any:
        """Record a call that changes AWS and make it, unless this is a dry run (then
        return None). An error whose code is in ``already_done`` means the change is
        already in place: it is taken back off the record and None is returned."""
        call = Call(service, operation, dict(params), region, shown)
        self.record(call)
        if self.dry_run:
            return None
        self.progress.update(f"AWS: {service} {operation}")
        try:
            return self._call(service, operation, region, params, already_done=already_done)
        except _AlreadyDone:
            self.actions.remove(call)
            return None

    def record(self, call: Call) -> None:
        """Put a change on the record without making it: a change another adapter makes
        itself (``infra.recording``), or one a dry run plans."""
        self.actions.append(call)

    def local(self, text: str) -> None:
        """Record a step albca takes itself; the caller runs it unless ``dry_run``."""
        self.actions.append(LocalStep(text))

    def note(self, text: str) -> None:
        """Something the user should know that is not a change (a warning, a next step)."""
        if text not in self.notes:
            self.notes.append(text)

    def _call(
        self,
        service: str,
        operation: str,
        region: str | None,
        params: Mapping[str, Any],
        *,
        already_done: Iterable[str] = (),
    ) -> Any:
        client = self.clients.client(service, region)
        done = set(already_done)
        with aws_errors(lambda failure: _translated(service, operation, failure, done)):
            return getattr(client, operation)(**params)


class _AlreadyDone(AwsSetupError):
    """AWS answered with an error code the caller expects: the change is already in place
    (``InvalidPermission.Duplicate``...). Caught by the caller, never shown."""


def _translated(
    service: str, operation: str, failure: AwsFailure, already_done: set[str]
) -> AwsSetupError:
    where = f"{service}.{operation}"
    code, message = failure.code, failure.message
    if code in already_done:
        return _AlreadyDone(message)
    if code == "ParamValidation":
        return AwsRefused(f"{where}: {message}", aws_code=code, operation=where)
    if not failure.answered:
        return AwsUnavailable(f"cannot reach AWS for {where}: {message}")
    if code in _NOT_FOUND or code.endswith(".NotFound"):
        return AwsNotFound(f"{message} ({where}: {code})", aws_code=code, operation=where)
    if failure.denied:
        return AwsRefused(
            f"AWS denied {where}: {message}; check the IAM policy of these credentials",
            aws_code=code,
            operation=where,
        )
    return AwsRefused(f"AWS refused {where}: {message} ({code})", aws_code=code, operation=where)


def _redacted(value: Any, key: str = "") -> Any:
    if key in _SECRET_KEYS:
        return "<private key, not shown>"
    if key in _PEM_KEYS and isinstance(value, bytes | str):
        return f"<PEM, {len(value)} bytes>"
    if isinstance(value, Mapping):
        if value.get("AttributeName") == "PublicKey":
            text = str(value.get("AttributeValue", ""))
            return {"AttributeName": "PublicKey", "AttributeValue": f"{text[:16]}...({len(text)})"}
        return {k: _redacted(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value
