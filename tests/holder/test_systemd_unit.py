"""The systemd unit in docs/holders.md works: its albca commands exist with their options,
and systemd's own checker accepts the unit (where systemd-analyze is installed)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command

from albca.cli import app
from tests.cli.command_tree import subcommands

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "holders.md"
ALBCA = str(Path(sys.executable).with_name("albca"))


def unit_text() -> str:
    (unit,) = re.findall(r"```ini\n(.*?)```", GUIDE.read_text(), re.DOTALL)
    return unit


def commands() -> list[list[str]]:
    found = []
    for line in unit_text().splitlines():
        key, _, value = line.partition("=")
        if key in ("ExecStart", "ExecStartPre"):
            words = shlex.split(value.lstrip("-"))
            assert words[0] == "/opt/albca/bin/albca"
            found.append(words[1:])
    return found


def test_the_unit_runs_the_agent_with_options_it_has():
    runs = commands()
    assert [words[0] for words in runs] == ["agent", "agent"]
    assert "--once" in runs[0]
    agent = subcommands(get_command(app))["agent"]
    known = {option for parameter in agent.params for option in parameter.opts}
    for words in runs:
        assert {word for word in words if word.startswith("--")} <= known
    # Exit status 1 (revoked, expired) must not be restarted in a loop.
    assert "Restart=on-abnormal" in unit_text()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_accepts_the_unit(tmp_path):
    unit = tmp_path / "albca-agent-web.service"
    unit.write_text(unit_text().replace("/opt/albca/bin/albca", ALBCA))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "albca-agent-web.service" not in result.stderr, result.stderr
