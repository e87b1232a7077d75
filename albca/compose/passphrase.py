"""Where the CA key passphrase comes from: ALBCA_KEY_PASSPHRASE, a file, or a prompt.

Asked for lazily and at most once per process, so commands that sign nothing never prompt.
"""

from __future__ import annotations

import getpass
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from albca.ca.errors import ConfigurationError, KeyUnavailable
from albca.ca.key_files import MIN_PASSPHRASE_LENGTH
from albca.settings import Settings

__all__ = ["PassphraseSource", "passphrase_source"]

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
        text = _read_passphrase_file(settings.key_passphrase_file).rstrip("\r\n")
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


_MAX_PASSPHRASE_FILE_BYTES = 4096


def _read_passphrase_file(path: Path) -> str:
    setting = "ALBCA_KEY_PASSPHRASE_FILE"
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_PASSPHRASE_FILE_BYTES + 1)
    except IsADirectoryError:
        raise ConfigurationError(
            f"{setting}: {path} is a directory; name the file that holds the passphrase",
            setting=setting,
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"{setting}: cannot read {path}: {exc.strerror}", setting=setting
        ) from None
    if len(data) > _MAX_PASSPHRASE_FILE_BYTES:
        raise ConfigurationError(
            f"{setting}: {path} is larger than {_MAX_PASSPHRASE_FILE_BYTES} bytes; it should "
            "hold one line, the passphrase",
            setting=setting,
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"{setting}: {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8",
            setting=setting,
        ) from None
