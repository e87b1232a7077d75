"""A command line albca cannot parse is one line on stderr, exit status 2 (click's usage
error), and an unknown option points at the option meant (issue 16, point 6): in the
root group, in a lazily loaded group, in a nested one; a typo of a hidden old spelling
points at the option's name now."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from albca.cli import app


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["list", "--jsn"], "No such option: --jsn. Did you mean --json?"),
        (["truststore", "list", "--jsn"], "No such option: --jsn. Did you mean --json?"),
        (
            ["--aws-profil", "x", "list"],
            "No such option: --aws-profil. Did you mean --aws-profile?",
        ),
        (["list", "--stat", "active"], "No such option: --stat. Did you mean --status?"),
        # Of --p12 and --p12-legacy, the closer one.
        (
            ["issue", "client", "--p12legacy"],
            "No such option: --p12legacy. Did you mean --p12-legacy?",
        ),
        # --ttl is the hidden old name of --lifetime: the answer is the name to use now.
        (["token", "create", "a", "--tl", "1d"], "No such option: --tl. Did you mean --lifetime?"),
        (["list", "--xyzzy"], "No such option: --xyzzy."),
        (["lst"], "No such command 'lst'. Did you mean 'list'?"),
        (["issue", "batch"], "Missing argument 'csr_dir'."),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_a_command_line_that_cannot_be_parsed_is_one_line(cli, args, line):
    result = CliRunner().invoke(app, args, env=cli.env)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"albca: error: {line}"]


def test_a_group_given_nothing_still_shows_its_help(cli):
    result = CliRunner().invoke(app, ["truststore"], env={**cli.env, "COLUMNS": "120"})
    assert "Usage: albca truststore" in result.output
    assert "albca: error" not in result.output
