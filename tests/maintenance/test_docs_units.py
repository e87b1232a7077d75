"""The systemd units and the cron line in docs/maintenance.md are ones that work."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "maintenance.md"
INSTALLED = "/opt/albca/bin/albca"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), re.DOTALL)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path):
    units = blocks("ini")
    assert len(units) == 2
    albca = Path(sys.executable).with_name("albca")
    for unit in units:
        name = unit.splitlines()[0].removeprefix("# ").rpartition("/")[2]
        (tmp_path / name).write_text(unit.replace(INSTALLED, str(albca)))
    files = sorted(str(path) for path in tmp_path.iterdir())
    assert [Path(f).name for f in files] == ["albca-maintain.service", "albca-maintain.timer"]
    checked = subprocess.run(
        ["systemd-analyze", "verify", *files], capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0, checked.stderr
    assert f"ExecStart={INSTALLED} maintain" in units[0]


def test_the_cron_line_runs_albca_maintain_hourly():
    (cron,) = [b for b in blocks("text") if "* * * *" in b]
    fields = shlex.split(cron.strip())
    assert fields[:5] == ["17", "*", "*", "*", "*"]
    command = [word for word in fields[5:] if "=" not in word or word.startswith("/")]
    assert command[:2] == [INSTALLED, "maintain"]
