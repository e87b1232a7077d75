"""``albca serve``: the HTTP API under uvicorn, on the configured store and keys."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from albca.cli.context import load_settings
from albca.cli.errors import fail

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8443,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (one per core is a good start).")
    ] = 1,
    tls_cert: Annotated[
        Path | None, typer.Option(help="Serve HTTPS with this certificate chain (PEM).")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="The private key of --tls-cert.")] = None,
    tls_from_ca: Annotated[
        bool,
        typer.Option(
            help="Serve HTTPS with a server certificate this CA issues for --host, localhost "
            "and 127.0.0.1 (kept in $ALBCA_HOME/serve/, reused until a week before expiry)."
        ),
    ] = False,
    access_log: Annotated[
        bool, typer.Option(help="Log one line per request (method, path, status; no bodies).")
    ] = True,
) -> None:
    """Run the HTTP API (OpenAPI at /docs). Works out of the box after `albca init`.

    Example: albca token create ci --profile client --names '*.svc.internal' ;
    albca serve --tls-from-ca --workers 2
    """
    import os
    import sys

    import uvicorn

    from albca.ca.errors import CAError
    from albca.compose.api import open_api
    from albca.compose.passphrase import passphrase_source
    from albca.server import server_credentials_from_ca

    if (tls_cert is None) != (tls_key is None):
        fail("--tls-cert and --tls-key go together")
    if tls_cert is not None and tls_from_ca:
        fail("use --tls-cert/--tls-key or --tls-from-ca, not both")
    settings = load_settings()
    passphrase = passphrase_source(settings)
    # Load the CA key here, once: a wrong passphrase fails now, with one line, and worker
    # processes (which cannot prompt) get the passphrase the way this process got it.
    stack = open_api(settings, passphrase)
    try:
        stack.services.authority.issuer()
        if tls_from_ca:
            credentials = server_credentials_from_ca(
                stack.services.authority, settings.home / "serve", host=host
            )
            tls_cert, tls_key = credentials.certificate_chain, credentials.private_key
    except CAError:
        stack.close()
        raise
    scheme = "https" if tls_cert is not None else "http"
    if scheme == "http" and host not in _LOOPBACK:
        typer.echo(
            "albca: warning: serving plain HTTP on a non-loopback address; use TLS unless a "
            "load balancer terminates it in front of this server",
            err=True,
        )
    typer.echo(f"albca API on {scheme}://{host}:{port}/v1 (docs: /docs)", err=True)
    ssl_options = {"ssl_certfile": str(tls_cert), "ssl_keyfile": str(tls_key)} if tls_cert else {}
    common = {
        "host": host,
        "port": port,
        "access_log": access_log,
        "server_header": False,
        "proxy_headers": False,
        **ssl_options,
    }
    if workers == 1:
        from albca.api.app import create_app

        try:
            uvicorn.run(create_app(stack.api), **common)  # type: ignore[arg-type]
        finally:
            stack.close()
        return
    stack.close()
    if settings.key_passphrase is None and settings.key_passphrase_file is None:
        # The workers read their settings from the environment they inherit.
        os.environ["ALBCA_KEY_PASSPHRASE"] = passphrase().decode()
    sys.stdout.flush()
    uvicorn.run(
        "albca.server:app_from_environment",
        factory=True,
        workers=workers,
        **common,  # type: ignore[arg-type]
    )
