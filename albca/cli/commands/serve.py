"""``albca serve``: the HTTP API under uvicorn, on the configured store and keys."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Any

import typer

from albca.cli.context import load_settings
from albca.cli.errors import fail

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8443,
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
    header_timeout: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            max=300,
            help="Seconds a client has to send a request's headers, then the connection "
            "is closed (default: ALBCA_API_HEADER_TIMEOUT_SECONDS, else 10).",
        ),
    ] = None,
    body_timeout: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            max=600,
            help="Seconds a client has to send a body once its headers are in, then 408 "
            "(default: ALBCA_API_BODY_TIMEOUT_SECONDS, else 30).",
        ),
    ] = None,
    keep_alive_timeout: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=300,
            help="Seconds an idle kept-alive connection stays open "
            "(default: ALBCA_API_KEEP_ALIVE_SECONDS, else 5).",
        ),
    ] = None,
    limit_concurrency: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65536,
            help="Connections a worker takes at once; beyond it, 503 "
            "(default: ALBCA_API_LIMIT_CONCURRENCY, else 256).",
        ),
    ] = None,
) -> None:
    """Run the HTTP API (OpenAPI at /docs). Works out of the box after `albca init`.

    Example: albca token create ci --profile client --names '*.svc.internal' ;
    albca serve --tls-from-ca --workers 2
    """
    import sys

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from albca.ca.errors import CAError
    from albca.compose.api import open_api
    from albca.compose.passphrase import passphrase_source
    from albca.http_limits import uvicorn_limits
    from albca.server import WorkerApp, reuse_port_socket, server_credentials_from_ca

    if (tls_cert is None) != (tls_key is None):
        fail("--tls-cert and --tls-key go together")
    if tls_cert is not None and tls_from_ca:
        fail("use --tls-cert/--tls-key or --tls-from-ca, not both")
    if tls_cert is not None and tls_key is not None:
        check_tls_files(tls_cert, tls_key)
    settings = load_settings()
    # What the command line changed: applied here and handed to every worker.
    overrides: dict[str, Any] = {
        name: value
        for name, value in (
            ("api_header_timeout_seconds", header_timeout),
            ("api_body_timeout_seconds", body_timeout),
            ("api_keep_alive_seconds", keep_alive_timeout),
            ("api_limit_concurrency", limit_concurrency),
        )
        if value is not None
    }
    settings = settings.model_copy(update=overrides)
    # Bound here, before the CA key is loaded, and handed to uvicorn: a port in use or a
    # host that does not resolve is one line, not uvicorn's log and exit status 3. Each of
    # N workers listens on a socket of its own (SO_REUSEPORT), so that the kernel spreads
    # connections across them (``albca.server._ReusePortListener``).
    try:
        listener = reuse_port_socket(host, port) if workers > 1 else _bound_socket(host, port)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    with listener:
        passphrase = passphrase_source(settings)
        # Load the CA key here, once: a wrong passphrase fails now, with one line, and
        # worker processes (which cannot prompt) get the passphrase the way this process
        # got it.
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
                "albca: warning: serving plain HTTP on a non-loopback address; use TLS unless "
                "a load balancer terminates it in front of this server",
                err=True,
            )
        typer.echo(f"albca API on {scheme}://{host}:{port}/v1 (docs: /docs)", err=True)
        ssl_options = (
            {"ssl_certfile": str(tls_cert), "ssl_keyfile": str(tls_key)} if tls_cert else {}
        )
        common: dict[str, Any] = {
            "host": host,
            "port": port,
            "access_log": access_log,
            "server_header": False,
            "proxy_headers": False,
            # uvloop where it is installed (the api extra, on Linux), else asyncio.
            "loop": "auto",
            **ssl_options,
            **uvicorn_limits(
                header_timeout=settings.api_header_timeout_seconds,
                keep_alive=settings.api_keep_alive_seconds,
                limit_concurrency=settings.api_limit_concurrency,
                max_header_bytes=settings.api_max_header_bytes,
            ),
        }
        if workers == 1:
            from albca.api.app import create_app

            # What uvicorn.run does with one worker, on the socket bound above.
            server = uvicorn.Server(uvicorn.Config(create_app(stack.api), **common))
            try:
                server.run(sockets=[listener])
            except KeyboardInterrupt:
                pass
            finally:
                stack.close()
            if not server.started:
                raise typer.Exit(1)
            return
        stack.close()
        prompted = settings.key_passphrase is None and settings.key_passphrase_file is None
        # Workers are spawned processes; the factory (with a prompted passphrase in it)
        # reaches them pickled through multiprocessing's pipe, never through the environment.
        factory = WorkerApp(passphrase=passphrase() if prompted else None, settings=overrides)
        sys.stdout.flush()
        # uvicorn.run takes only an import string with workers > 1; this is what it does then.
        config = uvicorn.Config(factory, factory=True, workers=workers, **common)
        Multiprocess(config, sockets=[listener]).run()


def _bound_socket(host: str, port: int) -> socket.socket:
    """The socket of a one-process ``albca serve``, bound as uvicorn binds its own
    (``uvicorn.Config.bind_socket``): SO_REUSEADDR, so that a restart need not wait for
    the last run's connections in TIME_WAIT."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class _EncryptedKey(Exception):
    """The --tls-key file asked for a password."""


def check_tls_files(certificate: Path, key: Path) -> None:
    """Refuse, in one line naming the file, a --tls-cert/--tls-key pair uvicorn could not
    serve with: loaded as uvicorn loads it (``ssl.SSLContext.load_cert_chain``)."""
    import ssl

    from cryptography import x509

    for option, path in (("--tls-cert", certificate), ("--tls-key", key)):
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            fail(f"{option}: cannot read {path}: {exc.strerror}")

    def no_password() -> str:
        raise _EncryptedKey

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certificate, key, password=no_password)
    except _EncryptedKey:
        fail(f"--tls-key: {key} is encrypted; albca serve needs the key unencrypted")
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            fail(f"--tls-key: {key} is not the private key of --tls-cert {certificate}")
        try:
            x509.load_pem_x509_certificates(certificate.read_bytes())
        except ValueError:
            fail(f"--tls-cert: {certificate} holds no PEM certificate")
        fail(f"--tls-key: {key} holds no PEM private key")
    except OSError as exc:
        fail(f"cannot read --tls-cert {certificate} or --tls-key {key}: {exc.strerror}")
