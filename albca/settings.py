"""The one place albca reads its environment: ``ALBCA_*`` variables.

Everything below ``albca/`` receives plain values built from these settings; nothing else
reads ``os.environ``. Validators reject unsafe values here, at start-up, with a message
that names the variable.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ca.key_files import MIN_PASSPHRASE_LENGTH

__all__ = ["Settings", "DEFAULT_HOME"]

DEFAULT_HOME = Path("~/.albca")
# S3 bucket names (AWS: "Bucket naming rules").
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ALBCA_", extra="ignore", frozen=True, env_ignore_empty=True
    )

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
        description="Where records live: sqlite:///PATH (default: albca.db in the CA home).",
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

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

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
        if value is not None and not value.startswith("sqlite:///"):
            raise ValueError(
                f"ALBCA_STORE: {value!r} is not a store this albca knows; use sqlite:///PATH"
            )
        return value

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
    def sqlite_path(self) -> Path:
        if self.store is None:
            return self.home / "albca.db"
        return Path(self.store.removeprefix("sqlite:///")).expanduser()
