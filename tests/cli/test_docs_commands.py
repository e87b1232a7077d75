"""The how-to guides in docs/ are commands a user types: each ``albca`` command in them
must exist, with options the command has."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.main import get_command

from albca.cli import app
from tests.cli.command_tree import subcommands

DOCS = Path(__file__).resolve().parents[2] / "docs"
_BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)


def documented_commands() -> list[tuple[str, str]]:
    found = []
    for guide in sorted(DOCS.glob("*.md")):
        for block in _BLOCK.findall(guide.read_text()):
            text = block.replace("\\\n", " ")
            for line in text.splitlines():
                line = line.split("#", 1)[0].strip()
                for part in line.split("&&"):
                    part = part.strip()
                    if part.startswith("albca "):
                        found.append((guide.name, part))
    return found


COMMANDS = documented_commands()


def test_the_guides_hold_commands():
    guides = {guide for guide, _ in COMMANDS}
    assert guides >= {
        "alb-mtls.md",
        "lambda-to-internal-alb.md",
        "elastic-beanstalk-end-to-end.md",
        "cloudfront-origin-mtls.md",
    }


@pytest.mark.parametrize(("guide", "line"), COMMANDS, ids=[f"{g}: {c}" for g, c in COMMANDS])
def test_documented_command_exists_with_its_options(guide, line):
    words = shlex.split(line)[1:]
    command = get_command(app)
    while words and words[0] in subcommands(command):
        command = subcommands(command)[words.pop(0)]
    # A group names a command only when it runs without a subcommand (``albca bundle``).
    runnable = not subcommands(command) or command.invoke_without_command
    assert runnable, f"{guide}: {line!r} names no command"
    known = {option for parameter in command.params for option in parameter.opts}
    for word in words:
        if word.startswith("--"):
            assert word.split("=", 1)[0] in known, f"{guide}: {line!r}: unknown option {word}"
