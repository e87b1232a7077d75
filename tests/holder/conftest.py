"""A CA API for the holder's side to talk to.

- ``served``: ``albca serve --tls-from-ca`` in a subprocess on 127.0.0.1, as an operator
  runs it, with tokens for client and server certificates; ``holder`` runs the holder's
  commands in subprocesses of the plain install (``plain_albca.py``) with their own client
  configuration and no CA home.
- ``api_on_clock``: the same API under uvicorn in this process, over HTTPS, with a clock
  the test moves (for the agent: months pass in a moment), stoppable and restartable on
  its port (the CA down).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn

from albca.api.app import create_app
from albca.server import server_credentials_from_ca
from albca.trust_bundle.bundle import TrustBundle
from tests.api.helpers import AUDIENCE, open_api_ca

ALBCA = str(Path(sys.executable).with_name("albca"))
PLAIN_ALBCA = [sys.executable, str(Path(__file__).with_name("plain_albca.py"))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Served:
    env: dict[str, str]
    port: int
    fingerprint: str
    client_token: str
    server_token: str
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def ca(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """An operator's command on the CA's own machine."""
        result = subprocess.run(
            [ALBCA, *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        if check:
            assert result.returncode == 0, result.stderr
        return result

    def start(self) -> None:
        self.process = subprocess.Popen(
            [ALBCA, "serve", "--port", str(self.port), "--tls-from-ca"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        bundle = self.ca("bundle").stdout
        context = ssl.create_default_context(cadata=bundle)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "albca serve exited"
            try:
                httpx.get(f"{self.url}/v1/health", verify=context, timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("albca serve did not answer within 30 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("ca") / "home"
    env = {
        **os.environ,
        "ALBCA_HOME": str(home),
        "ALBCA_KEY_PASSPHRASE": "holder-tests-passphrase",
        "ALBCA_SQLITE_SYNCHRONOUS": "normal",
    }
    for name in ("ALBCA_STORE", "ALBCA_TOKEN", "ALBCA_CLIENT_CONFIG", "ALBCA_P12_PASSWORD"):
        env.pop(name, None)
    served = Served(env=env, port=free_port(), fingerprint="", client_token="", server_token="")
    served.ca("init")
    served.fingerprint = served.ca("ca", "fingerprint").stdout.split()[0]
    tokens = {}
    for profile in ("client", "server"):
        created = served.ca(
            "token", "create", f"{profile}s", "--profile", profile,
            "--names", "*.svc.internal", "--scopes", "issue", "--json",
        )  # fmt: skip
        tokens[profile] = json.loads(created.stdout)["token"]
    served.client_token, served.server_token = tokens["client"], tokens["server"]
    served.start()
    yield served
    served.stop()


@dataclass
class Holder:
    """A holder's machine: a home with its client configuration, no CA home."""

    directory: Path
    served: Served
    env: dict[str, str] = field(default_factory=dict)

    def __call__(self, *args: str, check: bool = True, **extra_env: str):
        result = subprocess.run(
            [*PLAIN_ALBCA, *args],
            env={**self.env, **extra_env},
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check:
            assert result.returncode == 0, result.stderr
        return result

    def fails(self, *args: str, **extra_env: str) -> str:
        """A command that must fail with one line on stderr; returns that line."""
        result = self(*args, check=False, **extra_env)
        assert result.returncode == 1, result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("albca: error: ")
        return lines[0].removeprefix("albca: error: ")

    @property
    def config(self) -> Path:
        return self.directory / "config" / "client.toml"

    def bootstrap(self) -> None:
        self("bootstrap", "--ca-url", self.served.url, "--fingerprint", self.served.fingerprint)


@pytest.fixture
def holder(served, tmp_path) -> Holder:
    directory = tmp_path / "holder"
    directory.mkdir()
    env = {
        key: value
        for key, value in served.env.items()
        if not key.startswith("ALBCA_") and key not in ("XDG_CONFIG_HOME",)
    }
    env.update(
        HOME=str(directory),  # no ~/.config of the person running the tests
        ALBCA_CLIENT_CONFIG=str(directory / "config" / "client.toml"),
        ALBCA_HOME=str(directory / "no-ca-home"),  # must never be needed
    )
    return Holder(directory=directory, served=served, env=env)


@dataclass
class ApiOnClock:
    ca: object
    port: int
    bundle_pem: bytes
    credentials: object
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def audience(self) -> str:
        return AUDIENCE

    def start(self) -> None:
        config = uvicorn.Config(
            create_app(self.ca.api),
            host="127.0.0.1",
            port=self.port,
            ssl_certfile=str(self.credentials.certificate_chain),
            ssl_keyfile=str(self.credentials.private_key),
            log_level="warning",
            lifespan="off",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self.thread.join(timeout=10)
            self.server = None


@pytest.fixture
def api_on_clock(tmp_path):
    ca = open_api_ca(tmp_path)
    credentials = server_credentials_from_ca(ca.authority, tmp_path / "tls", host="127.0.0.1")
    bundle = TrustBundle.of(ca.authority.trusted_certificates()).pem
    api = ApiOnClock(ca=ca, port=free_port(), bundle_pem=bundle, credentials=credentials)
    api.start()
    yield api
    api.stop()
    ca.close()
