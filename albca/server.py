"""Running the API: the application factory uvicorn workers and Lambda call, and the
server certificate ``albca serve --tls-from-ca`` gets from the CA itself."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from albca.compose.api import ApiStack, open_api
from albca.compose.passphrase import passphrase_source
from albca.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from albca.ca.authority import Authority

__all__ = [
    "app_from_environment",
    "WorkerApp",
    "ServerCredentials",
    "server_credentials_from_ca",
    "reuse_port_socket",
]

SERVE_ACTOR = "albca serve"
_RENEW_BEFORE = timedelta(days=7)


def app_from_environment(*, on_lambda: bool = False) -> FastAPI:
    """The app for the settings in the environment (uvicorn ``--factory``, Lambda).

    Fails at start-up, not on the first request, when the CA key cannot be loaded.
    ``on_lambda``: nothing runs after a response, so trust store syncs run inline.
    """
    from albca.api.app import create_app

    settings = Settings()
    stack: ApiStack = open_api(
        settings, passphrase_source(settings, interactive=False), on_lambda=on_lambda
    )
    stack.services.authority.issuer()
    return create_app(stack.api)


@dataclass(frozen=True)
class WorkerApp:
    """The app factory of ``albca serve --workers N``: each worker process calls it once.

    uvicorn's workers are spawned processes that get their ``uvicorn.Config`` (this
    object inside it) pickled through multiprocessing's pipe. A prompted passphrase
    travels the same way, never through the environment: an environment variable set
    for the workers is in every child's /proc/PID/environ (multiprocessing's resource
    tracker too) for the life of the process (issue 12, point 9). ``settings`` are the
    values the command line changed; the rest the workers read from their environment.
    """

    passphrase: bytes | None = field(default=None, repr=False)
    settings: dict[str, Any] = field(default_factory=dict)

    def __call__(self) -> FastAPI:
        from albca.api.app import create_app

        settings = Settings(**self.settings)
        source = passphrase_source(settings, interactive=False)
        if self.passphrase is not None:
            given: bytes = self.passphrase

            def source() -> bytes:
                return given

        stack: ApiStack = open_api(settings, source)
        stack.services.authority.issuer()
        return create_app(stack.api)


@dataclass(frozen=True)
class ServerCredentials:
    certificate_chain: Path
    private_key: Path


def server_credentials_from_ca(
    authority: Authority, directory: Path, *, host: str
) -> ServerCredentials:
    """A server certificate for ``host`` (plus localhost and 127.0.0.1), issued by this CA
    and kept in ``directory``; reused until a week before it expires."""
    from cryptography import x509

    from albca.ca.names import RequestedNames

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    chain_path = directory / "server.fullchain.pem"
    key_path = directory / "server.key.pem"
    if chain_path.exists() and key_path.exists():
        current = x509.load_pem_x509_certificates(chain_path.read_bytes())[0]
        if current.not_valid_after_utc - authority.now() > _RENEW_BEFORE:
            return ServerCredentials(chain_path, key_path)
    dns = ["localhost"]
    ips = ["127.0.0.1"]
    if host not in ("0.0.0.0", "::", "localhost", "127.0.0.1"):  # noqa: S104 - names, not binds
        (ips if _is_ip(host) else dns).append(host)
    issued = authority.issue_with_new_key(
        profile="server",
        names=RequestedNames.of(dns_names=dns, ip_addresses=ips),
        requested_by=SERVE_ACTOR,
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(issued.private_key_pem())
    chain_path.write_bytes(issued.full_chain_pem)
    return ServerCredentials(chain_path, key_path)


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class _ReusePortListener(socket.socket):
    """The parent's socket of ``albca serve --workers N``: bound with SO_REUSEPORT, never
    listening. Pickled to a worker (uvicorn hands its workers the parent's sockets), it
    becomes a socket of the worker's own, bound to the same address with SO_REUSEPORT,
    which uvicorn then listens on.

    Why: with one listening socket shared by every worker, the worker that wakes first
    accepts, and 4 keep-alive connections often all land on one worker while the others
    idle (issue 17). With a listening socket per worker, the kernel spreads connections
    across them by a hash of each connection's addresses (socket(7), SO_REUSEPORT: "the
    kernel attempts to distribute incoming connections ... evenly"). The parent binds first
    so that a taken port fails at start-up, and does not listen, so that it is given no
    connection it would never accept.
    """

    def __reduce_ex__(self, protocol: object) -> tuple[object, tuple[int, tuple[str, int]]]:
        host, port = self.getsockname()[:2]
        return (_worker_listener, (int(self.family), (host, port)))


def _bound_with_reuse_port(
    family: int, address: tuple[str, int], kind: type[socket.socket] = socket.socket
) -> socket.socket:
    sock = kind(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def _worker_listener(family: int, address: tuple[str, int]) -> socket.socket:
    return _bound_with_reuse_port(family, address)


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """The socket ``albca serve --workers N`` hands its workers (``_ReusePortListener``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return _bound_with_reuse_port(family, (host, port), _ReusePortListener)
