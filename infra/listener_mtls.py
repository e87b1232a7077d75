"""Mutual TLS on an ALB listener: turn it on (verify or passthrough), turn it off.

What AWS refuses, albca refuses first with a message that names the rule (AWS_NOTES, "ALB
mutual TLS"): a listener that is not HTTPS, a third verify-mode listener on one load
balancer, a trust store that is not ACTIVE, verify-only options in passthrough mode. The
listener's certificate and SSL policy travel with every change. A listener already in the
wanted state is left alone, so a second run records no change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from albca.infra.acm import retry_until_seen
from albca.infra.calls import Aws
from albca.infra.errors import SetupRefused
from albca.infra.listeners import (
    MAX_VERIFY_LISTENERS,
    Listener,
    listeners_of,
    modify_listener_params,
    read_listener,
    require_https,
)
from albca.infra.trust_store_ready import ExistingTrustStore, TrustStoreSource
from albca.infra.waiting import Wait

__all__ = [
    "MtlsSettings",
    "ServerCertificateSource",
    "enable_mtls",
    "disable_mtls",
    "require_verify_slot",
    "describe_mutual_authentication",
]

Mode = Literal["verify", "passthrough"]


class ServerCertificateSource(Protocol):
    @property
    def propagation(self) -> Wait:
        """How long to retry a listener change while ELBv2 does not see a new certificate."""
        ...

    def certificate_arn(self, aws: Aws, listener: Listener, now: datetime) -> str:
        """The ARN the listener's default certificate should be (imported if needed)."""
        ...


@dataclass(frozen=True)
class MtlsSettings:
    mode: Mode = "verify"
    advertise_ca_names: bool = False
    ignore_client_certificate_expiry: bool = False

    def __post_init__(self) -> None:
        if self.mode not in ("verify", "passthrough"):
            raise SetupRefused(
                f"--mode: {self.mode!r} is not verify or passthrough", rule="mTLS mode"
            )
        if self.mode == "passthrough":
            for given, option in (
                (self.advertise_ca_names, "--advertise-ca-names"),
                (self.ignore_client_certificate_expiry, "--ignore-client-cert-expiry"),
            ):
                if given:
                    raise SetupRefused(
                        f"{option} applies only to verify mode: in passthrough mode the load "
                        "balancer checks nothing and the target must validate the chain",
                        rule="verify-only option",
                    )

    def attributes(self, trust_store_arn: str | None) -> dict[str, Any]:
        """The listener's ``MutualAuthentication`` for these settings."""
        if self.mode == "passthrough":
            return {"Mode": "passthrough"}
        return {
            "Mode": "verify",
            "TrustStoreArn": trust_store_arn,
            "IgnoreClientCertificateExpiry": self.ignore_client_certificate_expiry,
            "AdvertiseTrustStoreCaNames": "on" if self.advertise_ca_names else "off",
        }


def enable_mtls(
    aws: Aws,
    listener_arn: str,
    settings: MtlsSettings,
    *,
    trust_store: TrustStoreSource | None,
    server_certificate: ServerCertificateSource | None = None,
    now: datetime,
) -> str:
    """Put the listener in ``settings.mode``; returns a sentence saying the state now."""
    listener = read_listener(aws, listener_arn)
    require_https(listener)
    trust_store_arn = None
    if settings.mode == "verify":
        if trust_store is None:
            if listener.mode != "verify" or listener.trust_store_arn is None:
                raise SetupRefused(
                    f"verify mode needs a trust store: give --trust-store NAME|ARN for "
                    f"{listener.label}",
                    rule="verify mode has a trust store",
                )
            # Already verifying: keep its store (it was ACTIVE when attached).
            trust_store = ExistingTrustStore(listener.trust_store_arn, Wait(seconds=0))
        # Refuse before the trust store source changes anything (it may publish and create).
        require_verify_slot(aws, listener)
        store = trust_store.ready(aws)
        trust_store_arn = store.arn
    elif trust_store is not None:
        raise SetupRefused(
            "--trust-store applies only to verify mode: passthrough mode uses no trust store",
            rule="verify-only option",
        )
    wanted = settings.attributes(trust_store_arn)
    certificate_arn = listener.certificate_arn
    if server_certificate is not None:
        certificate_arn = server_certificate.certificate_arn(aws, listener, now)
    mtls_changes = not _same_mutual_authentication(listener.mutual_authentication, wanted)
    if mtls_changes or certificate_arn != listener.certificate_arn:
        params = modify_listener_params(
            listener,
            certificate_arn=certificate_arn,
            mutual_authentication=wanted if mtls_changes else None,
        )
        if server_certificate is not None and certificate_arn != listener.certificate_arn:
            retry_until_seen(
                aws,
                server_certificate.propagation,
                lambda: aws.change("elbv2", "modify_listener", **params),
            )
        else:
            aws.change("elbv2", "modify_listener", **params)
    summary = f"{listener.label}: {describe_mutual_authentication(wanted)}"
    if server_certificate is not None:
        summary += f"; certificate {certificate_arn}"
    return summary


def disable_mtls(aws: Aws, listener_arn: str) -> str:
    """Set mutual authentication to off, explicitly (AWS_NOTES: send ``Mode=off``)."""
    listener = read_listener(aws, listener_arn)
    require_https(listener)
    if listener.mode != "off":
        aws.change(
            "elbv2",
            "modify_listener",
            **modify_listener_params(listener, mutual_authentication={"Mode": "off"}),
        )
    return f"{listener.label}: mutual TLS off"


def require_verify_slot(aws: Aws, listener: Listener) -> None:
    """At most two verify-mode listeners per load balancer; this one may be one of them."""
    others = [
        other
        for other in listeners_of(aws, listener.load_balancer_arn)
        if other.mode == "verify" and other.arn != listener.arn
    ]
    if len(others) >= MAX_VERIFY_LISTENERS:
        ports = ", ".join(f"{o.protocol}:{o.port}" for o in others)
        raise SetupRefused(
            f"load balancer {listener.load_balancer_arn} already has {len(others)} listeners "
            f"in verify mode ({ports}); an ALB allows at most {MAX_VERIFY_LISTENERS}: turn one "
            "off first (albca alb disable-mtls)",
            rule="at most 2 verify-mode listeners per load balancer",
        )


def describe_mutual_authentication(attributes: Mapping[str, Any]) -> str:
    mode = attributes.get("Mode", "off")
    if mode == "off":
        return "mutual TLS off"
    if mode == "passthrough":
        return "mutual TLS passthrough (the target must validate the client chain)"
    options = []
    if attributes.get("IgnoreClientCertificateExpiry"):
        options.append("expired client certificates accepted")
    if attributes.get("AdvertiseTrustStoreCaNames") == "on":
        options.append("CA names advertised")
    extra = f" ({', '.join(options)})" if options else ""
    return f"mutual TLS verify with trust store {attributes.get('TrustStoreArn')}{extra}"


def _same_mutual_authentication(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    defaults = {"Mode": "off", "IgnoreClientCertificateExpiry": False}
    if wanted.get("Mode") == "verify":
        defaults["AdvertiseTrustStoreCaNames"] = "off"
    return all(current.get(key, defaults.get(key)) == value for key, value in wanted.items())
