"""Emulated AWS for ``albca demo --aws-emulated``: moto's server on 127.0.0.1 and the
faithful fakes (trust stores and listener mTLS, CloudFront origin mTLS, Classic ELB
policy rules, ACM import rules) installed on every client an ``AwsClients`` makes.

Nothing here talks to AWS: every client points at the local endpoint with dummy
credentials.
"""

from __future__ import annotations

import logging
from typing import Any

from albca.emulated_aws.acm_rules import AcmFake, install_acm_propagation, install_acm_rules
from albca.emulated_aws.botocore_hooks import install_trust_store_fake
from albca.emulated_aws.classic_elb_policies import (
    ClassicElbFake,
    install_classic_elb_policy_rules,
)
from albca.emulated_aws.cloudfront_origin_mtls import (
    CloudFrontOriginMtlsFake,
    install_cloudfront_fake,
)
from albca.emulated_aws.elbv2_trust_stores import TrustStoreFake
from albca.infra.clients import AwsClients

__all__ = ["EmulatedAws", "MotoServerMissing", "start_moto_server"]

EMULATED_CREDENTIALS = ("testing", "testing")  # moto accepts any; these are not secrets


class MotoServerMissing(ImportError):
    """moto's server (moto, flask, flask-cors) is not installed."""


class EmulatedAws:
    """An ``AwsClients`` for a local moto endpoint with every fake installed, sharing one
    state across all its clients."""

    def __init__(self, endpoint_url: str, *, region: str = "us-east-1") -> None:
        self.endpoint_url = endpoint_url
        self.trust_stores: TrustStoreFake | None = None
        self.cloudfront: CloudFrontOriginMtlsFake | None = None
        self.classic_elb = ClassicElbFake()
        self.acm = AcmFake()
        self.clients = AwsClients(
            region=region,
            endpoint_url=endpoint_url,
            credentials=EMULATED_CREDENTIALS,
            configure=self._configure,
        )

    def _configure(self, service: str, client: Any) -> None:
        if service == "elbv2":
            if self.trust_stores is None:
                region = client.meta.region_name
                self.trust_stores = install_trust_store_fake(
                    client, self.clients.client("s3", region)
                )
            else:
                install_trust_store_fake(client, fake=self.trust_stores)
        elif service == "cloudfront":
            if self.cloudfront is None:
                acm = self.clients.client("acm", "us-east-1")
                self.cloudfront = install_cloudfront_fake(client, acm)
            else:
                install_cloudfront_fake(client, fake=self.cloudfront)
        elif service == "elb":
            install_classic_elb_policy_rules(client, fake=self.classic_elb)
        elif service == "acm":
            install_acm_rules(client, fake=self.acm)
        if service in ("elbv2", "cloudfront"):
            install_acm_propagation(client, fake=self.acm)


def start_moto_server() -> tuple[Any, str]:
    """Start moto's ThreadedMotoServer on 127.0.0.1 (a free port); returns (server, URL).
    Stop it with ``server.stop()``."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise MotoServerMissing(str(exc)) from exc
    # The emulator's request log is noise in the demo's output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"
