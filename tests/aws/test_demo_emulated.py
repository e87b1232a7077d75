"""``albca demo --aws-emulated``: the AWS steps against moto's server on 127.0.0.1, said
to be emulated, every step checked."""

from __future__ import annotations

import importlib.util

from tests.cli.conftest import Cli


def test_emulated_demo_runs_every_aws_step(cli: Cli, tmp_path):
    directory = tmp_path / "demo"
    result = cli.ok("demo", "--aws-emulated", "--directory", str(directory))
    out = result.stdout
    assert "EMULATED AWS: moto's server on http://127.0.0.1:" in out
    assert "Nothing below talks to AWS" in out
    assert "FAIL" not in out
    for step in (
        "albca alb enable-mtls",
        "albca alb server-cert",
        "albca backend pin",
        "albca cloudfront origin-mtls",
    ):
        assert step in out
    assert "a second run changes nothing" in out
    assert "Demo complete (AWS steps EMULATED locally)" in out
    assert (directory / ".ebextensions" / "https-backendauth.config").is_file()


def test_emulated_demo_says_which_extra_is_missing(cli: Cli, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("moto", "flask") else real(name, *a),
    )
    message = cli.fails("demo", "--aws-emulated")
    assert message == "albca demo --aws-emulated needs moto, flask: pip install 'albca[emulated]'"
