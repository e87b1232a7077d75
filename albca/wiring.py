"""Settings in, services out: the one place that decides which store, which keys, which clock.

Commands and the HTTP API ask for ``Services``; they never build a store or load a key
themselves, so a new backend (DynamoDB, KMS) is a change here and nowhere else.
"""

from __future__ import annotations

import getpass
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from albca.config_file import load_authority_config, render_default_config
from albca.home import CAHome
from albca.settings import Settings
from ca.authority import Authority, SignerResolver
from ca.certificates import ca_subject
from ca.clock import Clock, system_clock
from ca.errors import ConfigurationError, KeyUnavailable
from ca.hierarchy import HierarchySpec, create_hierarchy
from ca.key_files import MIN_PASSPHRASE_LENGTH, load_key_file, write_encrypted_key
from ca.keys import KeySpec, generate_private_key
from ca.records import AuthorityRecord
from ca.signer import PrivateKeySigner, Signer
from ca.sqlite_store import SqliteStore
from ca.store import CertificateStore

__all__ = [
    "PassphraseSource",
    "passphrase_source",
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


def open_store(settings: Settings) -> CertificateStore:
    return SqliteStore(settings.sqlite_path, synchronous=settings.sqlite_synchronous)


@dataclass
class Services:
    settings: Settings
    home: CAHome
    store: CertificateStore
    authority: Authority

    def close(self) -> None:
        self.store.close()


def open_services(
    settings: Settings, passphrase: PassphraseSource, *, clock: Clock = system_clock
) -> Services:
    home = CAHome(settings.home)
    config = load_authority_config(home.read_config(), source=str(home.config_path))
    store = open_store(settings)
    authority = Authority(
        store=store,
        config=config,
        resolve_signer=local_signer_resolver(home, passphrase),
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


@dataclass(frozen=True)
class InitResult:
    home: Path
    root: AuthorityRecord
    issuing: AuthorityRecord


def initialize_ca(
    settings: Settings,
    passphrase: PassphraseSource,
    options: InitOptions,
    *,
    actor: str,
    clock: Clock = system_clock,
) -> InitResult:
    """Create a CA home with a root and an issuing CA; changes nothing if it fails."""
    home = CAHome(settings.home)
    if settings.store is not None:
        raise ConfigurationError(
            "albca init creates the embedded store in the CA home; unset ALBCA_STORE",
            setting="ALBCA_STORE",
        )
    with home.creating() as staging:
        secret = passphrase()
        signers = []
        for role, spec in (("root", options.root_key), ("issuing", options.issuing_key)):
            key = generate_private_key(spec)
            signer = PrivateKeySigner(key, location="")
            file_name = f"{role}-{_short_key_id(signer)}.key.pem"
            write_encrypted_key(staging.keys_dir / file_name, key, secret)
            signers.append(PrivateKeySigner(key, location=home.key_location(file_name)))
        root_signer, issuing_signer = signers
        staging.config_path.write_text(
            render_default_config(
                crl_urls=options.crl_urls, ca_issuers_urls=options.ca_issuers_urls
            )
        )
        store = SqliteStore(staging.default_store_path, synchronous=settings.sqlite_synchronous)
        try:
            root, issuing = create_hierarchy(
                store=store,
                spec=HierarchySpec(
                    root_subject=ca_subject(options.root_common_name, options.organization),
                    issuing_subject=ca_subject(options.issuing_common_name, options.organization),
                ),
                root_signer=root_signer,
                issuing_signer=issuing_signer,
                now=clock(),
                actor=actor,
            )
        finally:
            store.close()
    return InitResult(home=home.path, root=root, issuing=issuing)


def _short_key_id(signer: Signer) -> str:
    return x509.SubjectKeyIdentifier.from_public_key(signer.public_key).digest.hex()[:16]
