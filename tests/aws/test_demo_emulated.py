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
    # The product path: enable-mtls publishes and creates the trust store (dry run first),
    # and a revocation's CRL is synced into it.
    assert "export ALBCA_PUBLISH_TO=s3://albca-demo-trust/albca" in out
    assert (
        "--dry-run plans 9 calls (publish, create the trust store, its CRLs, the listener)" in out
    )
    assert "trust store albca-demo created from s3://albca-demo-trust/albca/ca-bundle.pem" in out
    assert "holds ca-bundle.pem at its exact version and a CRL per CA" in out
    assert "the run made exactly the calls the dry run printed" in out
    assert "albca:  fed by this CA; CRLs in step" in out
    assert "revoked: the trust store does not know it yet" in out
    assert "the new CRL went to S3 and into trust store albca-demo" in out
    assert "CRLs current (2 CRLs, 2 entries)" in out
    assert "verifies it with trust store albca-demo, already in step" in out
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
