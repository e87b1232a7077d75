"""Tables that fit: `albca list` and `albca audit` at 80 columns, on a terminal and piped."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

ANSI = "\x1b["


@pytest.fixture
def ca_with_history(initialized):
    cli = initialized
    serials = [cli.json("issue", "client", "--cn", name)["serial"] for name in ("alice", "bob")]
    cli.json(
        "issue",
        "server",
        "--dns",
        "api.internal.example.com",
        "--dns",
        "www.internal.example.com",
    )
    cli.json("revoke", serials[0], "--reason", "key-compromise")
    return cli, serials


def lines_of(output: str) -> list[str]:
    return output.rstrip("\n").splitlines()


def test_list_at_80_columns_shows_short_serials_and_whole_names(ca_with_history):
    cli, (revoked, active) = ca_with_history
    output = cli.ok("list", env={"COLUMNS": "80"}).stdout
    assert all(len(line) <= 80 for line in lines_of(output)), output
    assert revoked[:12] in output
    assert revoked not in output
    assert "api.internal.example.com," in output  # the names column wraps at the comma
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d\s*$", lines_of(output)[1])  # no seconds
    wide = cli.ok("list", "--wide", env={"COLUMNS": "200"}).stdout
    assert revoked in wide
    assert active in wide


def test_audit_at_80_columns_keeps_its_detail_readable(ca_with_history):
    cli, (revoked, _) = ca_with_history
    output = cli.ok("audit", env={"COLUMNS": "80"}).stdout
    assert all(len(line) <= 80 for line in lines_of(output)), output
    first = lines_of(output)[1]  # the newest event: the revocation, on one line
    assert re.match(
        rf"\d+\s+\d{{4}}-\d\d-\d\d \d\d:\d\d\s+revoke\s+cli:\S+\s+{revoked[:12]}\s", first
    )
    assert "reason=key-compromise" in first
    assert revoked not in output
    assert revoked in cli.ok("audit", "--wide", env={"COLUMNS": "200"}).stdout


def test_revoked_rows_are_coloured_on_a_terminal_only(ca_with_history):
    cli, (revoked, active) = ca_with_history
    plain = cli.ok("list", env={"COLUMNS": "80"}).stdout
    assert ANSI not in plain
    # FORCE_COLOR is how rich is told it writes to a terminal (rich's Console docs).
    coloured = cli.ok("list", env={"COLUMNS": "80", "FORCE_COLOR": "1"}).stdout
    revoked_line = next(line for line in coloured.splitlines() if revoked[:12] in line)
    active_line = next(line for line in coloured.splitlines() if active[:12] in line)
    assert "\x1b[31m" in revoked_line  # red
    assert "\x1b[31m" not in active_line


def test_piped_output_is_80_columns_without_colour(ca_with_history):
    cli, (revoked, _) = ca_with_history
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR")}
    for args in (["list"], ["audit"]):
        result = subprocess.run(
            [sys.executable, "-m", "albca", *args],
            capture_output=True,
            text=True,
            env={**env, **cli.env},
            check=True,
        )
        assert ANSI not in result.stdout
        assert all(len(line) <= 80 for line in lines_of(result.stdout)), result.stdout
        assert revoked[:12] in result.stdout


def test_list_names_each_name_once_when_the_cn_repeats_a_dns_name(initialized):
    cli = initialized
    cli.json("issue", "server", "--cn", "api.internal.example", "--dns", "api.internal.example")
    output = cli.ok("list", env={"COLUMNS": "120"}).stdout
    assert output.count("api.internal.example") == 1, output
