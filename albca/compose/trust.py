"""Settings in, trust store services out: the publish target, the trust store manager (and
through it the revocation sync), and CA rotation.

boto3 clients come from ``albca.compose.aws`` when a command first needs one, never at
import time (moto must start first in tests; the CLI must start fast). The CLI's commands
pass the factory of their ``Aws`` (``albca.cli.trust_context``), which in a dry run
refuses every change.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from albca.ca.errors import ConfigurationError
from albca.ca.progress import NO_PROGRESS, Progress
from albca.compose.aws import ClientFactory, client_factory
from albca.compose.ca_keys import key_store_words, kms_key_call, new_key_source
from albca.compose.passphrase import PassphraseSource
from albca.compose.services import Services
from albca.settings import Settings
from albca.trust_bundle.revoke import TrustStoreSync

if TYPE_CHECKING:
    from albca.trust_bundle.alb_rules import TrustStoreLimits
    from albca.trust_bundle.publish import Publisher
    from albca.trust_bundle.revocation_sync import RevocationSync
    from albca.trust_bundle.rotation import NewKeySource, Rotation
    from albca.trust_bundle.trust_stores import TrustStoreManager

__all__ = [
    "ClientFactory",
    "publisher_from",
    "TrustServices",
    "trust_services",
    "trust_store_limits",
    "trust_store_sync",
    "rotation_for",
]


def publisher_from(
    url: str, region: str | None = None, *, client: ClientFactory | None = None
) -> Publisher:
    """The publisher of ``file:///DIR`` or ``s3://BUCKET/PREFIX``."""
    from albca.trust_bundle.publish import publisher_for

    make = client or client_factory(region)
    try:
        return publisher_for(url, s3_client=lambda: make("s3"))
    except ValueError as exc:
        raise ConfigurationError(str(exc), setting="ALBCA_PUBLISH_TO") from None


def trust_store_limits(settings: Settings) -> TrustStoreLimits:
    """The account's trust store quotas (ALB's defaults, raised where
    ALBCA_TRUST_STORE_QUOTAS says so): every bundle and CRL check uses these."""
    from albca.trust_bundle.alb_rules import TrustStoreLimits

    return TrustStoreLimits.with_quotas(settings.trust_store_quotas)


@dataclass(frozen=True)
class TrustServices:
    manager: TrustStoreManager
    publish_to: str

    @property
    def feeds_trust_stores(self) -> bool:
        return self.manager.api is not None


def trust_services(
    services: Services,
    *,
    publish_to: str | None = None,
    wait_seconds: float | None = None,
    allow_gap: bool = False,
    client: ClientFactory | None = None,
    progress: Progress = NO_PROGRESS,
) -> TrustServices:
    """The trust store manager for the CA of ``services``, publishing to ``publish_to``
    (default: ALBCA_PUBLISH_TO). An ``s3://`` target also feeds ALB trust stores. Its
    clients come from ``client`` (default: ``compose.aws`` in ALBCA_AWS_REGION)."""
    from albca.trust_bundle.elbv2 import TrustStoreApi
    from albca.trust_bundle.publish import S3Publisher
    from albca.trust_bundle.trust_stores import DEFAULT_WAIT_SECONDS, TrustStoreManager

    url = publish_to or services.settings.publish_to
    if url is None:
        raise ConfigurationError(
            "no publish target: set ALBCA_PUBLISH_TO=s3://BUCKET/PREFIX (or file:///DIR), or "
            "pass --publish-to",
            setting="ALBCA_PUBLISH_TO",
        )
    region = services.settings.aws_region
    make = client or client_factory(region)
    publisher = publisher_from(url, region, client=make)
    api = (
        TrustStoreApi(make("elbv2"), progress=progress)
        if isinstance(publisher, S3Publisher)
        else None
    )
    manager = TrustStoreManager(
        authority=services.authority,
        publisher=publisher,
        api=api,
        wait_seconds=DEFAULT_WAIT_SECONDS if wait_seconds is None else wait_seconds,
        allow_gap=allow_gap,
        limits=trust_store_limits(services.settings),
    )
    return TrustServices(manager, url)


def trust_store_sync(
    services: Services,
    *,
    inline: bool,
    budget: float | None = None,
    client: ClientFactory | None = None,
) -> TrustStoreSync:
    """How a revocation reaches the trust stores (``trust_bundle.revoke``): the manager is
    made on the first revocation and shared by the later ones (its clients too); each
    revocation gets a fresh sync run, bounded by ``budget`` seconds."""
    lock = threading.Lock()
    made: list[TrustStoreManager] = []

    def make() -> RevocationSync:
        with lock:
            if not made:
                made.append(trust_services(services, client=client).manager)
        return made[0].revocation_sync(budget=budget)

    return TrustStoreSync(make=make, inline=inline)


def rotation_for(
    services: Services,
    passphrase: PassphraseSource,
    manager: TrustStoreManager | None,
    *,
    new_key: NewKeySource | None = None,
) -> Rotation:
    from albca.trust_bundle.rotation import Rotation

    return Rotation(
        authority=services.authority,
        new_key=new_key or new_key_source(services, passphrase),
        distributor=manager,
        key_store=key_store_words(services),
        key_call=kms_key_call if services.settings.key_store == "kms" else None,
    )
