"""``albca init``: a new CA, a root and an issuing CA with their keys and records.

Nothing is left behind when it fails: the CA home is built in a staging directory and
moved into place at the end, and KMS keys it created are scheduled for deletion.
"""

from __future__ import annotations

import contextlib
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from albca.ca.certificates import ca_subject
from albca.ca.clock import Clock, system_clock
from albca.ca.errors import AuthorityExists, ConfigurationError, KeyUnavailable
from albca.ca.hierarchy import HierarchySpec, create_hierarchy
from albca.ca.keys import KeySpec
from albca.ca.records import AuthorityRecord
from albca.ca.signer import Signer
from albca.ca.stores.protocol import CertificateStore
from albca.ca.stores.sqlite import SqliteStore
from albca.compose.ca_keys import KmsClientFactory, default_kms_client, write_new_key_file
from albca.compose.passphrase import PassphraseSource
from albca.compose.services import open_store
from albca.config_file import load_authority_config, render_default_config
from albca.home import CAHome
from albca.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_kms.client import KMSClient

__all__ = ["InitOptions", "InitResult", "initialize_ca"]


@dataclass(frozen=True)
class InitOptions:
    root_common_name: str = "albca Root CA"
    issuing_common_name: str = "albca Issuing CA"
    organization: str | None = None
    root_key: KeySpec = KeySpec.EC_P256
    issuing_key: KeySpec = KeySpec.EC_P256
    crl_urls: list[str] = field(default_factory=list)
    ca_issuers_urls: list[str] = field(default_factory=list)
    # file: new keys encrypted in the CA home. kms: the KMS keys named below, or new ones.
    key_store: Literal["file", "kms"] = "file"
    root_kms_key: str | None = None
    issuing_kms_key: str | None = None

    def __post_init__(self) -> None:
        if self.key_store == "file" and (self.root_kms_key or self.issuing_kms_key):
            raise ValueError("KMS keys were named but the key store is 'file'")


@dataclass(frozen=True)
class InitResult:
    home: Path | None  # None: a CA with no local state (DynamoDB store, KMS keys)
    store: str
    root: AuthorityRecord
    issuing: AuthorityRecord
    created_kms_keys: tuple[str, ...] = ()
    config_file: Path | None = None


def initialize_ca(
    settings: Settings,
    passphrase: PassphraseSource,
    options: InitOptions,
    *,
    actor: str,
    clock: Clock = system_clock,
    kms_client: KmsClientFactory = default_kms_client,
) -> InitResult:
    """Create a CA: a root and an issuing CA, their keys, their records; changes nothing
    if it fails (KMS keys it created are scheduled for deletion).

    Where things go: records in ALBCA_STORE (the CA home's SQLite file by default, or a
    DynamoDB table), keys in the CA home or in KMS. With a DynamoDB store and KMS keys
    nothing is written locally, except ALBCA_CONFIG_FILE if it is set and missing.
    """
    home = CAHome(settings.home)
    if settings.store is not None and settings.store_kind == "sqlite":
        raise ConfigurationError(
            "albca init creates the embedded store in the CA home; unset ALBCA_STORE",
            setting="ALBCA_STORE",
        )
    serverless = settings.store_kind == "dynamodb" and options.key_store == "kms"
    config_text = render_default_config(
        crl_urls=options.crl_urls, ca_issuers_urls=options.ca_issuers_urls
    )
    # Loaded as every later command loads it, before anything is created: a config.toml
    # that does not load would leave a CA no command can open and init refuses to redo.
    load_authority_config(tomllib.loads(config_text), source="the new config.toml")
    if serverless:
        _check_serverless_config(settings, options)
    spec = HierarchySpec(
        root_subject=ca_subject(
            options.root_common_name, options.organization, field="root_common_name"
        ),
        issuing_subject=ca_subject(
            options.issuing_common_name, options.organization, field="issuing_common_name"
        ),
    )
    keys = _InitKeys(settings, options, passphrase, kms_client)

    def create(store: CertificateStore, key_home: CAHome | None) -> InitResult:
        if store.list_authorities():
            raise AuthorityExists(
                f"{settings.store or 'the store'} already holds a CA; refusing to create another"
            )
        with keys.signers(key_home, home) as (root_signer, issuing_signer):
            root, issuing = create_hierarchy(
                store=store,
                spec=spec,
                root_signer=root_signer,
                issuing_signer=issuing_signer,
                now=clock(),
                actor=actor,
            )
        return InitResult(
            home=None if serverless else home.path,
            store=settings.store or f"sqlite:///{home.default_store_path}",
            root=root,
            issuing=issuing,
            created_kms_keys=tuple(keys.created),
        )

    if serverless:
        store = open_store(settings)
        try:
            result = create(store, None)
        finally:
            store.close()
        if settings.config_file is not None:
            _write_new_file(settings.config_file, config_text)
            result = replace(result, config_file=settings.config_file)
        return result

    with home.creating() as staging:
        staging.config_path.write_text(config_text)
        if settings.store_kind == "dynamodb":
            store = open_store(settings)
        else:
            store = SqliteStore(staging.default_store_path, synchronous=settings.sqlite_synchronous)
        try:
            result = create(store, staging)
        finally:
            store.close()
    return result


def _check_serverless_config(settings: Settings, options: InitOptions) -> None:
    """With no CA home, the config lives in ALBCA_CONFIG_FILE (written if missing)."""
    urls = bool(options.crl_urls or options.ca_issuers_urls)
    if settings.config_file is None:
        if urls:
            raise ConfigurationError(
                "with a DynamoDB store and KMS keys there is no CA home to keep the CRL and "
                "AIA URLs in: set ALBCA_CONFIG_FILE and init writes the config file there",
                setting="ALBCA_CONFIG_FILE",
            )
        return
    if settings.config_file.exists() and urls:
        raise ConfigurationError(
            f"ALBCA_CONFIG_FILE {settings.config_file} already exists; put the CRL and AIA "
            "URLs in it instead of passing them to init",
            setting="ALBCA_CONFIG_FILE",
        )
    if not settings.config_file.parent.is_dir():
        raise ConfigurationError(
            f"ALBCA_CONFIG_FILE: {settings.config_file.parent} is not a directory",
            setting="ALBCA_CONFIG_FILE",
        )


def _write_new_file(path: Path, text: str) -> None:
    if path.exists():
        return
    path.write_text(text)


class _InitKeys:
    """The two CA keys of a new CA, local or in KMS; undoes what it created on failure."""

    def __init__(
        self,
        settings: Settings,
        options: InitOptions,
        passphrase: PassphraseSource,
        kms_client: KmsClientFactory,
    ) -> None:
        self._settings = settings
        self._options = options
        self._passphrase = passphrase
        self._kms_client = kms_client
        self.created: list[str] = []

    @contextmanager
    def signers(self, key_home: CAHome | None, home: CAHome) -> Iterator[tuple[Signer, Signer]]:
        options = self._options
        roles = (
            ("root", options.root_key, options.root_kms_key),
            ("issuing", options.issuing_key, options.issuing_kms_key),
        )
        if options.key_store == "file":
            assert key_home is not None
            secret = self._passphrase()
            local = [
                write_new_key_file(key_home.keys_dir, home, role, spec, secret)
                for role, spec, _ in roles
            ]
            yield local[0], local[1]
            return
        client = self._kms_client(self._settings.aws_region)
        try:
            kms = [self._kms_signer(client, role, spec, ref) for role, spec, ref in roles]
            yield kms[0], kms[1]
        except BaseException:
            self._undo(client)
            raise

    def _kms_signer(self, client: KMSClient, role: str, spec: KeySpec, ref: str | None) -> Signer:
        from albca.ca.kms_signer import KmsSigner, create_signing_key

        if ref is None:
            ref = create_signing_key(
                client, spec, description=f"albca {role} CA key (made by albca init)", role=role
            )
            self.created.append(ref)
        return KmsSigner(client, ref)

    def _undo(self, client: KMSClient) -> None:
        from albca.ca.kms_signer import schedule_key_deletion

        for arn in self.created:
            with contextlib.suppress(KeyUnavailable):
                schedule_key_deletion(client, arn)
        self.created.clear()
