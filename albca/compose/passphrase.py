"""Where the CA key passphrase comes from: ALBCA_KEY_PASSPHRASE, a file, or a prompt.

Asked for lazily and at most once per process, so commands that sign nothing never prompt.
"""

from __future__ import annotations

import getpass
import sys
import threading
from collections.abc import Callable

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
