"""What every command needs: settings, services, the actor name, lifetimes, files."""

from __future__ import annotations

import getpass
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from albca.cli.errors import fail

if TYPE_CHECKING:
    from albca.compose.services import Services
    from albca.settings import Settings

__all__ = [
    "load_settings",
    "open_cli_services",
    "cli_actor",
    "parse_lifetime",
    "write_output_file",
    "check_writable",
]

_LIFETIME = re.compile(r"^\s*(\d+)\s*([dhm]?)\s*$")


def load_settings() -> Settings:
    from pydantic import ValidationError

    from albca.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        variable = "ALBCA_" + "_".join(str(part) for part in error["loc"]).upper()
        message = str(error["msg"]).removeprefix("Value error, ")
        if variable.rstrip("_") == "ALBCA":
            fail(message)
        fail(message if message.startswith(variable) else f"{variable}: {message}")


def open_cli_services() -> Services:
    from albca.compose.passphrase import passphrase_source
    from albca.compose.services import open_services

    settings = load_settings()
    return open_services(settings, passphrase_source(settings))


def cli_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"cli:{user}"


def parse_lifetime(text: str | None) -> timedelta | None:
    """``90d``, ``36h``, ``30m``, or a bare number of days."""
    if text is None:
        return None
    match = _LIFETIME.match(text)
    if not match:
        fail(f"--lifetime: {text!r} is not a duration like 90d, 36h or 30m")
    amount, unit = int(match.group(1)), match.group(2) or "d"
    return {
        "d": timedelta(days=amount),
        "h": timedelta(hours=amount),
        "m": timedelta(minutes=amount),
    }[unit]


def out_directory(path: Path) -> Path:
    """An ``--out DIR``, created if missing, as every command's ``--out DIR`` is (mode 0700
    when new: it may receive private keys)."""
    if path.exists() and not path.is_dir():
        fail(f"--out {path} is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        fail(f"--out: cannot create {path}: {exc.strerror}")
    return path.resolve()


def check_writable(path: Path, *, force: bool) -> None:
    if path.is_dir():
        fail(f"{path} is a directory; it cannot be replaced by a file")
    if path.exists() and not force:
        fail(f"{path} already exists; use --force to overwrite it")
    if not path.parent.is_dir():
        fail(f"{path.parent} is not a directory")


def write_output_file(path: Path, data: bytes, *, private: bool, force: bool) -> None:
    """Write a result file; private ones (keys, PKCS#12) are created with mode 0600."""
    try:
        write_output_file_or_raise(path, data, private=private, force=force)
    except FileExistsError:
        fail(f"{path} already exists; use --force to overwrite it")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")


def write_output_file_or_raise(path: Path, data: bytes, *, private: bool, force: bool) -> None:
    """``write_output_file`` raising ``OSError`` (for callers that must say more)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    fd = os.open(path, flags, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as out:
        if private:
            os.fchmod(out.fileno(), 0o600)  # also when --force reuses an existing file
        out.write(data)
