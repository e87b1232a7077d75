"""An HTTPS listener where the load balancer has only HTTP (seed "Securing Lambda to ELB
Connections": ACM certificate, then an HTTPS listener): albca issues the certificate, imports
it into ACM and creates the listener on --port with the HTTP listener's forward action, so
the same targets answer over HTTPS.

ELBv2 API reference, CreateListener: an HTTPS listener needs ``Certificates`` (exactly one
default) and takes ``SslPolicy`` (the default below is the one the ELB user guide
recommends, "Security policies for your Application Load Balancer"); ``DefaultActions``
of type ``forward`` name the target group. A listener that exists on the port is left as
it is: an HTTPS one gets its certificate through ``server_cert``, an HTTP one is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from albca.infra.acm import retry_until_seen
from albca.infra.calls import Aws
from albca.infra.errors import SetupRefused
from albca.infra.listeners import Listener
from albca.infra.server_cert import IssuedServerCertificate, set_listener_certificate
from albca.trust_bundle.planning import PLACEHOLDER

__all__ = ["DEFAULT_SSL_POLICY", "ensure_https_listener"]

DEFAULT_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
_ACTION_FIELDS = ("Type", "TargetGroupArn", "ForwardConfig", "Order")


def ensure_https_listener(
    aws: Aws,
    load_balancer_arn: str,
    certificate: IssuedServerCertificate,
    now: datetime,
    *,
    port: int = 443,
    from_port: int = 80,
    ssl_policy: str = DEFAULT_SSL_POLICY,
) -> tuple[str, str]:
    """The HTTPS listener on ``port`` (created if missing) and its certificate's ARN."""
    listeners = _listeners(aws, load_balancer_arn)
    on_port = next((item for item in listeners if item["Port"] == port), None)
    if on_port is not None:
        if on_port.get("Protocol") != "HTTPS":
            raise SetupRefused(
                f"port {port} of the load balancer has a {on_port.get('Protocol')} listener; "
                "albca does not replace it (pick another --port)",
                rule="HTTPS listener",
            )
        arn = on_port["ListenerArn"]
        return arn, set_listener_certificate(aws, arn, certificate, now)
    source = next((item for item in listeners if item["Port"] == from_port), None)
    if source is None or source.get("Protocol") != "HTTP":
        raise SetupRefused(
            f"no HTTP listener on port {from_port} to take the targets from (--from-port)",
            rule="HTTP listener",
        )
    actions = [
        {key: action[key] for key in _ACTION_FIELDS if key in action}
        for action in source.get("DefaultActions", [])
    ]
    if not actions or any(action["Type"] != "forward" for action in actions):
        kinds = ", ".join(sorted({action["Type"] for action in actions})) or "none"
        raise SetupRefused(
            f"the HTTP listener on port {from_port} does not forward to targets "
            f"(its default actions: {kinds})",
            rule="forward action",
        )
    # Not a listener yet: the certificate's region is the load balancer's, and there is
    # no certificate to renew.
    planned = Listener(load_balancer_arn, load_balancer_arn, "HTTPS", port, None, None)
    certificate_arn = certificate.certificate_arn(aws, planned, now)
    created = retry_until_seen(
        aws,
        certificate.propagation,
        lambda: aws.change(
            "elbv2",
            "create_listener",
            LoadBalancerArn=load_balancer_arn,
            Protocol="HTTPS",
            Port=port,
            SslPolicy=ssl_policy,
            Certificates=[{"CertificateArn": certificate_arn}],
            DefaultActions=actions,
        ),
    )
    arn = created["Listeners"][0]["ListenerArn"] if created else PLACEHOLDER
    return arn, certificate_arn


def _listeners(aws: Aws, load_balancer_arn: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"LoadBalancerArn": load_balancer_arn}
    while True:  # DescribeListeners pages with NextMarker
        page = aws.read("elbv2", "describe_listeners", **params)
        found += page.get("Listeners", [])
        if not page.get("NextMarker"):
            return found
        params["Marker"] = page["NextMarker"]
