"""``albca aws deploy``, ``status``, ``undeploy`` and ``policy`` from the command line,
under moto, on a serverless CA made by ``albca aws bootstrap`` and ``albca init``.

The Lambda package is built for real in tests/packaging (minutes); here it is a small zip,
so these tests are about the commands: what they read from the CA (its KMS keys), what
they print, and the calls they make.
"""

from __future__ import annotations

import json
import re

import boto3
import pytest

from albca.infra.deploy.package import zip_directory
from tests.aws.moto_support import REGION
from tests.cli.test_serverless_cli import env, ok, one_line_error  # noqa: F401


@pytest.fixture
def serverless_ca(env, monkeypatch, tmp_path):  # noqa: F811
    ok("aws", "bootstrap", "--no-kms-keys")
    created = json.loads(ok("init", "--key-store", "kms", "--json"))["created_kms_keys"]
    folder = tmp_path / "package"
    (folder / "albca").mkdir(parents=True)
    (folder / "albca" / "lambda_handler.py").write_text("# stand-in\n")
    package = zip_directory(folder, tmp_path / "package.zip")

    def build(out, **options):
        return package

    monkeypatch.setattr("albca.compose.deploy.build_albca_package", build)
    return sorted(created)


def test_policy_names_the_cas_own_kms_keys(serverless_ca):
    policy = json.loads(ok("aws", "policy", "--for", "api", "--name", "prod"))
    keys = [s for s in policy["Statement"] if s["Sid"] == "CaKeys"]
    assert sorted(keys[0]["Resource"]) == serverless_ca
    assert one_line_error("aws", "policy", "--for", "everyone").endswith(
        "--for 'everyone': api, maintenance or operator"
    )


def test_deploy_dry_run_then_deploy_then_nothing_to_change(serverless_ca):
    planned = ok("aws", "deploy", "--name", "prod", "--dry-run")
    assert "would call: lambda.create_function" in planned
    assert boto3.client("lambda", region_name=REGION).list_functions()["Functions"] == []
    made = ok("aws", "deploy", "--name", "prod")
    assert made.count("called: ") == planned.count("would call: ")
    assert "MB zipped" in made
    assert "endpoint: https://" in made
    config = boto3.client("lambda", region_name=REGION).get_function_configuration(
        FunctionName="albca-prod-api"
    )
    assert config["Environment"]["Variables"] == {
        "ALBCA_STORE": "dynamodb://albca-cli",
        "ALBCA_AWS_REGION": REGION,
        "ALBCA_PUBLISH_TO": "s3://albca-cli-bundles/pki",
    }
    assert "nothing to change: deployment prod is as asked" in ok("aws", "deploy", "--name", "prod")

    status = ok("aws", "status", "--name", "prod")
    assert "albca-prod-api albca " in status
    assert "rate(1 hour) (ENABLED)" in status
    assert re.search(r"^last maintenance: +none recorded$", status, re.MULTILINE)


def test_undeploy_keeps_the_data_unless_confirmed(serverless_ca):
    ok("aws", "deploy", "--name", "prod")
    line = one_line_error("aws", "undeploy", "--name", "prod", "--delete-data")
    assert "add --yes" in line
    removed = ok("aws", "undeploy", "--name", "prod")
    assert "called: lambda.delete_function" in removed
    assert boto3.client("dynamodb", region_name=REGION).list_tables()["TableNames"] == ["albca-cli"]
    assert "nothing to remove" in ok("aws", "undeploy", "--name", "prod")
