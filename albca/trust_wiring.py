"""Settings in, trust store services out: the publish target, the S3 and ELBv2 clients, the
revocation sync, the trust store manager and CA rotation (with where new CA keys go).

boto3 clients are made when a command first needs one, never at import time (moto must
start first in tests; the CLI must start fast): by default in ``aws_client``, with bounded
timeouts and botocore's standard retries, so an API request on Lambda never hangs on AWS.
The CLI's commands pass their own factory (``client``: ``albca.cli.trust_context``), the
one every AWS command of the CLI uses, which in a dry run refuses every change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from albca.ca.errors import ConfigurationError
from albca.ca.keys import KeySpec, generate_private_key
from albca.ca.records import AuthorityRole
from albca.ca.signer import PrivateKeySigner, Signer

if TYPE_CHECKING:
    from albca.home import CAHome
    from albca.trust_bundle.planning import PlannedCall
    from albca.trust_bundle.publish import Publisher
    from albca.trust_bundle.rotation import NewKeySource, Rotation
    from albca.trust_bundle.trust_stores import TrustStoreManager
    from albca.wiring import PassphraseSource, Services

__all__ = [
    "AWS_TIMEOUTS",
    "aws_client",
    "ClientFactory",
    "publisher_from",
    "TrustServices",
    "trust_services",
    "local_key_source",
    "kms_key_source",
    "new_key_source",
    "key_store_words",
    "kms_key_call",
    "rotation_for",
]


@dataclass(frozen=True)
class AwsTimeouts:
    connect_seconds: float = 5.0
    read_seconds: float = 30.0
    max_attempts: int = 4  # botocore's standard mode: throttling and 5xx retried with backoff


AWS_TIMEOUTS = AwsTimeouts()


def aws_client(service: str, region: str | None = None) -> Any:
    """A boto3 client for ``service`` in ``region`` (ALBCA_AWS_REGION; None: the SDK's
    default region), with the SDK's credentials."""
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError
    except ImportError:
        raise ConfigurationError(
            "publishing to S3 and ALB trust stores needs the AWS libraries: "
            "pip install 'albca[aws]'",
            setting="ALBCA_PUBLISH_TO",
        ) from None
    config = Config(
        connect_timeout=AWS_TIMEOUTS.connect_seconds,
        read_timeout=AWS_TIMEOUTS.read_seconds,
        retries={"mode": "standard", "max_attempts": AWS_TIMEOUTS.max_attempts},
    )
    try:
        # boto3-stubs types client() per literal service name; this one takes any.
        make = cast(Callable[..., Any], boto3.client)
        return make(service, region_name=region, config=config)
    except BotoCoreError as exc:  # NoRegionError, a broken profile...
        raise ConfigurationError(
            f"cannot make an AWS {service} client: {exc} (set AWS_REGION, or a profile with "
            "a region)",
            setting="AWS_REGION",
        ) from exc


ClientFactory = Callable[[str], Any]
"""Makes the boto3 client of a service (``s3``, ``elbv2``): ``aws_client`` by default; the
CLI's commands pass their own (``albca.cli.trust_context``), which a dry run makes refuse
every change."""


def publisher_from(
    url: str, region: str | None = None, *, client: ClientFactory | None = None
) -> Publisher:
    """The publisher of ``file:///DIR`` or ``s3://BUCKET/PREFIX``."""
    from albca.trust_bundle.publish import publisher_for

    make = client or (lambda service: aws_client(service, region))
    try:
        return publisher_for(url, s3_client=lambda: make("s3"))
    except ValueError as exc:
        raise ConfigurationError(str(exc), setting="ALBCA_PUBLISH_TO") from None


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
) -> TrustServices:
    """The trust store manager for the CA of ``services``, publishing to ``publish_to``
    (default: ALBCA_PUBLISH_TO). An ``s3://`` target also feeds ALB trust stores. Its
    clients come from ``client`` (default: ``aws_client`` in ALBCA_AWS_REGION)."""
    from albca.trust_bundle.alb_rules import TrustStoreLimits
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
    make = client or (lambda service: aws_client(service, region))
    publisher = publisher_from(url, region, client=make)
    api = TrustStoreApi(make("elbv2")) if isinstance(publisher, S3Publisher) else None
    manager = TrustStoreManager(
        authority=services.authority,
        publisher=publisher,
        api=api,
        wait_seconds=DEFAULT_WAIT_SECONDS if wait_seconds is None else wait_seconds,
        allow_gap=allow_gap,
        limits=TrustStoreLimits.with_quotas(services.settings.trust_store_quotas),
    )
    return TrustServices(manager, url)


def local_key_source(home: CAHome, passphrase: PassphraseSource) -> NewKeySource:
    """New CA keys as encrypted files in the CA home (``file:keys/<role>-<id>.key.pem``),
    under the passphrase of the existing keys. A KMS key source (new KMS keys) plugs in
    here the same way: it returns a signer whose ``location`` is the key's ARN."""
    from albca.ca.key_files import write_encrypted_key

    def new_key(role: AuthorityRole, spec: KeySpec) -> Signer:
        key = generate_private_key(spec)
        short_id = _short_key_id(PrivateKeySigner(key, location=""))
        file_name = f"{role.value}-{short_id}.key.pem"
        write_encrypted_key(home.keys_dir / file_name, key, passphrase())
        return PrivateKeySigner(key, location=home.key_location(file_name))

    return new_key


def kms_key_source(
    region: str | None, *, make_client: Callable[[str | None], Any] | None = None
) -> NewKeySource:
    """New CA keys as new KMS keys (asymmetric, SIGN_VERIFY, tagged with their role) in
    ``region``; the signer's ``location`` is the key's ARN."""
    from albca.ca.kms_signer import KmsSigner, create_signing_key, kms_client

    clients: list[Any] = []

    def new_key(role: AuthorityRole, spec: KeySpec) -> Signer:
        if not clients:
            clients.append((make_client or kms_client)(region))
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


def _short_key_id(signer: Signer) -> str:
    from cryptography import x509

    return x509.SubjectKeyIdentifier.from_public_key(signer.public_key).digest.hex()[:16]
