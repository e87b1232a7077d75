"""One name per idea: the old spellings still work, hidden, with a one-line notice; the AWS
profile is --aws-profile (passed to boto3 as profile_name)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from albca.cli import app
from albca.infra.clients import AwsClients


def test_token_lifetime_and_its_old_name_ttl(initialized):
    cli = initialized
    new = cli("token", "create", "a", "--profile", "client", "--lifetime", "7d", "--json")
    old = cli("token", "create", "b", "--profile", "client", "--ttl", "7d", "--json")
    assert new.exit_code == old.exit_code == 0, old.output
    assert new.stderr == ""
    assert old.stderr.strip() == "albca: warning: --ttl is deprecated; use --lifetime"
    expiry = [json.loads(r.stdout)["expires_at"][:10] for r in (new, old)]
    assert expiry[0] == expiry[1]
    assert "--ttl" not in cli.ok("token", "create", "-h", env={"COLUMNS": "200"}).stdout
    line = cli.fails(
        "token", "create", "c", "--profile", "client", "--ttl", "1d", "--lifetime", "1d"
    )
    assert line == "--ttl is the old name of --lifetime: give --lifetime only"


def test_bundle_publish_to_and_its_old_name_to(initialized, tmp_path):
    cli = initialized
    new = cli("bundle", "publish", "--publish-to", (tmp_path / "new").as_uri(), "--json")
    old = cli("bundle", "publish", "--to", (tmp_path / "old").as_uri(), "--json")
    assert new.exit_code == old.exit_code == 0, old.output
    assert old.stderr.strip() == "albca: warning: --to is deprecated; use --publish-to"
    assert (tmp_path / "new").is_dir()
    assert (tmp_path / "old").is_dir()


def test_truststore_wait_seconds_and_its_old_name_wait(initialized):
    # Both spellings at once are refused before any AWS call is made.
    line = initialized.fails("truststore", "create", "prod", "--wait", "5", "--wait-seconds", "5")
    assert line == "--wait is the old name of --wait-seconds: give --wait-seconds only"


def test_aws_profile_reaches_the_boto3_session(tmp_path, monkeypatch):
    config = tmp_path / "aws-config"
    config.write_text("[profile albca-test]\nregion = eu-north-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    client = AwsClients(profile="albca-test").client("s3")
    assert client.meta.region_name == "eu-north-1"  # read from that profile only


@pytest.mark.parametrize("where", ["option", "environment"])
def test_an_unknown_aws_profile_is_one_line(tmp_path, monkeypatch, where):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("ALBCA_HOME", str(tmp_path / "home"))
    args = ["aws", "check", "--region", "eu-west-1", "--table", "albca-test"]
    if where == "option":
        result = CliRunner().invoke(app, ["--aws-profile", "no-such-profile", *args])
    else:
        result = CliRunner().invoke(app, args, env={"ALBCA_AWS_PROFILE": "no-such-profile"})
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "The config profile (no-such-profile) could not be found" in result.stderr
    # The next command, without the option, is back on the SDK's default profile.
    from albca.compose import aws

    CliRunner().invoke(app, ["config", "show"])
    assert aws.aws_clients("eu-west-1").profile is None


def test_ca_activate_prints_json(initialized):
    cli = initialized
    previous = cli.json("ca", "rotate", "--no-publish")["previous"]
    activated = cli.json("ca", "activate", previous, "--no-publish")
    assert activated == {"active": {"role": "issuing", "key_id": previous}}
