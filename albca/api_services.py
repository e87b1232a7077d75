"""Settings in, API services out: the API's stores and plain settings, next to the
authority that ``albca.wiring`` builds. ``albca serve``, ``albca token`` and the Lambda
handler all come through here; ``api/`` itself never sees Settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from albca.settings import Settings
from albca.wiring import PassphraseSource, Services, open_services
from api.services import AlbMtlsHeaders, ApiServices, ApiSettings
from api.stores.sqlite import (
    SqliteApiDatabase,
    SqliteIdempotencyStore,
    SqliteReplayGuard,
    SqliteTokenStore,
)
from ca.clock import Clock, system_clock

__all__ = ["ApiStack", "api_settings", "open_api_database", "open_token_store", "open_api"]


def api_settings(settings: Settings) -> ApiSettings:
    return ApiSettings(
        max_body_bytes=settings.api_max_body_bytes,
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


def open_api_database(settings: Settings) -> SqliteApiDatabase:
    return SqliteApiDatabase(settings.api_store_path, synchronous=settings.sqlite_synchronous)


def open_token_store(settings: Settings) -> SqliteTokenStore:
    return SqliteTokenStore(open_api_database(settings))


@dataclass
class ApiStack:
    """The CA's services and the API's, closed together."""

    services: Services
    api: ApiServices

    def close(self) -> None:
        self.api.close()
        self.services.close()


def open_api(
    settings: Settings, passphrase: PassphraseSource, *, clock: Clock = system_clock
) -> ApiStack:
    services = open_services(settings, passphrase, clock=clock)
    try:
        database = open_api_database(settings)
    except BaseException:
        services.close()
        raise
    api = ApiServices(
        authority=services.authority,
        tokens=SqliteTokenStore(database),
        idempotency=SqliteIdempotencyStore(database),
        replay_guard=SqliteReplayGuard(database),
        settings=api_settings(settings),
    )
    return ApiStack(services=services, api=api)
