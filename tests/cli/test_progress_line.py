"""The status line of long work (issue 16, point 5): shown on a terminal (a real pty),
never when the output is piped or asked for as JSON. ``albca`` runs as a real process."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import make_csr

ALBCA = [sys.executable, "-m", "albca"]
CSRS = 4


@pytest.fixture
def csr_dir(initialized) -> Path:
    directory = initialized.workdir / "csrs"
    directory.mkdir()
    for index in range(CSRS):
        (directory / f"host{index}.csr").write_bytes(
            make_csr(common_name=f"host{index}", dns_names=(f"host{index}.example",))
        )
    return directory


def _environment(cli) -> dict[str, str]:
    environment = {**os.environ, **cli.env, "COLUMNS": "120", "TERM": "xterm"}
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        environment.pop(name, None)  # rich reads them: let it see the terminal as it is
    return environment


def on_a_terminal(cli, *args: str) -> tuple[int, str]:
    """Run albca with stdout and stderr on a pseudo-terminal; its exit status and all it
    wrote there."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [*ALBCA, *args],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        env=_environment(cli),
        cwd=cli.workdir,
    )
    os.close(terminal)
    written = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        written += chunk
    os.close(controller)
    return process.wait(timeout=120), written.decode(errors="replace")


def piped(cli, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ALBCA, *args],
        capture_output=True,
        text=True,
        env=_environment(cli),
        cwd=cli.workdir,
        timeout=120,
        check=False,
    )


def test_issue_batch_shows_its_progress_on_a_terminal(initialized, csr_dir):
    status, written = on_a_terminal(
        initialized, "issue", "batch", str(csr_dir), "--profile", "server", "--out", "out"
    )
    assert status == 0, written
    assert f"issuing {CSRS} certificates" in written
    assert f"{CSRS}/{CSRS}" in written  # the count, once every certificate is written
    assert "host3.example" in written  # then the result table


def test_no_progress_line_when_piped(initialized, csr_dir):
    result = piped(initialized, "issue", "batch", str(csr_dir), "--profile", "server", "--out", "o")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "issuing" not in result.stdout
    assert "host3.example" in result.stdout


def test_no_progress_line_with_json_on_a_terminal(initialized, csr_dir):
    status, written = on_a_terminal(
        initialized, "issue", "batch", str(csr_dir), "--profile", "server", "--out", "o", "--json"
    )
    assert status == 0, written
    assert "issuing" not in written
    assert len(json.loads(written)) == CSRS  # nothing but the JSON on the terminal


def test_signing_a_crl_shows_a_status_line_on_a_terminal(initialized):
    status, written = on_a_terminal(initialized, "crl", "--out", "crl.pem")
    assert status == 0, written
    assert "signing a full CRL" in written
    assert "number:" in written
    quiet = piped(initialized, "crl", "--out", "crl2.pem")
    assert quiet.returncode == 0, quiet.stderr
    assert "signing" not in quiet.stdout + quiet.stderr
