"""Where CA keys are and where new ones go: encrypted files in the CA home, or AWS KMS.

``signer_resolver`` turns a key location (``file:keys/...`` or a KMS key ARN) into a
signer, once per process; ``new_key_source`` makes the keys of a rotation where
ALBCA_KEY_STORE says; ``albca init`` writes its keys with ``write_new_key_file`` too, so a
CA key file is named and encrypted one way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

from albca.ca.authority import SignerResolver
from albca.ca.errors import ConfigurationError
from albca.ca.key_files import load_key_file, write_encrypted_key
from albca.ca.keys import KeySpec, generate_private_key
from albca.ca.records import AuthorityRole
from albca.ca.signer import PrivateKeySigner, Signer
from albca.compose.passphrase import PassphraseSource
from albca.home import CAHome

if TYPE_CHECKING:
    from mypy_boto3_kms.client import KMSClient

    from albca.compose.services import Services
    from albca.trust_bundle.planning import PlannedCall
    from albca.trust_bundle.rotation import NewKeySource

__all__ = [
    "KmsClientFactory",
    "aws_extra_missing",
    "signer_resolver",
    "write_new_key_file",
    "local_key_source",
    "kms_key_source",
    "new_key_source",
    "key_store_words",
    "kms_key_call",
]

KmsClientFactory = Callable[[str | None], "KMSClient"]
"""Makes a KMS client for a region (None: the SDK's default region)."""


def default_kms_client(region: str | None) -> KMSClient:
    from albca.compose.aws import kms_client

    return kms_client(region)


def aws_extra_missing(feature: str, setting: str) -> ConfigurationError:
    return ConfigurationError(
        f"{feature} needs the AWS libraries: pip install 'albca[aws]'", setting=setting
    )


def _local_signer_resolver(home: CAHome, passphrase: PassphraseSource) -> SignerResolver:
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


def signer_resolver(
    home: CAHome,
    passphrase: PassphraseSource,
    *,
    kms_client: KmsClientFactory = default_kms_client,
) -> SignerResolver:
    """Resolves ``file:keys/...`` to a local key and ``arn:aws:kms:...`` to a KMS key.

    A KMS client is made per region, in the key ARN's own region; each signer is checked
    (described) once per process and then reused.
    """
    local = _local_signer_resolver(home, passphrase)
    signers: dict[str, Signer] = {}
    lock = threading.Lock()

    def resolve(location: str) -> Signer:
        if not location.startswith("arn:"):
            return local(location)
        try:
            from albca.ca.kms_signer import KmsSigner, is_kms_key_arn, region_of_arn
        except ImportError:
            raise aws_extra_missing(f"the KMS key {location}", "key_location") from None
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


def write_new_key_file(
    keys_dir: Path, home: CAHome, role: str, spec: KeySpec, passphrase: bytes
) -> Signer:
    """A new CA key, encrypted in ``keys_dir`` as ``<role>-<key id>.key.pem``; its signer's
    location is the one ``home`` resolves (``keys_dir`` may be a staging copy of it)."""
    key = generate_private_key(spec)
    short_id = x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest.hex()[:16]
    file_name = f"{role}-{short_id}.key.pem"
    write_encrypted_key(keys_dir / file_name, key, passphrase)
    return PrivateKeySigner(key, location=home.key_location(file_name))


def local_key_source(home: CAHome, passphrase: PassphraseSource) -> NewKeySource:
    """New CA keys as encrypted files in the CA home, under the passphrase of the existing
    keys."""

    def new_key(role: AuthorityRole, spec: KeySpec) -> Signer:
        return write_new_key_file(home.keys_dir, home, role.value, spec, passphrase())

    return new_key


def kms_key_source(
    region: str | None, *, make_client: KmsClientFactory = default_kms_client
) -> NewKeySource:
    """New CA keys as new KMS keys (asymmetric, SIGN_VERIFY, tagged with their role) in
    ``region``; the signer's ``location`` is the key's ARN."""
    from albca.ca.kms_signer import KmsSigner, create_signing_key

    clients: list[KMSClient] = []

    def new_key(role: AuthorityRole, spec: KeySpec) -> Signer:
        if not clients:
            clients.append(make_client(region))
        arn = create_signing_key(
            clients[0], spec, description=_rotation_key_description(role), role=role.value
        )
        return KmsSigner(clients[0], arn)

    return new_key


def new_key_source(services: Services, passphrase: PassphraseSource) -> NewKeySource:
    """Where a rotation's new CA keys go: ALBCA_KEY_STORE (file: the CA home; kms: KMS)."""
    if services.settings.key_store == "kms":
        return kms_key_source(services.settings.aws_region)
    return local_key_source(services.home, passphrase)


def kms_key_call(role: AuthorityRole, spec: KeySpec) -> PlannedCall:
    """The ``create_key`` call ``kms_key_source`` makes for a new key (for plans)."""
    from albca.ca.kms_signer import create_key_request
    from albca.trust_bundle.planning import PlannedCall

    request = create_key_request(spec, description=_rotation_key_description(role), role=role.value)
    return PlannedCall("kms", "create_key", request)


def _rotation_key_description(role: AuthorityRole) -> str:
    return f"albca {role.value} CA key (rotation)"


def key_store_words(services: Services) -> str:
    """Where ``new_key_source`` puts a new key, in words (for ``--dry-run`` plans)."""
    if services.settings.key_store == "kms":
        region = services.settings.aws_region or "the AWS SDK's default region"
        return f"a new KMS key in {region}"
    return f"encrypted in {services.home.keys_dir}"
