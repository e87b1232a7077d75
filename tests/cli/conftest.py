"""Run the ``albca`` command in-process (Typer's runner) against a CA home in tmp_path."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from albca.cli import app

PASSPHRASE = "correct horse battery staple"


@dataclass
class Cli:
    home: Path
    workdir: Path
    env: dict[str, str]

    def __call__(self, *args: str, env: dict[str, str] | None = None, input: str | None = None):
        runner = CliRunner()
        return runner.invoke(
            app, list(args), env={**self.env, **(env or {})}, input=input, catch_exceptions=False
        )

    def ok(self, *args: str, **kwargs):
        result = self(*args, **kwargs)
        assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str, **kwargs):
        return json.loads(self.ok(*args, "--json", **kwargs).stdout)

    def fails(self, *args: str, **kwargs) -> str:
        """Run a command that must fail with one line on stderr; return that line."""
        result = self(*args, **kwargs)
        assert result.exit_code == 1, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("albca: error: ")
        assert "Traceback" not in result.output
        return lines[0].removeprefix("albca: error: ")


@pytest.fixture
def cli(tmp_path, monkeypatch) -> Cli:
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    for name in ("ALBCA_STORE", "ALBCA_KEY_PASSPHRASE_FILE", "ALBCA_P12_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return Cli(
        home=tmp_path / "home",
        workdir=workdir,
        env={
            "ALBCA_HOME": str(tmp_path / "home"),
            "ALBCA_KEY_PASSPHRASE": PASSPHRASE,
            "ALBCA_SQLITE_SYNCHRONOUS": "normal",
        },
    )


@pytest.fixture
def initialized(cli) -> Cli:
    cli.ok("init")
    return cli
