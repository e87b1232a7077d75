"""``albca token`` and ``albca serve`` as a user runs them, in subprocesses."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ALBCA = [str(Path(sys.executable).with_name("albca"))]


@pytest.fixture
def env(tmp_path):
    environment = {
        **os.environ,
        "ALBCA_HOME": str(tmp_path / "home"),
        "ALBCA_KEY_PASSPHRASE": "cli-passphrase-0123",
        "ALBCA_SQLITE_SYNCHRONOUS": "normal",
    }
    run(environment, "init")
    return environment


def run(environment, *args, check=True):
    result = subprocess.run(
        [*ALBCA, *args], env=environment, capture_output=True, text=True, timeout=60
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_token_is_shown_once_listed_without_secret_and_revocable(env):
    created = run(
        env, "token", "create", "ci", "--profile", "server", "--names", "*.svc.internal",
        "--scopes", "issue,renew", "--lifetime", "7d", "--json",
    )  # fmt: skip
    secret = json.loads(created.stdout)["token"]
    assert secret.startswith("albca_")
    listed = run(env, "token", "list", "--json")
    assert secret.split("_")[2] not in listed.stdout
    [token] = json.loads(listed.stdout)
    assert (token["name"], token["status"], token["scopes"]) == ("ci", "active", ["issue", "renew"])
    duplicate = run(env, "token", "create", "ci", "--profile", "server", check=False)
    assert duplicate.returncode == 1
    assert "exists" in duplicate.stderr
    run(env, "token", "revoke", "ci")
    assert json.loads(run(env, "token", "list", "--json").stdout)[0]["status"] == "revoked"
    audit = run(env, "audit", "--json")
    assert [e["action"] for e in json.loads(audit.stdout)][:2] == ["token.revoke", "token.create"]
    assert secret.split("_")[2] not in audit.stdout


def test_token_create_refuses_bad_input(env):
    assert "scope" in run(env, "token", "create", "x", "--scopes", "admin", check=False).stderr
    unknown = run(env, "token", "create", "x", "--profile", "nope", check=False)
    assert "no profile 'nope'" in unknown.stderr
    bad_name = run(env, "token", "create", "Bad Name!", "--profile", "client", check=False)
    assert bad_name.returncode == 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_works_out_of_the_box_after_init_over_https(env, tmp_path, workers):
    secret = json.loads(
        run(env, "token", "create", "ops", "--profile", "client", "--names", "*.svc.internal",
            "--scopes", "issue,read", "--json").stdout
    )["token"]  # fmt: skip
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(run(env, "bundle").stdout)
    port = free_port()
    server = subprocess.Popen(
        [*ALBCA, "serve", "--port", str(port), "--tls-from-ca", "--workers", workers],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with httpx.Client(
            base_url=f"https://127.0.0.1:{port}",
            verify=ssl.create_default_context(cafile=str(bundle)),
            timeout=5,
        ) as client:
            health = _wait_for(client, server)
            assert health.json()["status"] == "ok"
            issued = client.post(
                "/v1/certificates/generate",
                json={"profile": "client", "common_name": "w.svc.internal"},
                headers={"Authorization": f"Bearer {secret}"},
            )
            assert issued.status_code == 201
            listed = client.get("/v1/certificates", headers={"Authorization": f"Bearer {secret}"})
            assert len(listed.json()["certificates"]) == 2  # the server's own and this one
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0]
    assert secret.split("_")[2] not in output
    assert "POST /v1/certificates/generate" in output
    assert (Path(env["ALBCA_HOME"]) / "serve" / "server.key.pem").stat().st_mode & 0o077 == 0


def _wait_for(client, server):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(server.stdout.read())
        try:
            return client.get("/v1/health")
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("albca serve did not answer within 30 s")
