"""``albca renewal-token``: what a certificate holder sends to renew without an API token.

Runs on the holder's machine, needs only the certificate and its key (no CA home), and
prints the token for ``Authorization: Bearer`` on ``POST /v1/certificates/renew``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from albca.cli.context import parse_lifetime
from albca.cli.errors import fail


def renewal_token(
    cert: Annotated[
        Path, typer.Option("--cert", help="The certificate to renew (PEM).", show_default=False)
    ],
    key: Annotated[
        Path, typer.Option("--key", help="Its private key (PEM, PKCS#8 or traditional).")
    ],
    audience: Annotated[
        str,
        typer.Option(
            envvar="ALBCA_API_RENEWAL_AUDIENCE",
            help="The aud the API expects (its ALBCA_API_RENEWAL_AUDIENCE).",
        ),
    ] = "albca-renew",
    lifetime: Annotated[
        str, typer.Option(help="How long the token is good for; the API allows 5m by default.")
    ] = "5m",
    key_passphrase_file: Annotated[
        Path | None,
        typer.Option(help="A file holding the key's passphrase, if the key is encrypted."),
    ] = None,
) -> None:
    """Print a one-time renewal token for a certificate, signed with its own key.

    Send it as "Authorization: Bearer TOKEN" to POST /v1/certificates/renew.

    Example: albca renewal-token --cert web.pem --key web.key
    """
    from datetime import UTC, datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from albca.ca.renewal_token import make_renewal_token

    certificate_pem = _read(cert, "--cert")
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
    except ValueError:
        fail(f"--cert: {cert} is not a PEM certificate")
    passphrase = None
    if key_passphrase_file is not None:
        passphrase = _read(key_passphrase_file, "--key-passphrase-file").rstrip(b"\r\n")
    try:
        private_key = serialization.load_pem_private_key(_read(key, "--key"), passphrase)
    except TypeError:
        if passphrase is not None:
            fail(f"--key-passphrase-file: {key} is not encrypted; leave the option out")
        fail(f"--key: {key} is encrypted; give its passphrase with --key-passphrase-file")
    except ValueError:
        fail(f"--key: {key} is not a PEM private key, or the passphrase is wrong")
    if not isinstance(private_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        fail(f"--key: {key} is neither an EC nor an RSA key")
    valid_for = parse_lifetime(lifetime)
    assert valid_for is not None
    try:
        token = make_renewal_token(
            certificate, private_key, audience=audience, now=datetime.now(UTC), lifetime=valid_for
        )
    except ValueError as exc:
        fail(str(exc))
    typer.echo(token)


def _read(path: Path, option: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(f"{option}: cannot read {path}: {exc.strerror}")
