"""What every command needs: settings, services, the actor name, lifetimes, files."""

from __future__ import annotations

import contextlib
import errno
import getpass
import os
import re
import stat
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
    "OutputFiles",
]

_LIFETIME = re.compile(r"^\s*(\d+)\s*([dhm]?)\s*$")


def load_settings() -> Settings:
    from pydantic import ValidationError

    from albca.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:  # a check across variables names them itself
            fail(message)
        # The variable is the field; the rest of the place is inside its value (a key of
        # ALBCA_TRUST_STORE_QUOTAS' JSON), not a variable of its own.
        field, *inside = (str(part) for part in error["loc"])
        variable = f"ALBCA_{field.upper()}"
        if inside:
            message = f"{'.'.join(inside)}: {message}"
        fail(message if message.startswith(variable) else f"{variable}: {message}")


def open_cli_services() -> Services:
    from albca.compose.passphrase import passphrase_source
    from albca.compose.services import open_services

    settings = load_settings()
    # A command that only reads (list, show, status) never reads the whole store for
    # damage; one that writes or signs does, before its first write (issue 17, point 4).
    return open_services(settings, passphrase_source(settings), full_check="before-first-write")


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
    try:
        return {
            "d": lambda: timedelta(days=amount),
            "h": lambda: timedelta(hours=amount),
            "m": lambda: timedelta(minutes=amount),
        }[unit]()
    except OverflowError:
        fail(f"--lifetime: {text!r} is longer than any date a certificate can hold")


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
    fd = _open_output(path, private=private, force=force)
    with os.fdopen(fd, "wb") as out:
        os.ftruncate(out.fileno(), 0)
        out.write(data)


def _open_output(path: Path, *, private: bool, force: bool) -> int:
    """An output file opened for writing, never through a symbolic link (O_NOFOLLOW; with
    O_EXCL, a dangling link counts as an existing file) and never a FIFO or a device.

    With ``force`` an existing file is reused but not truncated yet: its content stays
    until there is something to replace it with.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    flags |= 0 if force else os.O_EXCL
    try:
        fd = os.open(path, flags, 0o600 if private else 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(
                errno.ELOOP, "is a symbolic link; albca never writes through one", str(path)
            ) from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "is not a regular file", str(path))
        os.set_blocking(fd, True)
        if private:
            os.fchmod(fd, 0o600)  # also when --force reuses an existing file
    except BaseException:
        os.close(fd)
        raise
    return fd


class OutputFiles:
    """Every output file of one command, opened before anything is signed.

    Opening first means that a file that cannot be written (an existing one, a dangling
    symbolic link, a directory that is not writable, a second identical run) stops the
    command before a certificate is issued, so no key is lost to it. ``discard`` removes
    the files this command created, for when nothing was issued after all.
    """

    def __init__(self, paths: dict[str, Path], *, private: set[str], force: bool) -> None:
        self._fds: dict[str, int] = {}
        self._created: list[Path] = []
        self.paths = paths
        for label, path in paths.items():
            existed = os.path.lexists(path)
            try:
                self._fds[label] = _open_output(path, private=label in private, force=force)
            except FileExistsError:
                self.discard()
                fail(f"{path} already exists; use --force to overwrite it")
            except OSError as exc:
                self.discard()
                fail(f"cannot write {path}: {exc.strerror}")
            if not existed:
                self._created.append(path)

    def write(self, label: str, data: bytes) -> None:
        """Replace the file's content with ``data`` (raises ``OSError``)."""
        fd = self._fds.pop(label)
        with os.fdopen(fd, "wb") as out:
            os.ftruncate(out.fileno(), 0)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())

    def discard(self) -> None:
        """Close every file and remove those this command created."""
        self.close()
        for path in self._created:
            with contextlib.suppress(OSError):
                path.unlink()
        self._created.clear()

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
