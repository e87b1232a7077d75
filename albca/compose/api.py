"""Settings in, API services out: the API's stores and plain settings, next to the
authority that ``albca.compose.services`` builds. ``albca serve``, ``albca token`` and the Lambda
handler all come through here; ``api/`` itself never sees Settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from albca.api.services import AlbMtlsHeaders, ApiServices, ApiSettings
from albca.api.stores import IdempotencyStore, ReplayGuard, TokenStore
from albca.api.stores.key_claims import CertificateStoreIdempotency
from albca.ca.clock import Clock, system_clock
from albca.ca.errors import ConfigurationError
from albca.ca.stores.sqlite import SqliteStore
from albca.compose.ca_keys import aws_extra_missing
from albca.compose.passphrase import PassphraseSource
from albca.compose.services import Services, open_services
from albca.compose.trust import trust_store_sync
from albca.settings import Settings
from albca.trust_bundle.revoke import TrustStoreSync

__all__ = [
    "ApiStack",
    "ApiStores",
    "api_settings",
    "open_api_stores",
    "open_token_store",
    "open_api",
    "api_trust_store_sync",
]


def api_settings(settings: Settings) -> ApiSettings:
    return ApiSettings(
        max_body_bytes=settings.api_max_body_bytes,
        body_timeout=timedelta(seconds=settings.api_body_timeout_seconds),
        behind_alb_mtls=settings.api_behind_alb_mtls,
        alb_headers=AlbMtlsHeaders(
            leaf=settings.api_mtls_leaf_header,
            serial_number=settings.api_mtls_serial_header,
            issuer=settings.api_mtls_issuer_header,
            subject=settings.api_mtls_subject_header,
            validity=settings.api_mtls_validity_header,
        ),
        renewal_audience=settings.api_renewal_audience,
        crl_refresh=timedelta(seconds=settings.api_crl_refresh_seconds),
    )


class ApiStores(NamedTuple):
    tokens: TokenStore
    idempotency: IdempotencyStore
    replay_guard: ReplayGuard


def open_api_stores(settings: Settings) -> ApiStores:
    """Where the certificates are: in the DynamoDB table of ALBCA_STORE=dynamodb://TABLE
    (nothing local), else in a SQLite file (ALBCA_API_STORE, or beside the store)."""
    table = settings.api_dynamodb_table
    if table is None:
        from albca.api.stores.sqlite import (
            SqliteApiDatabase,
            SqliteIdempotencyStore,
            SqliteReplayGuard,
            SqliteTokenStore,
        )

        database = SqliteApiDatabase(
            settings.api_store_path, synchronous=settings.sqlite_synchronous
        )
        return ApiStores(
            SqliteTokenStore(database),
            SqliteIdempotencyStore(database),
            SqliteReplayGuard(database),
        )
    try:
        from albca.api.stores.dynamodb import (
            DynamoDBApiTable,
            DynamoDBIdempotencyStore,
            DynamoDBReplayGuard,
            DynamoDBTokenStore,
        )
        from albca.ca.stores.dynamodb_table import DynamoDBTable
    except ImportError:
        raise aws_extra_missing("ALBCA_STORE=dynamodb://", "ALBCA_STORE") from None
    shared = DynamoDBApiTable(DynamoDBTable(table, region=settings.aws_region))
    return ApiStores(
        DynamoDBTokenStore(shared), DynamoDBIdempotencyStore(shared), DynamoDBReplayGuard(shared)
    )


def open_token_store(settings: Settings) -> TokenStore:
    return open_api_stores(settings).tokens


@dataclass
class ApiStack:
    """The CA's services and the API's, closed together."""

    services: Services
    api: ApiServices

    def close(self) -> None:
        self.api.close()
        self.services.close()


def api_trust_store_sync(
    settings: Settings, services: Services, *, on_lambda: bool
) -> TrustStoreSync | None:
    """ALBCA_TRUST_STORE_SYNC resolved for the API: None (off), inline or background."""
    mode = settings.trust_store_sync
    if mode == "auto":
        mode = "off" if settings.publish_to is None else ("inline" if on_lambda else "background")
    if mode == "off":
        return None
    if settings.publish_to is None:
        raise ConfigurationError(
            f"ALBCA_TRUST_STORE_SYNC={mode} needs ALBCA_PUBLISH_TO (where the CRLs go)",
            setting="ALBCA_TRUST_STORE_SYNC",
        )
    return trust_store_sync(
        services, inline=mode == "inline", budget=settings.trust_store_sync_seconds
    )


def open_api(
    settings: Settings,
    passphrase: PassphraseSource,
    *,
    clock: Clock = system_clock,
    on_lambda: bool = False,
) -> ApiStack:
    services = open_services(settings, passphrase, clock=clock)
    try:
        stores = open_api_stores(settings)
    except BaseException:
        services.close()
        raise
    idempotency = stores.idempotency
    if isinstance(services.authority.store, SqliteStore):
        # Keys claimed beside the certificates, where a CSR's claim is written with its
        # certificate (``api.stores.key_claims``); claims albca-api.db holds still count.
        idempotency = CertificateStoreIdempotency(services.authority.store, legacy=idempotency)
    api = ApiServices(
        authority=services.authority,
        tokens=stores.tokens,
        idempotency=idempotency,
        replay_guard=stores.replay_guard,
        settings=api_settings(settings),
        trust_store_sync=api_trust_store_sync(settings, services, on_lambda=on_lambda),
    )
    return ApiStack(services=services, api=api)
