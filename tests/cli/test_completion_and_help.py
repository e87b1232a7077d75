"""Shell completion through the lazy root group, -h as --help, choices shown as values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from albca.cli import app
from tests.cli.command_tree import subcommands

ALBCA = Path(sys.executable).parent / "albca"  # the console script, as a shell runs it


def complete(words: str, *, loaded_modules: bool = False) -> tuple[list[str], list[str]]:
    """What bash completion offers for the last word of ``words`` (Typer's protocol: the
    script sets _ALBCA_COMPLETE, COMP_WORDS and COMP_CWORD), and the command modules
    imported while answering."""
    code = (
        "import json, sys\n"
        "sys.argv = ['albca']  # the prog name the console script has\n"
        "from albca.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(m for m in sys.modules "
        "if m.startswith('albca.cli.commands.'))), file=sys.stderr)\n"
    )
    env = {
        **os.environ,
        "_ALBCA_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return result.stdout.split(), json.loads(result.stderr.strip().splitlines()[-1])


def test_show_completion_prints_a_script_for_the_shell():
    # --show-completion is a flag: Typer names the shell it runs under (shellingham reads the
    # parent processes), so run it from bash, as a user would, whatever started the tests.
    result = subprocess.run(
        # (a second command keeps bash from replacing itself with albca)
        ["bash", "-c", f"'{ALBCA}' --show-completion; exit $?"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "_ALBCA_COMPLETE=complete_bash" in result.stdout
    assert "complete -o default -F _albca_completion albca" in result.stdout


def test_completing_a_command_name_imports_no_command_module():
    offered, loaded = complete("albca trus")
    assert offered == ["truststore"]
    assert loaded == []


def test_completing_past_a_command_name_loads_that_command():
    offered, loaded = complete("albca truststore ")
    assert {"create", "update", "sync", "status", "delete"} <= set(offered)
    assert loaded == ["albca.cli.commands.truststore"]


def test_choices_complete_to_their_values():
    assert complete("albca list --status ")[0] == ["active", "expired", "revoked"]
    assert complete("albca revoke 1a2b3c4d --reason key")[0] == ["key-compromise"]
    assert complete("albca alb enable-mtls --mode ")[0] == ["verify", "passthrough"]


def test_help_shows_choices_as_their_values():
    output = CliRunner().invoke(app, ["list", "-h"], env={"COLUMNS": "120"}).stdout
    assert "active|expired|revoked" in output


def walk(command, path=()):
    yield path
    for name, sub in subcommands(command).items():
        yield from walk(sub, (*path, name))


@pytest.mark.parametrize("path", list(walk(get_command(app))), ids=" ".join)
def test_dash_h_is_help_on_every_command(path):
    result = CliRunner().invoke(app, [*path, "-h"])
    assert result.exit_code == 0, result.output
    assert "Usage: albca" in result.stdout
