"""PKCS#12 on the command line: ``--p12-legacy`` (one option for ``albca issue`` and
``albca request``: its help, which clients need it, and its warning) and the password, read
one way by every command that writes or reads a PKCS#12 file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from albca.cli.errors import fail

__all__ = ["P12LegacyOption", "warn_p12_legacy", "new_p12_password", "p12_password"]

# The clients that read only 3DES with a SHA-1 MAC, as issue 16 (point 7) lists them; for
# Java, JDK-8153005 moved keytool to PBES2/AES-256 and HmacPBESHA256, backported to 8u301.
LEGACY_CLIENTS = (
    "macOS Keychain up to 13, iOS, Android up to 13, Windows before 10 1709, Java before 8u301"
)

P12LegacyOption = Annotated[
    bool,
    typer.Option(
        "--p12-legacy",
        help="Write the PKCS#12 file (implies --p12) with 3DES and a SHA-1 MAC instead of "
        f"AES-256 and SHA-256, for clients that read only that: {LEGACY_CLIENTS}. Weak: "
        "use it only for them.",
    ),
]


def warn_p12_legacy() -> None:
    typer.echo(
        "albca: warning: --p12-legacy uses 3DES and a SHA-1 MAC, which are weak; "
        "use it only for clients that cannot read the default (AES-256)",
        err=True,
    )


def new_p12_password(password_file: Path | None, *, option: str, nothing_done: str) -> bytes:
    """The password of a PKCS#12 file about to be written, checked before any work: from
    the file ``option`` names, ALBCA_P12_PASSWORD, or asked twice on a terminal."""
    from albca.ca.issued import MIN_PKCS12_PASSWORD_LENGTH

    password = p12_password(
        password_file,
        option=option,
        missing=f"--p12 needs a password: set ALBCA_P12_PASSWORD or use {option}",
        confirm=f"the two passwords differ; {nothing_done}",
    )
    if len(password) < MIN_PKCS12_PASSWORD_LENGTH:
        fail(f"the PKCS#12 password must be at least {MIN_PKCS12_PASSWORD_LENGTH} characters")
    return password


def p12_password(
    password_file: Path | None,
    *,
    option: str,
    missing: str,
    confirm: str | None = None,
    may_prompt: bool = True,
) -> bytes:
    """From the file ``option`` names, else ALBCA_P12_PASSWORD, else a prompt on a
    terminal (repeated when ``confirm`` says what a mismatch means); ``missing`` is the
    error when none of them can give it."""
    import getpass
    import sys

    from albca.settings import HolderSettings

    if password_file is not None:
        try:
            return password_file.read_text().rstrip("\r\n").encode()
        except OSError as exc:
            fail(f"{option}: cannot read {password_file}: {exc.strerror}")
    from_environment = HolderSettings().p12_password
    if from_environment is not None:
        return from_environment.get_secret_value().encode()
    if not (may_prompt and sys.stdin.isatty()):
        fail(missing)
    first = getpass.getpass("PKCS#12 password: ")
    if confirm is not None and getpass.getpass("Repeat the password: ") != first:
        fail(confirm)
    return first.encode()
