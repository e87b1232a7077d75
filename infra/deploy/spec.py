"""What ``albca aws deploy`` makes, named once: the deployment's settings, the names and
tags of its resources, and the account (partition, id, region) their ARNs are in.

Every name is derived from the deployment name, so a rerun finds what the first run made
(by name, then checked by its ``albca:deployment`` tag) and ``--dry-run`` can name
resources that do not exist yet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Account",
    "Architecture",
    "DEPLOYMENT_TAG",
    "DeploySpec",
    "FrontDoor",
    "FunctionRole",
    "HANDLER",
    "MAINTAIN_INPUT",
    "RUNTIME",
    "VERSION_TAG",
]

FrontDoor = Literal["url", "http-api", "alb"]
Architecture = Literal["x86_64", "arm64"]
FunctionRole = Literal["api", "maintenance"]

DEPLOYMENT_TAG = "albca:deployment"
VERSION_TAG = "albca:version"
RUNTIME = "python3.12"
HANDLER = "albca.lambda_handler.handler"
# What the schedule sends: albca.lambda_handler routes it to the maintenance run.
MAINTAIN_INPUT = {"albca": "maintain"}

# 1-20 characters: "albca-" + NAME + "-maintenance" must fit IAM role names (64) and
# "albca-" + NAME + "-api" ELBv2 target group names (32, ELBv2 CreateTargetGroup).
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$")
# EventBridge Scheduler, "Schedule types": at(...), rate(value unit), cron(...).
_SCHEDULE = re.compile(r"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\)|at\(.+\))$")


@dataclass(frozen=True)
class Account:
    """Where ARNs point: from ``sts.get_caller_identity`` and the region deployed to."""

    partition: str
    account_id: str
    region: str

    @classmethod
    def from_caller_arn(cls, caller_arn: str, account_id: str, region: str) -> Account:
        return cls(caller_arn.split(":")[1], account_id, region)

    def arn(self, service: str, resource: str, *, regional: bool = True, owned: bool = True) -> str:
        region = self.region if regional else ""
        account = self.account_id if owned else ""
        return f"arn:{self.partition}:{service}:{region}:{account}:{resource}"


@dataclass(frozen=True)
class DeploySpec:
    name: str
    region: str
    table: str
    version: str  # the albca version packaged
    bucket: str | None = None
    prefix: str = ""
    kms_keys: tuple[str, ...] = ()  # the CA keys' ARNs
    ca_id: str | None = None  # the albca:ca tag value of the trust stores this CA feeds
    front_door: FrontDoor = "url"
    listener_arn: str | None = None
    path_pattern: str = "/v1/*"
    schedule: str = "rate(1 hour)"
    notify_emails: tuple[str, ...] = ()
    architecture: Architecture = "arm64"
    memory_mb: int = 512
    api_timeout_seconds: int = 30
    maintenance_timeout_seconds: int = 300
    environment: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(
                f"deployment name {self.name!r}: 1-20 lower-case letters, digits and '-', "
                "starting and ending with a letter or digit"
            )
        if self.front_door == "alb" and not self.listener_arn:
            raise ValueError("--front-door alb needs --listener ARN (an ALB listener)")
        if self.front_door != "alb" and self.listener_arn:
            raise ValueError("--listener is only for --front-door alb")
        if not _SCHEDULE.match(self.schedule):
            raise ValueError(
                f"schedule {self.schedule!r}: rate(N minutes|hours|days), cron(...) or at(...)"
            )
        if not self.path_pattern.startswith("/"):
            raise ValueError(f"path pattern {self.path_pattern!r} must start with '/'")

    # -- names -----------------------------------------------------------------------
    def function_name(self, role: FunctionRole) -> str:
        return f"albca-{self.name}-{role}"

    def role_name(self, role: FunctionRole | Literal["scheduler"]) -> str:
        return f"albca-{self.name}-{role}"

    @property
    def schedule_group(self) -> str:
        return f"albca-{self.name}"

    schedule_name = "maintain"

    @property
    def topic_name(self) -> str:
        return f"albca-{self.name}-notices"

    @property
    def api_name(self) -> str:
        return f"albca-{self.name}"

    @property
    def target_group_name(self) -> str:
        return f"albca-{self.name}-api"

    @property
    def tags(self) -> dict[str, str]:
        return {DEPLOYMENT_TAG: self.name, VERSION_TAG: self.version}

    @property
    def object_prefix(self) -> str:
        """The bucket prefix of the published objects ("" for the whole bucket)."""
        return self.prefix.strip("/")

    def function_arn(self, account: Account, role: FunctionRole) -> str:
        return account.arn("lambda", f"function:{self.function_name(role)}")

    def role_arn(self, account: Account, role: FunctionRole | Literal["scheduler"]) -> str:
        return account.arn("iam", f"role/{self.role_name(role)}", regional=False)

    def topic_arn(self, account: Account) -> str | None:
        return account.arn("sns", self.topic_name) if self.notify_emails else None
