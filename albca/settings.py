"""The one place albca reads its environment: ``ALBCA_*`` variables.

Everything below ``albca/`` receives plain values built from these settings; nothing else
reads ``os.environ``. Validators reject unsafe values here, at start-up, with a message
that names the variable.
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from albca.ca.key_files import MIN_PASSPHRASE_LENGTH

__all__ = [
    "Settings",
    "HolderSettings",
    "DEFAULT_HOME",
    "SECRET_SETTINGS",
    "check_kms_key_reference",
]

DEFAULT_HOME = Path("~/.albca")
SECRET_SETTINGS = frozenset({"key_passphrase", "p12_password"})
"""Settings whose values are never printed (``albca config show`` says set or unset)."""

# DynamoDB table names (AWS: "Naming rules"), S3 bucket names (AWS: "Bucket naming
# rules"), and the ways KMS names a key: key ARN, alias ARN, alias name, key id.
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KMS_KEY = re.compile(
    r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key/[A-Za-z0-9-]+|alias/[A-Za-z0-9/_-]+)"
    r"|alias/[A-Za-z0-9/_-]+|(mrk-)?[0-9a-fA-F-]{36})$"
)


def check_kms_key_reference(value: str) -> str:
    """A KMS key as an operator names it: key ARN, alias ARN, alias/NAME or key id."""
    if not _KMS_KEY.match(value):
        raise ValueError(
            f"{value!r} is not a KMS key: give a key ARN, an alias ARN, alias/NAME or a key id"
        )
    return value


# SNS topic ARNs (SNS API Reference, CreateTopic: names of 1-256 letters, digits, '-',
# '_'; a FIFO topic's name ends in ".fifo").
_SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,251}(\.fifo)?$")


def _words(value: str) -> list[str]:
    words = [word.strip() for word in value.split(",") if word.strip()]
    return [] if words == ["none"] else words


_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")  # RFC 9110 token

_FROM_ALBCA_VARIABLES = SettingsConfigDict(
    env_prefix="ALBCA_",
    extra="ignore",
    frozen=True,
    env_ignore_empty=True,
    # A refused value may be a passphrase: never repeat it in an error message.
    hide_input_in_errors=True,
)


class HolderSettings(BaseSettings):
    """What the holder commands (``request``, ``renew``, ``keep-fresh``, ``inspect``,
    ``verify``) read, and nothing more: a machine that only holds certificates is never
    refused for a CA setting it does not use."""

    model_config = _FROM_ALBCA_VARIABLES

    p12_password: SecretStr | None = Field(
        default=None, description="Password for the PKCS#12 files albca writes or reads."
    )
    client_config: Path | None = Field(
        default=None, description="The holder's client.toml (default: the XDG config home)."
    )
    xdg_config_home: str | None = Field(default=None, validation_alias="XDG_CONFIG_HOME")


class Settings(BaseSettings):
    model_config = _FROM_ALBCA_VARIABLES

    home: Path = Field(
        default=DEFAULT_HOME,
        description="The CA home: config file, encrypted keys and the embedded store.",
    )
    key_passphrase: SecretStr | None = Field(
        default=None, description="Passphrase that encrypts the CA keys in the CA home."
    )
    key_passphrase_file: Path | None = Field(
        default=None, description="A file holding the key passphrase (mode 0600 or stricter)."
    )
    p12_password: SecretStr | None = Field(
        default=None, description="Password for PKCS#12 files that `albca issue --p12` writes."
    )
    store: str | None = Field(
        default=None,
        description=(
            "Where records live: sqlite:///PATH, or dynamodb://TABLE for a CA with no local "
            "state (default: albca.db in the CA home)."
        ),
    )
    aws_region: str | None = Field(
        default=None,
        description=(
            "AWS region of the DynamoDB table, the S3 bucket and new KMS keys (default: the "
            "AWS SDK's own, AWS_REGION or the profile's). A KMS key's ARN names its region."
        ),
    )
    record_retention_days: int = Field(
        default=365,
        ge=0,
        le=36500,
        description=(
            "DynamoDB: days a certificate record is kept after it expires, after which "
            "DynamoDB TTL deletes it. 0 keeps records forever."
        ),
    )
    config_file: Path | None = Field(
        default=None,
        description=(
            "The config file (profiles, CRL, AIA). Default: config.toml in the CA home, or, "
            "with a DynamoDB store and no CA home, the built-in defaults."
        ),
    )
    key_store: Literal["file", "kms"] = Field(
        default="file",
        description="Where `albca init` creates CA keys: file (encrypted, in the CA home) or kms.",
    )
    root_kms_key: str | None = Field(
        default=None,
        description="An existing KMS key (ARN, alias/NAME or key id) for `albca init`'s root CA.",
    )
    issuing_kms_key: str | None = Field(
        default=None,
        description="An existing KMS key for `albca init`'s issuing CA.",
    )
    publish_to: str | None = Field(
        default=None,
        description="Where the CA bundle and CRLs are published: s3://BUCKET/PREFIX or file:///DIR.",
    )
    sqlite_synchronous: Literal["full", "normal"] = Field(
        default="full",
        description=(
            "full: every certificate record is fsynced before the certificate is returned "
            "(survives power loss). normal: survives a crash of albca, not of the machine."
        ),
    )

    trust_store_sync: Literal["auto", "inline", "background", "off"] = Field(
        default="auto",
        description=(
            "How the HTTP API brings ALB trust stores in step after a revocation: inline "
            "(within the request, bounded by ALBCA_TRUST_STORE_SYNC_SECONDS), background "
            "(queued, run after the response), off. auto: off without ALBCA_PUBLISH_TO, "
            "inline on Lambda, background otherwise."
        ),
    )
    trust_store_sync_seconds: float = Field(
        default=20.0,
        gt=0,
        le=900,
        description="Time allowed to an inline sync (keep it below the Lambda timeout).",
    )
    # NoDecode: the JSON is parsed by _trust_store_quotas_from_json, whose error names the
    # variable (pydantic-settings' own decoding fails with a SettingsError and a traceback).
    trust_store_quotas: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=dict,
        description=(
            "The account's ALB trust store quotas where they differ from AWS's defaults "
            "(most are adjustable), as JSON, e.g. "
            '{"max_trust_stores": 50, "max_crls": 40}. Names: the fields of '
            "albca.trust_bundle.TrustStoreLimits."
        ),
    )

    # -- scheduled maintenance (`albca maintain`, the Lambda handler's schedule) --------
    notify_sns_topic: str | None = Field(
        default=None,
        description="SNS topic ARN that maintenance notices are published to (optional).",
    )
    notify_webhook_url: str | None = Field(
        default=None,
        description="URL that maintenance notices are POSTed to as Slack-compatible JSON "
        '({"text": ...}); optional.',
    )
    notify_events: str = Field(
        default="revoked,sync-failed,maintenance-failed",
        description="Events announced besides expiry notices, comma-separated: issued, "
        "revoked, sync-failed, maintenance-failed (empty or none: none).",
    )
    notify_expiry_days: str = Field(
        default="30,7,1",
        description="Days before a certificate's notAfter when it is announced, "
        "comma-separated (empty or none: no expiry notices).",
    )
    maintain_crl_refresh: float = Field(
        default=0.5,
        gt=0,
        lt=1,
        description="Share of a CRL's validity after which maintenance re-signs it.",
    )
    maintain_acm: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="Renew, in place, the certificates albca imported into ACM: "
        "auto: when ALBCA_PUBLISH_TO is s3:// or the store is DynamoDB.",
    )
    maintain_acm_renew: float = Field(
        default=2 / 3,
        gt=0,
        lt=1,
        description="Share of an ACM certificate's life after which maintenance renews it.",
    )

    @field_validator("notify_sns_topic", mode="after")
    @classmethod
    def _sns_topic_is_an_arn(cls, value: str | None) -> str | None:
        if value is not None and not _SNS_TOPIC_ARN.match(value):
            raise ValueError(f"{value!r} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")
        return value

    @field_validator("notify_webhook_url", mode="after")
    @classmethod
    def _webhook_is_http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @field_validator("notify_events", mode="after")
    @classmethod
    def _events_are_known(cls, value: str) -> str:
        known = ("issued", "revoked", "sync-failed", "maintenance-failed")
        for event in _words(value):
            if event not in known:
                raise ValueError(f"{event!r} is not an event; choose from {', '.join(known)}")
        return value

    @field_validator("notify_expiry_days", mode="after")
    @classmethod
    def _expiry_days_are_days(cls, value: str) -> str:
        for word in _words(value):
            if not word.isdigit() or not 1 <= int(word) <= 3650:
                raise ValueError(f"{word!r} is not a number of days between 1 and 3650")
        return value

    @property
    def notify_event_kinds(self) -> frozenset[str]:
        return frozenset(_words(self.notify_events))

    @property
    def expiry_notice_days(self) -> tuple[int, ...]:
        return tuple(int(word) for word in _words(self.notify_expiry_days))

    # -- the HTTP API (`albca serve`, the Lambda handler) ------------------------------
    api_store: str | None = Field(
        default=None,
        description="sqlite:///PATH for API tokens, idempotency keys and used renewal "
        "tokens. Default: where the certificates are: albca-api.db beside a SQLite store, "
        "or the DynamoDB table of ALBCA_STORE=dynamodb://TABLE (no local state).",
    )
    api_behind_alb_mtls: bool = Field(
        default=False,
        description="True only when every request reaches the API through an ALB listener "
        "in mTLS verify mode; then its client certificate headers are believed for renewal.",
    )
    api_mtls_leaf_header: str = "X-Amzn-Mtls-Clientcert-Leaf"
    api_mtls_serial_header: str = "X-Amzn-Mtls-Clientcert-Serial-Number"
    api_mtls_issuer_header: str = "X-Amzn-Mtls-Clientcert-Issuer"
    api_mtls_subject_header: str = "X-Amzn-Mtls-Clientcert-Subject"
    api_mtls_validity_header: str = "X-Amzn-Mtls-Clientcert-Validity"
    api_renewal_audience: str = Field(
        default="albca-renew",
        min_length=1,
        description="The aud renewal tokens must carry; set it to the API's URL.",
    )
    api_max_body_bytes: int = Field(default=128 * 1024, ge=1024, le=16 * 1024 * 1024)
    # Slow clients (`albca serve`): each open connection costs a socket and memory, and
    # uvicorn alone never times out one that is idle or sends its request slowly.
    api_header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Time a client has to send a request's headers, from its connection "
        "or its first byte; then the connection is closed.",
    )
    api_body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="Time a client has to send a request body once its headers are in; then 408.",
    )
    api_keep_alive_seconds: int = Field(
        default=5, ge=1, le=300, description="Idle time before a kept-alive connection closes."
    )
    api_limit_concurrency: int = Field(
        default=256,
        ge=1,
        le=65536,
        description="Connections (and requests) a worker takes at once; beyond it, 503.",
    )
    api_max_header_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Largest request line and headers accepted; beyond it, 431.",
    )
    api_crl_refresh_seconds: int = Field(default=60, ge=1, le=86400)

    @field_validator(
        "api_mtls_leaf_header",
        "api_mtls_serial_header",
        "api_mtls_issuer_header",
        "api_mtls_subject_header",
        "api_mtls_validity_header",
        mode="after",
    )
    @classmethod
    def _header_name_is_a_token(cls, value: str) -> str:
        if not _HEADER_NAME.match(value):
            raise ValueError(f"{value!r} is not an HTTP header name")
        return value

    @field_validator("trust_store_quotas", mode="before")
    @classmethod
    def _trust_store_quotas_from_json(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"ALBCA_TRUST_STORE_QUOTAS is not valid JSON: {exc.msg} at character "
                f'{exc.pos + 1}; write it as {{"max_crls": 40}}'
            ) from None

    @field_validator("trust_store_quotas", mode="after")
    @classmethod
    def _trust_store_quotas_are_known(cls, value: dict[str, int]) -> dict[str, int]:
        from albca.trust_bundle.alb_rules import TrustStoreLimits

        TrustStoreLimits.with_quotas(value)  # raises ValueError naming a wrong one
        return value

    @field_validator("api_store", mode="after")
    @classmethod
    def _api_store_is_sqlite(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("sqlite:///"):
            raise ValueError(
                f"ALBCA_API_STORE: {value!r} is not sqlite:///PATH (unset, the API keeps its "
                "state where ALBCA_STORE keeps the certificates, DynamoDB included)"
            )
        return value

    @field_validator("home", "config_file", mode="after")
    @classmethod
    def _expand_user(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @field_validator("key_passphrase", mode="after")
    @classmethod
    def _passphrase_is_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_PASSPHRASE_LENGTH:
            raise ValueError(
                f"ALBCA_KEY_PASSPHRASE must be at least {MIN_PASSPHRASE_LENGTH} characters"
            )
        return value

    @field_validator("key_passphrase_file", mode="after")
    @classmethod
    def _passphrase_file_is_private(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        value = value.expanduser()
        try:
            mode = value.stat().st_mode
        except FileNotFoundError:
            raise ValueError(f"ALBCA_KEY_PASSPHRASE_FILE: {value} does not exist") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ValueError(
                f"ALBCA_KEY_PASSPHRASE_FILE: {value} is readable by other users; "
                f"run chmod 600 {value}"
            )
        return value

    @field_validator("store", mode="after")
    @classmethod
    def _store_url_is_known(cls, value: str | None) -> str | None:
        if value is None or value.startswith("sqlite:///"):
            return value
        if value.startswith("dynamodb://"):
            table = value.removeprefix("dynamodb://")
            if not _TABLE_NAME.match(table):
                raise ValueError(
                    f"ALBCA_STORE: {table!r} is not a DynamoDB table name (3-255 letters, "
                    "digits, '_', '-', '.')"
                )
            return value
        raise ValueError(
            f"ALBCA_STORE: {value!r} is not a store this albca knows; use sqlite:///PATH or "
            "dynamodb://TABLE"
        )

    @field_validator("root_kms_key", "issuing_kms_key", mode="after")
    @classmethod
    def _kms_key_reference(cls, value: str | None) -> str | None:
        return None if value is None else check_kms_key_reference(value)

    @field_validator("publish_to", mode="after")
    @classmethod
    def _publish_target_is_known(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.startswith("s3://"):
            bucket = value.removeprefix("s3://").split("/", 1)[0]
            if not _BUCKET_NAME.match(bucket) or ".." in bucket:
                raise ValueError(f"ALBCA_PUBLISH_TO: {bucket!r} is not an S3 bucket name")
            return value
        if value.startswith("file:///"):
            return value
        raise ValueError(
            f"ALBCA_PUBLISH_TO: {value!r} is not a publish target; use s3://BUCKET/PREFIX or "
            "file:///DIR"
        )

    @model_validator(mode="after")
    def _one_passphrase_source(self) -> Settings:
        if self.key_passphrase is not None and self.key_passphrase_file is not None:
            raise ValueError("set ALBCA_KEY_PASSPHRASE or ALBCA_KEY_PASSPHRASE_FILE, not both")
        return self

    @property
    def store_kind(self) -> Literal["sqlite", "dynamodb"]:
        if self.store is not None and self.store.startswith("dynamodb://"):
            return "dynamodb"
        return "sqlite"

    @property
    def dynamodb_table(self) -> str | None:
        if self.store_kind != "dynamodb":
            return None
        assert self.store is not None
        return self.store.removeprefix("dynamodb://")

    @property
    def publish_s3_location(self) -> tuple[str, str] | None:
        """(bucket, prefix) of an ``s3://`` publish target; the prefix may be empty."""
        if self.publish_to is None or not self.publish_to.startswith("s3://"):
            return None
        bucket, _, prefix = self.publish_to.removeprefix("s3://").partition("/")
        return bucket, prefix.strip("/")

    @property
    def sqlite_path(self) -> Path:
        """The SQLite store file (with a DynamoDB store: where it would be in the home)."""
        if self.store is None or self.store_kind == "dynamodb":
            return self.home / "albca.db"
        return Path(self.store.removeprefix("sqlite:///")).expanduser()

    @property
    def api_dynamodb_table(self) -> str | None:
        """The table of the API's stores: the certificate table, unless ALBCA_API_STORE
        names a SQLite file."""
        return self.dynamodb_table if self.api_store is None else None

    @property
    def api_store_path(self) -> Path:
        if self.api_store is not None:
            return Path(self.api_store.removeprefix("sqlite:///")).expanduser()
        store = self.sqlite_path
        return store.with_name(f"{store.stem}-api{store.suffix}")
