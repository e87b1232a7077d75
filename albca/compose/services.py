"""Settings in, services out: which store, which keys, which clock, which profiles.

Commands, ``albca serve`` and the Lambda handler ask for ``Services``; they never build a
store or load a key themselves, so a new backend (DynamoDB, KMS) is a change here and
nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from albca.ca.authority import Authority, AuthorityConfig
from albca.ca.clock import Clock, system_clock
from albca.ca.errors import ConfigurationError
from albca.ca.stores.protocol import CertificateStore
from albca.ca.stores.sqlite import FullCheck, SqliteStore
from albca.compose.ca_keys import (
    KmsClientFactory,
    aws_extra_missing,
    default_kms_client,
    signer_resolver,
)
from albca.compose.passphrase import PassphraseSource
from albca.config_file import default_authority_config, load_authority_config, read_config_file
from albca.home import CAHome
from albca.settings import Settings

__all__ = ["open_store", "load_config", "Services", "open_services"]


def open_store(settings: Settings, *, full_check: FullCheck = "at-open") -> CertificateStore:
    """The store ALBCA_STORE names: SQLite (the default) or a DynamoDB table.

    ``full_check``: when a SQLite store reads its whole file for damage (``ca.stores.sqlite``):
    a long-running process checks once when it opens the store; a CLI command just before
    its first write, so that a command that only reads never pays for it."""
    table = settings.dynamodb_table
    if table is None:
        directory = settings.sqlite_path.parent
        if not directory.is_dir():
            where = "ALBCA_STORE" if settings.store is not None else "ALBCA_HOME"
            raise ConfigurationError(
                f"{where}: {directory} does not exist or is not a directory; the store "
                f"{settings.sqlite_path.name} cannot be opened there",
                setting=where,
            )
        return SqliteStore(
            settings.sqlite_path, synchronous=settings.sqlite_synchronous, full_check=full_check
        )
    try:
        from albca.ca.stores.dynamodb import DynamoDBStore
    except ImportError:
        raise aws_extra_missing("ALBCA_STORE=dynamodb://", "ALBCA_STORE") from None
    days = settings.record_retention_days
    return DynamoDBStore(
        table,
        region=settings.aws_region,
        retention=timedelta(days=days) if days else None,
    )


def load_config(settings: Settings, home: CAHome) -> AuthorityConfig:
    """Profiles and CRL settings: ALBCA_CONFIG_FILE, else the CA home's config.toml, else
    (for a CA with no local state, on DynamoDB) the built-in defaults."""
    if settings.config_file is not None:
        return read_config_file(settings.config_file)
    if home.config_path.exists() or settings.store_kind == "sqlite":
        return load_authority_config(home.read_config(), source=str(home.config_path))
    return default_authority_config()


@dataclass
class Services:
    settings: Settings
    home: CAHome
    store: CertificateStore
    authority: Authority

    def close(self) -> None:
        self.authority.close()  # its committer thread first: it may still be writing
        self.store.close()


def open_services(
    settings: Settings,
    passphrase: PassphraseSource,
    *,
    clock: Clock = system_clock,
    kms_client: KmsClientFactory = default_kms_client,
    full_check: FullCheck = "at-open",
) -> Services:
    home = CAHome(settings.home)
    home.check_not_writable_by_others()
    config = load_config(settings, home)
    store = open_store(settings, full_check=full_check)
    authority = Authority(
        store=store,
        config=config,
        resolve_signer=signer_resolver(home, passphrase, kms_client=kms_client),
        clock=clock,
    )
    return Services(settings=settings, home=home, store=store, authority=authority)
