"""The CA home: a directory holding the config file, the encrypted CA keys and the store.

$ALBCA_HOME/            mode 0700
    config.toml         profiles, CRL settings, URLs (edit by hand)
    keys/*.key.pem      CA private keys, encrypted, mode 0600
    albca.db            the embedded store (records, audit trail, CRL numbers)
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from albca.ca.errors import AuthorityExists, AuthorityNotInitialized, ConfigurationError

__all__ = ["CAHome", "CONFIG_FILE", "KEYS_DIR", "STORE_FILE"]

CONFIG_FILE = "config.toml"
KEYS_DIR = "keys"
STORE_FILE = "albca.db"
_FILE_LOCATION = "file:"


@dataclass(frozen=True)
class CAHome:
    path: Path

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def keys_dir(self) -> Path:
        return self.path / KEYS_DIR

    @property
    def default_store_path(self) -> Path:
        return self.path / STORE_FILE

    def holds_a_ca(self) -> bool:
        return (
            self.config_path.exists()
            or self.default_store_path.exists()
            or (self.keys_dir.exists() and any(self.keys_dir.iterdir()))
        )

    def check_not_writable_by_others(self) -> None:
        """Refuse a CA home (or its keys directory) that other users can write to.

        Whoever can write there can replace config.toml (profiles, name policies, CRL and
        AIA URLs), the store, or a key file with one whose passphrase they know. ``init``
        creates both with mode 0700. A sticky directory (like /tmp) does not help: new
        files can still be added.
        """
        for directory in (self.path, self.keys_dir):
            try:
                mode = stat.S_IMODE(directory.stat().st_mode)
            except FileNotFoundError:
                continue
            if mode & (stat.S_IWGRP | stat.S_IWOTH):
                raise ConfigurationError(
                    f"{directory} is writable by other users (mode {mode:04o}); run "
                    f"chmod go-w {directory} (albca init makes it 0700)",
                    setting="ALBCA_HOME",
                )

    def require_initialized(self) -> None:
        if not self.config_path.exists():
            raise AuthorityNotInitialized(
                f"no CA in {self.path}: run `albca init` first, or point ALBCA_HOME at an "
                "existing CA home"
            )

    def read_config(self) -> dict[str, object]:
        self.require_initialized()
        try:
            with self.config_path.open("rb") as handle:
                return tomllib.load(handle)
        except IsADirectoryError:
            raise ConfigurationError(
                f"{self.config_path} is a directory, not the CA's config file",
                setting=str(self.config_path),
            ) from None
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read {self.config_path}: {exc.strerror}", setting=str(self.config_path)
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(
                f"{self.config_path} is not valid TOML: {exc}", setting=str(self.config_path)
            ) from None

    # -- key locations ---------------------------------------------------------------
    def key_location(self, file_name: str) -> str:
        """How a key file is named in the store: relative to the home, so a home can move."""
        return f"{_FILE_LOCATION}{KEYS_DIR}/{file_name}"

    def key_path(self, location: str) -> Path:
        if not location.startswith(_FILE_LOCATION):
            raise ConfigurationError(
                f"key location {location!r} is not a file in the CA home", setting="key_location"
            )
        relative = Path(location.removeprefix(_FILE_LOCATION))
        if relative.is_absolute() or ".." in relative.parts:
            raise ConfigurationError(
                f"key location {location!r} points outside the CA home", setting="key_location"
            )
        return self.path / relative

    # -- creation --------------------------------------------------------------------
    @contextmanager
    def creating(self) -> Iterator[CAHome]:
        """Build a new home in a private staging directory, then move it into place.

        Refuses (and touches nothing) when the home already holds a CA. If anything fails
        part-way, the staging directory is removed and the home is exactly as it was.
        """
        if self.path.exists() and not self.path.is_dir():
            raise ConfigurationError(
                f"ALBCA_HOME: {self.path} exists and is not a directory", setting="ALBCA_HOME"
            )
        if self.holds_a_ca():
            raise AuthorityExists(
                f"{self.path} already holds a CA; refusing to change it (choose another "
                "ALBCA_HOME, or move the existing one away)"
            )
        if self.path.exists() and any(self.path.iterdir()):
            raise AuthorityExists(
                f"{self.path} exists and is not empty; refusing to create a CA home in it"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".albca-init-", dir=self.path.parent))
        except OSError as exc:
            # mkdir says "File exists" when a part of the path is a regular file.
            reason = (
                "a part of the path is not a directory"
                if isinstance(exc, (FileExistsError, NotADirectoryError))
                else exc.strerror
            )
            raise ConfigurationError(
                f"ALBCA_HOME: cannot create {self.path}: {reason}", setting="ALBCA_HOME"
            ) from None
        try:
            os.chmod(staging, 0o700)
            (staging / KEYS_DIR).mkdir(mode=0o700)
            yield CAHome(staging)
            # rename(2) replaces an empty directory atomically and fails on a non-empty one,
            # so a home created by someone else meanwhile is never overwritten.
            os.rename(staging, self.path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
