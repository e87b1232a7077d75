"""A small mutual-TLS server and client on 127.0.0.1: real handshakes, for the demo.

The server does what an ALB in verify mode does with albca's artefacts: it trusts the CA
bundle, checks the client certificate against the CRL, and refuses clients without a
certificate. Each connection's outcome is recorded on the server side too, because in
TLS 1.3 a client learns of its rejection only when it next reads.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["MTLSServer", "ServerOutcome", "ClientOutcome", "connect"]

_TIMEOUT = 10.0


@dataclass(frozen=True)
class ServerOutcome:
    accepted: bool
    detail: str  # the client's subject when accepted, the verification error otherwise


@dataclass(frozen=True)
class ClientOutcome:
    accepted: bool
    detail: str  # the server's reply when accepted, the error otherwise


def server_context(
    *, certificate_chain: Path, private_key: Path, ca_bundle: Path, crl: Path | None
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certificate_chain, private_key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=ca_bundle)
    # Strict RFC 5280 checks, as Python 3.13 turns on by default.
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    if crl is not None:
        context.load_verify_locations(cafile=crl)
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return context


def client_context(
    *, ca_bundle: Path, certificate_chain: Path | None = None, private_key: Path | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_bundle)
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    if certificate_chain is not None:
        context.load_cert_chain(certificate_chain, private_key)
    return context


class MTLSServer:
    """Serves one line per connection on 127.0.0.1:<ephemeral port> until closed."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(1.0)
        self.port: int = self._listener.getsockname()[1]
        self._outcomes: queue.Queue[ServerOutcome] = queue.Queue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="mtls-server", daemon=True)

    def __enter__(self) -> MTLSServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopping.set()
        # Wake the accept() at once rather than waiting for its timeout.
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
            pass
        self._thread.join(timeout=_TIMEOUT)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._stopping.is_set():
                connection.close()
                return
            connection.settimeout(_TIMEOUT)
            self._outcomes.put(self._handle(connection))

    def next_outcome(self, timeout: float = _TIMEOUT) -> ServerOutcome:
        """The outcome of the next connection the server finished with, in order."""
        try:
            return self._outcomes.get(timeout=timeout)
        except queue.Empty:
            return ServerOutcome(False, "the server saw no connection")

    def _handle(self, connection: socket.socket) -> ServerOutcome:
        try:
            with self._context.wrap_socket(connection, server_side=True) as tls:
                subject = _subject_of(tls.getpeercert() or {})
                tls.recv(1024)
                tls.sendall(f"hello {subject or 'client'}\n".encode())
                return ServerOutcome(True, subject)
        except ssl.SSLError as exc:
            return ServerOutcome(False, _describe(exc))
        except OSError as exc:
            return ServerOutcome(False, str(exc))


def connect(port: int, context: ssl.SSLContext, *, server_hostname: str) -> ClientOutcome:
    """Connect, send one line, and read the reply: accepted only if the reply arrives."""
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=_TIMEOUT) as raw,
            context.wrap_socket(raw, server_hostname=server_hostname) as tls,
        ):
            tls.sendall(b"hello\n")
            reply = tls.recv(1024)
    except ssl.SSLError as exc:
        return ClientOutcome(False, _describe(exc))
    except OSError as exc:
        return ClientOutcome(False, str(exc) or type(exc).__name__)
    if not reply:
        return ClientOutcome(False, "the server closed the connection")
    return ClientOutcome(True, reply.decode(errors="replace").strip())


def _describe(error: ssl.SSLError) -> str:
    # A verification failure says why ("certificate revoked"); other errors have a reason.
    verify_message = getattr(error, "verify_message", None)
    return str(verify_message or error.reason or error)


def _subject_of(peer: dict[str, Any]) -> str:
    """``getpeercert()``'s subject, a tuple of RDNs of (key, value) pairs, as one line."""
    pairs: list[str] = []
    for rdn in peer.get("subject", ()):
        pairs.extend(f"{key}={value}" for key, value in rdn)
    return ", ".join(pairs)
