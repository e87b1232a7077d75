"""``--p12-legacy``, one option for ``albca issue`` and ``albca request``: its help (which
clients need it) and its warning."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["P12LegacyOption", "warn_p12_legacy"]

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
