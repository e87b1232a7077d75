"""ALB listeners as albca sees them, and the one way albca modifies them.

Every ``modify_listener`` on an HTTPS listener carries the listener's certificate and SSL
policy, changed or not (AWS_NOTES, "ALB mutual TLS"): ``modify_listener_params`` is the
only builder of those parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from albca.infra.calls import Aws
from albca.infra.errors import SetupRefused

__all__ = [
    "Listener",
    "MAX_VERIFY_LISTENERS",
    "read_listener",
    "listeners_of",
    "require_https",
    "modify_listener_params",
]

MAX_VERIFY_LISTENERS = 2
"""Verify-mode listeners per load balancer (ALB quotas; AWS_NOTES)."""


@dataclass(frozen=True)
class Listener:
    arn: str
    load_balancer_arn: str
    protocol: str
    port: int
    ssl_policy: str | None
    certificate_arn: str | None  # the default certificate
    mutual_authentication: Mapping[str, Any] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return str(self.mutual_authentication.get("Mode", "off"))

    @property
    def trust_store_arn(self) -> str | None:
        arn = self.mutual_authentication.get("TrustStoreArn")
        return str(arn) if arn else None

    @property
    def label(self) -> str:
        return f"{self.protocol}:{self.port} listener {self.arn}"

    @classmethod
    def from_description(cls, described: Mapping[str, Any]) -> Listener:
        certificates = described.get("Certificates") or []
        default = next(
            (c for c in certificates if c.get("IsDefault", True)),
            certificates[0] if certificates else None,
        )
        return cls(
            arn=described["ListenerArn"],
            load_balancer_arn=described["LoadBalancerArn"],
            protocol=described.get("Protocol", ""),
            port=int(described.get("Port", 0)),
            ssl_policy=described.get("SslPolicy"),
            certificate_arn=default["CertificateArn"] if default else None,
            mutual_authentication=dict(described.get("MutualAuthentication") or {}),
        )


def read_listener(aws: Aws, arn: str) -> Listener:
    (described,) = aws.read("elbv2", "describe_listeners", ListenerArns=[arn])["Listeners"]
    return Listener.from_description(described)


def listeners_of(aws: Aws, load_balancer_arn: str) -> list[Listener]:
    listeners: list[Listener] = []
    params: dict[str, Any] = {"LoadBalancerArn": load_balancer_arn}
    while True:
        page = aws.read("elbv2", "describe_listeners", **params)
        listeners += [Listener.from_description(d) for d in page["Listeners"]]
        if not page.get("NextMarker"):
            return sorted(listeners, key=lambda listener: listener.port)
        params["Marker"] = page["NextMarker"]


def require_https(listener: Listener) -> None:
    if listener.protocol != "HTTPS":
        raise SetupRefused(
            f"listener {listener.arn} is {listener.protocol} on port {listener.port}, not "
            "HTTPS: mutual TLS and server certificates need an HTTPS listener",
            rule="listener is HTTPS",
        )
    if listener.certificate_arn is None or listener.ssl_policy is None:
        raise SetupRefused(
            f"listener {listener.arn} reports no certificate or SSL policy; albca must carry "
            "both in every change to an HTTPS listener",
            rule="HTTPS listener has a certificate and SSL policy",
        )


def modify_listener_params(
    listener: Listener,
    *,
    certificate_arn: str | None = None,
    mutual_authentication: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The parameters of ``modify_listener`` for an HTTPS listener: its certificate (the
    new one if given) and SSL policy always, mutual authentication when it changes."""
    require_https(listener)
    params: dict[str, Any] = {
        "ListenerArn": listener.arn,
        "Certificates": [{"CertificateArn": certificate_arn or listener.certificate_arn}],
        "SslPolicy": listener.ssl_policy,
    }
    if mutual_authentication is not None:
        params["MutualAuthentication"] = dict(mutual_authentication)
    return params
