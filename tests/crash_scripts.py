"""Running a test's script in a real process of its own, which the script itself kills
(SIGKILL, a power cut as far as the store can tell), from the repository's root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["ROOT", "run_until_killed"]

ROOT = Path(__file__).resolve().parents[1]


def run_until_killed(script: str, directory: Path) -> subprocess.CompletedProcess[str]:
    """``script`` (formatted with ``root``, the repository's) run with ``directory`` as its
    argument; what it printed, once it has exited."""
    path = directory / "crash.py"
    path.write_text(script.format(root=str(ROOT)))
    return subprocess.run(
        [sys.executable, str(path), str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
