"""What the API is given: the authority, its own small stores, and plain settings.

``albca`` (the composition root) builds an ``ApiServices`` from its Settings and passes it
to ``create_app``; nothing under ``api/`` reads the environment or knows where the stores
live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from albca.api.stores.protocols import IdempotencyStore, ReplayGuard, TokenStore
from albca.ca.authority import Authority
from albca.trust_bundle.revoke import TrustStoreSync

__all__ = ["ApiServices", "ApiSettings", "AlbMtlsHeaders"]


@dataclass(frozen=True)
class AlbMtlsHeaders:
    """The request headers an ALB listener in mTLS verify mode adds.

    A listener can rename them, so every name is configurable. Only ``leaf`` is used to
    identify the certificate; the others are compared with it when present.
    """

    leaf: str = "X-Amzn-Mtls-Clientcert-Leaf"
    serial_number: str = "X-Amzn-Mtls-Clientcert-Serial-Number"
    issuer: str = "X-Amzn-Mtls-Clientcert-Issuer"
    subject: str = "X-Amzn-Mtls-Clientcert-Subject"
    validity: str = "X-Amzn-Mtls-Clientcert-Validity"

    @property
    def names(self) -> tuple[str, ...]:
        return (self.leaf, self.serial_number, self.issuer, self.subject, self.validity)


@dataclass(frozen=True)
class ApiSettings:
    #: Largest request body accepted; a CSR is at most 64 KiB, JSON adds little.
    max_body_bytes: int = 128 * 1024
    #: Longest a client may take to send the whole body, once its headers are in; a slow
    #: client holds a connection and a task (issue 12, point 8).
    body_timeout: timedelta = timedelta(seconds=30)
    #: True only when every request provably comes through an ALB listener in mTLS verify
    #: mode (targets reachable from the load balancer alone). Otherwise the mTLS headers
    #: are refused: anyone could send them.
    behind_alb_mtls: bool = False
    alb_headers: AlbMtlsHeaders = field(default_factory=AlbMtlsHeaders)
    #: The ``aud`` a renewal token must carry (set it to this API's URL in production).
    renewal_audience: str = "albca-renew"
    #: Longest a renewal token may live (``exp - iat``); step-ca uses 5 minutes too.
    renewal_token_max_lifetime: timedelta = timedelta(minutes=5)
    #: Clock skew tolerated on renewal tokens' ``iat``/``nbf``/``exp``.
    renewal_token_leeway: timedelta = timedelta(seconds=30)
    #: How long an Idempotency-Key is remembered (and a generated key kept, encrypted).
    idempotency_retention: timedelta = timedelta(hours=24)
    #: Largest page ``GET /v1/certificates`` returns.
    max_page_size: int = 1000
    #: How old the served CRL may get before it is signed anew (see ``api.crl_cache``).
    crl_refresh: timedelta = timedelta(minutes=1)

    def __post_init__(self) -> None:
        if not 1024 <= self.max_body_bytes <= 16 * 1024 * 1024:
            raise ValueError("max_body_bytes must be between 1 KiB and 16 MiB")
        if not timedelta(0) < self.body_timeout <= timedelta(minutes=10):
            raise ValueError("body_timeout must be positive and at most 10 minutes")
        if not self.renewal_audience:
            raise ValueError("renewal_audience cannot be empty")
        if not timedelta(0) < self.renewal_token_max_lifetime <= timedelta(hours=1):
            raise ValueError("renewal_token_max_lifetime must be positive and at most 1 hour")
        if self.idempotency_retention <= timedelta(0):
            raise ValueError("idempotency_retention must be positive")


@dataclass(frozen=True)
class ApiServices:
    authority: Authority
    tokens: TokenStore
    idempotency: IdempotencyStore
    replay_guard: ReplayGuard
    settings: ApiSettings = field(default_factory=ApiSettings)
    trust_store_sync: TrustStoreSync | None = None  # None: revocations are not pushed

    def close(self) -> None:
        self.tokens.close()
        self.idempotency.close()
        self.replay_guard.close()
