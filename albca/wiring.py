"""Settings in, services out: the one place that decides which store, which keys, which clock.

Commands and the HTTP API ask for ``Services``; they never build a store or load a key
themselves, so a new backend (DynamoDB, KMS) is a change here and nowhere else.
"""

from __future__ import annotations

import contextlib
import getpass
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cryptography import x509

from albca.ca.authority import Authority, AuthorityConfig, SignerResolver
from albca.ca.certificates import ca_subject
from albca.ca.clock import Clock, system_clock
from albca.ca.errors import AuthorityExists, ConfigurationError, KeyUnavailable
from albca.ca.hierarchy import HierarchySpec, create_hierarchy
from albca.ca.key_files import MIN_PASSPHRASE_LENGTH, load_key_file, write_encrypted_key
from albca.ca.keys import KeySpec, generate_private_key
from albca.ca.records import AuthorityRecord
from albca.ca.signer import PrivateKeySigner, Signer
from albca.ca.stores.protocol import CertificateStore
from albca.ca.stores.sqlite import SqliteStore
from albca.config_file import (
    default_authority_config,
    load_authority_config,
    read_config_file,
    render_default_config,
)
from albca.home import CAHome
from albca.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_kms.client import KMSClient

__all__ = [
    "PassphraseSource",
    "passphrase_source",
    "KmsClientFactory",
    "open_store",
    "signer_resolver",
    "Services",
    "open_services",
    "InitOptions",
    "InitResult",
    "initialize_ca",
]

PassphraseSource = Callable[[], bytes]


def passphrase_source(
    settings: Settings,
    *,
    confirm: bool = False,
    prompt: Callable[[str], str] = getpass.getpass,
    interactive: bool | None = None,
) -> PassphraseSource:
    """Where the CA key passphrase comes from: the environment, a file, or a prompt.

    Asked for lazily and at most once, so commands that sign nothing never prompt.
    """
    cached: list[bytes] = []
    lock = threading.Lock()

    def read() -> bytes:
        with lock:
            if not cached:
                cached.append(_read_passphrase(settings, confirm, prompt, interactive))
            return cached[0]

    return read


def _read_passphrase(
    settings: Settings,
    confirm: bool,
    prompt: Callable[[str], str],
    interactive: bool | None,
) -> bytes:
    if settings.key_passphrase is not None:
        return settings.key_passphrase.get_secret_value().encode()
    if settings.key_passphrase_file is not None:
        text = settings.key_passphrase_file.read_text().rstrip("\r\n")
        if len(text) < MIN_PASSPHRASE_LENGTH:
            raise ConfigurationError(
                f"the passphrase in {settings.key_passphrase_file} is shorter than "
                f"{MIN_PASSPHRASE_LENGTH} characters",
                setting="ALBCA_KEY_PASSPHRASE_FILE",
            )
        return text.encode()
    if interactive is None:
        interactive = sys.stdin.isatty()
    if not interactive:
        raise KeyUnavailable(
            "the CA key passphrase is needed: set ALBCA_KEY_PASSPHRASE or "
            "ALBCA_KEY_PASSPHRASE_FILE (no terminal to prompt on)"
        )
    text = prompt("CA key passphrase: ")
    if confirm:
        if len(text) < MIN_PASSPHRASE_LENGTH:
            raise KeyUnavailable(
                f"the passphrase must be at least {MIN_PASSPHRASE_LENGTH} characters long"
            )
        if prompt("Repeat the passphrase: ") != text:
            raise KeyUnavailable("the two passphrases differ; nothing was created")
    return text.encode()


def local_signer_resolver(home: CAHome, passphrase: PassphraseSource) -> SignerResolver:
    """Resolves ``file:keys/...`` locations, decrypting each key once per process."""
    loaded: dict[str, Signer] = {}
    lock = threading.Lock()

    def resolve(location: str) -> Signer:
        with lock:
            signer = loaded.get(location)
            if signer is None:
                signer = load_key_file(home.key_path(location), passphrase(), location=location)
                loaded[location] = signer
            return signer

    return resolve


KmsClientFactory = Callable[[str | None], "KMSClient"]
"""Makes a KMS client for a region (None: the SDK's default region)."""


def _default_kms_client(region: str | None) -> KMSClient:
    try:
        from albca.ca.kms_signer import kms_client
    except ImportError:
        raise _aws_extra("using KMS keys", "ALBCA_KEY_STORE") from None
    return kms_client(region)


def _aws_extra(feature: str, setting: str) -> ConfigurationError:
    return ConfigurationError(
        f"{feature} needs the AWS libraries: pip install 'albca[aws]'", setting=setting
    )


def open_store(settings: Settings) -> CertificateStore:
    """The store ALBCA_STORE names: SQLite (the default) or a DynamoDB table."""
    table = settings.dynamodb_table
    if table is None:
        return SqliteStore(settings.sqlite_path, synchronous=settings.sqlite_synchronous)
    try:
        from albca.ca.stores.dynamodb import DynamoDBStore
    except ImportError:
        raise _aws_extra("ALBCA_STORE=dynamodb://", "ALBCA_STORE") from None
    days = settings.record_retention_days
    return DynamoDBStore(
        table,
        region=settings.aws_region,
        retention=timedelta(days=days) if days else None,
    )


def signer_resolver(
    home: CAHome,
    passphrase: PassphraseSource,
    *,
    kms_client: KmsClientFactory = _default_kms_client,
) -> SignerResolver:
    """Resolves ``file:keys/...`` to a local key and ``arn:aws:kms:...`` to a KMS key.

    A KMS client is made per region, in the key ARN's own region; each signer is checked
    (described) once per process and then reused.
    """
    local = local_signer_resolver(home, passphrase)
    signers: dict[str, Signer] = {}
    lock = threading.Lock()

    def resolve(location: str) -> Signer:
        if not location.startswith("arn:"):
            return local(location)
        try:
            from albca.ca.kms_signer import KmsSigner, is_kms_key_arn, region_of_arn
        except ImportError:
            raise _aws_extra(f"the KMS key {location}", "key_location") from None
        if not is_kms_key_arn(location):
            raise ConfigurationError(
                f"key location {location!r} is not a KMS key ARN", setting="key_location"
            )
        with lock:
            signer = signers.get(location)
            if signer is None:
                signer = KmsSigner(kms_client(region_of_arn(location)), location)
                signers[location] = signer
            return signer

    return resolve


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
        self.store.close()


def open_services(
    settings: Settings,
    passphrase: PassphraseSource,
    *,
    clock: Clock = system_clock,
    kms_client: KmsClientFactory = _default_kms_client,
) -> Services:
    home = CAHome(settings.home)
    config = load_config(settings, home)
    store = open_store(settings)
    authority = Authority(
        store=store,
        config=config,
        resolve_signer=signer_resolver(home, passphrase, kms_client=kms_client),
        clock=clock,
    )
    return Services(settings=settings, home=home, store=store, authority=authority)


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
    kms_client: KmsClientFactory = _default_kms_client,
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
    if serverless:
        _check_serverless_config(settings, options)
    spec = HierarchySpec(
        root_subject=ca_subject(options.root_common_name, options.organization),
        issuing_subject=ca_subject(options.issuing_common_name, options.organization),
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
                self._local_signer(key_home, home, role, spec, secret) for role, spec, _ in roles
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

    def _local_signer(
        self, staging: CAHome, home: CAHome, role: str, spec: KeySpec, secret: bytes
    ) -> Signer:
        key = generate_private_key(spec)
        file_name = f"{role}-{_short_key_id(PrivateKeySigner(key, location=''))}.key.pem"
        write_encrypted_key(staging.keys_dir / file_name, key, secret)
        return PrivateKeySigner(key, location=home.key_location(file_name))

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


def _short_key_id(signer: Signer) -> str:
    return x509.SubjectKeyIdentifier.from_public_key(signer.public_key).digest.hex()[:16]
