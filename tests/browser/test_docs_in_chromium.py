"""/docs and /redoc render the operations in a real headless Chromium, offline.

A real `albca serve` on 127.0.0.1; Chromium loads the page with every host but
127.0.0.1 unresolvable (so a CDN asset would fail, as on an air-gapped network), runs its
scripts, and dumps the DOM they built. `.ci/run` installs Chromium from Debian's packages.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ALBCA = str(Path(sys.executable).with_name("albca"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium on PATH (apt-get install chromium; .ci/run installs it under CI)",
)

OPERATIONS = {
    "health": "Check that the API has its issuing CA",
    "issue_from_csr": "Issue a certificate for a CSR",
    "get_certificate": "Read a certificate by serial",
    "revoke_certificate": "Revoke a certificate",
    "crl_pem": "Download the current CRL (PEM)",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("docs") / "home"
    env = {
        **os.environ,
        "ALBCA_HOME": str(home),
        "ALBCA_KEY_PASSPHRASE": "docs-passphrase-0123",
        "ALBCA_SQLITE_SYNCHRONOUS": "normal",
    }
    subprocess.run([ALBCA, "init"], env=env, check=True, capture_output=True, timeout=120)
    port = free_port()
    process = subprocess.Popen(
        [ALBCA, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # a bound on start-up, not a measurement
        while True:
            if process.poll() is not None:
                raise AssertionError(process.stdout.read() if process.stdout else "")
            try:
                httpx.get(f"{base}/v1/health", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise AssertionError("albca serve did not answer within 60 s") from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.communicate(timeout=30)


def rendered(url: str, tmp_path: Path) -> str:
    """The DOM after the page's scripts ran, in headless Chromium with no network but
    127.0.0.1."""
    result = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            # Virtual time: the page's timers run until the network is idle, at most 30 s
            # of page time, so the dump comes once the scripts have drawn the page.
            "--virtual-time-budget=30000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_swagger_ui_renders_every_operation_offline(server, tmp_path):
    dom = rendered(f"{server}/docs", tmp_path)
    for operation_id, summary in OPERATIONS.items():
        # Swagger UI gives each operation the element id operations-<tag>-<operationId>.
        assert f"-{operation_id}" in dom, f"{operation_id} not rendered"
        assert summary in dom


def test_redoc_renders_every_operation_offline(server, tmp_path):
    dom = rendered(f"{server}/redoc", tmp_path)
    for operation_id, summary in OPERATIONS.items():
        assert f"operation/{operation_id}" in dom, f"{operation_id} not rendered"
        assert summary in dom


def test_the_home_page_links_the_docs_the_bundle_and_the_crl(server, tmp_path):
    dom = rendered(f"{server}/", tmp_path)
    for link in ("/docs", "/redoc", "/v1/ca/bundle", "/v1/ca/crl"):
        assert f'href="{link}"' in dom
