"""The command line as a whole: help everywhere, fast start, the demo."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.main import get_command

from albca.cli import app
from tests.cli.command_tree import subcommands


def walk(command, path=()):
    yield path, command
    for name, sub in subcommands(command).items():
        yield from walk(sub, (*path, name))


COMMANDS = list(walk(get_command(app)))


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(path) or "albca" for path, _ in COMMANDS]
)
def test_every_command_and_option_has_help(path, command):
    assert (command.help or "").strip(), f"albca {' '.join(path)} has no help text"
    for parameter in command.params:
        if parameter.param_type_name == "option":
            assert (parameter.help or "").strip(), f"{' '.join(path)} {parameter.opts} has no help"


def test_starting_the_cli_does_not_import_heavy_libraries():
    # `albca --help` must answer fast; the big imports are deferred into the commands.
    heavy = ("cryptography", "pydantic", "boto3", "fastapi")
    code = f"import sys, albca.cli; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""


def test_help_lists_every_command_without_importing_one():
    # `albca --help` names every command from its one-line help; running one imports only
    # its own module.
    code = (
        "import sys\n"
        "from albca.cli.app import app\n"
        "from typer.testing import CliRunner\n"
        "out = CliRunner().invoke(app, ['--help']).output\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('albca.cli.commands.'))\n"
        "print(json.dumps([out, loaded]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", f"import json\n{code}"], capture_output=True, text=True
    )
    output, loaded = json.loads(result.stdout)
    assert loaded == []
    for name in ("init", "issue", "revoke", "truststore", "cloudfront", "renewal-token"):
        assert f" {name} " in output


def test_running_a_command_imports_only_its_module(cli):
    code = (
        "import sys\n"
        "from albca.cli.app import app\n"
        "from typer.testing import CliRunner\n"
        "CliRunner().invoke(app, ['crl', '--help'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('albca.cli.commands.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "['albca.cli.commands.crl']"


def test_version(cli):
    assert cli.ok("--version").stdout.startswith("albca ")


def test_demo_runs_offline_and_keeps_its_artefacts(cli, tmp_path):
    directory = tmp_path / "demo"
    result = cli.ok("demo", "--directory", str(directory))
    assert "Demo complete" in result.stdout
    assert "alice (valid certificate): accepted" in result.stdout
    assert "bob (revoked certificate): rejected: certificate revoked" in result.stdout
    for name in ("ca-bundle.pem", "crl.pem", "server.key.pem", "alice.fullchain.pem"):
        assert (directory / name).is_file()
    assert "is not empty" in cli.fails("demo", "--directory", str(directory))


def test_windows_refuses_a_ca_command_in_one_line_before_it_runs(cli, monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    line = cli.fails("list")
    assert line == (
        "albca list runs on Linux and macOS only; on Windows, the holder's commands "
        "(agent, bootstrap, inspect, renew, request, verify) work, and the CA runs in WSL or "
        "a Linux container"
    )
    assert not cli.home.exists()  # nothing ran


def test_windows_runs_the_holders_commands(initialized, monkeypatch):
    cli = initialized
    cli.ok("issue", "client", "--cn", "alice")
    bundle = cli.ok("bundle").stdout
    (cli.workdir / "bundle.pem").write_text(bundle)
    monkeypatch.setattr(sys, "platform", "win32")
    shown = cli.ok("inspect", "alice.crt.pem").stdout
    assert "alice" in shown
    cli.ok("verify", "alice.fullchain.pem", "--bundle", "bundle.pem")
