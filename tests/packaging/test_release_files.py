"""The files a release ships: the licence it declares, a changelog naming its version."""

from __future__ import annotations

import hashlib
import re
import tomllib
from importlib.metadata import metadata, version
from pathlib import Path

from typer.testing import CliRunner

from albca.cli import app

ROOT = Path(__file__).resolve().parents[2]
# sha256 of https://www.apache.org/licenses/LICENSE-2.0.txt (Debian ships the same file as
# /usr/share/common-licenses/Apache-2.0).
APACHE_2_0_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_licence_file_is_the_apache_2_0_text_the_project_declares():
    assert project()["project"]["license"] == "Apache-2.0"  # an SPDX expression (PEP 639)
    assert hashlib.sha256((ROOT / "LICENSE").read_bytes()).hexdigest() == APACHE_2_0_SHA256
    # The installed metadata says so too (Metadata 2.4 License-Expression).
    assert metadata("albca")["License-Expression"] == "Apache-2.0"


def test_the_build_backend_floor_understands_the_spdx_licence():
    # setuptools accepts `license = "SPDX"` and `license-files` from version 77.
    floor = project()["build-system"]["requires"][0]
    assert re.fullmatch(r"setuptools>=(\d+)", floor)
    assert int(floor.split(">=")[1]) >= 77


def test_the_version_is_one_value_the_changelog_and_the_cli_agree_on():
    declared = project()["project"]["version"]
    assert version("albca") == declared
    assert CliRunner().invoke(app, ["--version"]).stdout.strip() == f"albca {declared}"
    changelog = (ROOT / "CHANGELOG.md").read_text()
    newest = re.search(r"^## \[([^\]]+)\]", changelog, re.MULTILINE)
    assert newest is not None
    assert newest.group(1) == declared


def mermaid_blocks() -> list[str]:
    return re.findall(r"```mermaid\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)


def test_the_readme_draws_the_flow_the_revocation_and_the_rotation():
    kinds = [block.split(None, 1)[0] for block in mermaid_blocks()]
    assert kinds == ["flowchart", "sequenceDiagram", "timeline"]


def test_each_sequence_message_is_between_declared_participants():
    # Mermaid draws an undeclared name as a new participant: a typo would add a lane. A ';'
    # ends a statement in Mermaid, so it would cut a message short.
    (sequence,) = [b for b in mermaid_blocks() if b.startswith("sequenceDiagram")]
    declared = set(re.findall(r"^\s*participant (\S+)", sequence, re.MULTILINE))
    for sender, receiver, text in re.findall(r"^\s*(\w+)->>(\w+): (.*)$", sequence, re.MULTILINE):
        assert {sender, receiver} <= declared, (sender, receiver)
        assert ";" not in text
    assert "Note over TS" in sequence
