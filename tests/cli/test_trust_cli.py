"""`albca bundle`, `albca truststore`, `albca ca` and the sync `albca revoke` triggers, end
to end through the command line, against moto S3 and the ELBv2 trust store fake (installed
on the real boto3 clients the CLI makes)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import boto3
import pytest
from moto import mock_aws

from albca.emulated_aws import TrustStoreFake, install_trust_store_fake
from albca.infra.clients import AwsClients
from tests.aws.conftest import make_alb
from tests.aws.failures import fail

REGION = "us-east-1"
BUCKET = "albca-cli-trust"


@dataclass
class AwsCli:
    cli: object
    s3: object
    fakes: list[TrustStoreFake]
    failures: list[tuple[str, str]]  # (operation, code) to inject on the next elbv2 client

    def __call__(self, *args, **kwargs):
        return self.cli(*args, **kwargs)

    def ok(self, *args, **kwargs):
        return self.cli.ok(*args, **kwargs)

    def json(self, *args, **kwargs):
        return self.cli.json(*args, **kwargs)

    def fails(self, *args, **kwargs):
        return self.cli.fails(*args, **kwargs)


@pytest.fixture
def aws_cli(initialized, monkeypatch):
    for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        state = AwsCli(initialized, s3, [], [])

        def configure(service: str, client) -> None:
            if service == "elbv2":
                if state.fakes:
                    install_trust_store_fake(client, fake=state.fakes[0])
                else:
                    state.fakes.append(install_trust_store_fake(client, s3, creating_polls=0))
                for operation, code in state.failures:
                    fail(client, operation, code, calls=set(range(1, 100)))

        # Every client albca makes comes from albca.compose.aws.aws_clients.
        monkeypatch.setattr(
            "albca.compose.aws.aws_clients",
            lambda region: AwsClients(region=region or REGION, configure=configure),
        )
        initialized.env["ALBCA_PUBLISH_TO"] = f"s3://{BUCKET}/pki"
        yield state


def issue_client(cli, name="alice") -> str:
    data = cli.json("issue", "client", "--cn", name)
    serial: str = data["serial"]
    return serial


def test_bundle_publish_records_the_object_version(aws_cli):
    published = aws_cli.json("bundle", "publish")
    assert published["object"] == f"s3://{BUCKET}/pki/ca-bundle.pem"
    assert published["certificates"] == 2
    body = aws_cli.s3.get_object(
        Bucket=BUCKET, Key="pki/ca-bundle.pem", VersionId=published["version_id"]
    )["Body"].read()
    assert body == aws_cli.ok("bundle").stdout.encode()
    events = [e for e in aws_cli.json("audit") if e["action"] == "publish"]
    assert events[0]["detail"]["version_id"] == published["version_id"]
    assert aws_cli.json("bundle", "publish")["unchanged"] is True


def test_bundle_publish_to_a_named_object_and_to_a_directory(aws_cli, tmp_path):
    named = aws_cli.json("bundle", "publish", "--publish-to", f"s3://{BUCKET}/trust/alb-bundle.pem")
    assert named["object"] == f"s3://{BUCKET}/trust/alb-bundle.pem"
    local = aws_cli.json("bundle", "publish", "--publish-to", (tmp_path / "pki").as_uri())
    assert (tmp_path / "pki" / "ca-bundle.pem").read_bytes().count(b"BEGIN CERTIFICATE") == 2
    assert local["version_id"] is None


def test_a_trust_store_from_create_to_delete(aws_cli):
    created = aws_cli.json("truststore", "create", "prod-clients")
    arn = created["trust_stores"][0]["arn"]
    assert created["trust_stores"][0]["status"] == "ACTIVE"
    assert [s["name"] for s in aws_cli.json("truststore", "list")] == ["prod-clients"]

    serial = issue_client(aws_cli)
    revoked = aws_cli.json("revoke", serial, "--reason", "key-compromise")
    assert revoked["trust_store_sync"] == {"status": "synced"}
    shown = aws_cli.json("truststore", "show", "prod-clients")
    assert shown["arn"] == arn
    assert shown["total_revoked_entries"] == 1
    assert shown["bundle"]["ca_certificates"] == 2
    assert aws_cli.json("truststore", "status")["in_step"] is True

    text = aws_cli.ok("truststore", "show", "prod-clients").stdout
    assert "revocations (1 entries)" in text
    assert aws_cli.ok("truststore", "delete", "prod-clients", "--yes").stdout.startswith(
        "deleted prod-clients"
    )
    assert aws_cli.json("truststore", "list") == []


def test_truststore_delete_prints_json(aws_cli):
    arn = aws_cli.json("truststore", "create", "gone")["trust_stores"][0]["arn"]
    deleted = aws_cli.json("truststore", "delete", "gone", "--yes")
    assert deleted == {"deleted": {"name": "gone", "arn": arn}}


def test_delete_names_the_listeners_that_use_the_store(aws_cli):
    arn = aws_cli.json("truststore", "create", "in-use")["trust_stores"][0]["arn"]
    elbv2 = boto3.client("elbv2", region_name=REGION)
    install_trust_store_fake(elbv2, fake=aws_cli.fakes[0])
    alb = make_alb(elbv2)
    elbv2.modify_listener(
        ListenerArn=alb.listener_arn,
        MutualAuthentication={"Mode": "verify", "TrustStoreArn": arn},
    )
    message = aws_cli.fails("truststore", "delete", "in-use", "--yes")
    assert "in use by 1 listener(s)" in message
    assert alb.listener_arn in message


def test_a_failed_sync_after_revoke_is_pending_until_a_sync_succeeds(aws_cli):
    aws_cli.ok("truststore", "create", "prod")
    serial = issue_client(aws_cli)
    aws_cli.failures.append(("AddTrustStoreRevocations", "ServiceUnavailable"))
    message = aws_cli.fails("revoke", serial)
    assert "revoked, but the trust stores do not have it yet" in message
    assert "albca truststore sync" in message
    assert aws_cli.json("show", serial)["status"] == "revoked"
    state = aws_cli.json("truststore", "status")
    assert state["in_step"] is False
    assert state["revocations_since"] == [serial]
    assert len(state["pending"]) == 1
    assert "run: albca truststore sync" in aws_cli.ok("truststore", "status").stdout

    aws_cli.failures.clear()
    report = aws_cli.json("truststore", "sync")
    assert [s["name"] for s in report["trust_stores"]] == ["prod"]
    assert aws_cli.json("truststore", "status")["in_step"] is True
    assert aws_cli.json("truststore", "show", "prod")["total_revoked_entries"] == 1


def test_revoke_without_a_publish_target_only_revokes(aws_cli):
    del aws_cli.cli.env["ALBCA_PUBLISH_TO"]
    serial = issue_client(aws_cli)
    revoked = aws_cli.json("revoke", serial)
    assert revoked["trust_store_sync"] is None


def test_rotate_status_and_retire_through_the_cli(aws_cli):
    aws_cli.ok("truststore", "create", "prod")
    issue_client(aws_cli, "before")
    before = aws_cli.json("ca", "status")
    old_issuing = next(ca for ca in before if ca["role"] == "issuing")
    assert old_issuing["advice"].startswith("rotate by ")
    assert old_issuing["key_location"].startswith("file:keys/issuing-")

    rotated = aws_cli.json("ca", "rotate", "--key-type", "ec-p384")
    assert rotated["previous"] == old_issuing["key_id"]
    assert rotated["active_issuing"] == rotated["current"]
    new_key = aws_cli.cli.home / "keys"
    assert len(list(new_key.glob("issuing-*.key.pem"))) == 2  # the new key, encrypted
    issued = aws_cli.json("issue", "client", "--cn", "after")
    assert issued["issuer_key_id"] == rotated["current"]
    assert aws_cli.json("truststore", "show", "prod")["bundle"]["ca_certificates"] == 3

    status = {ca["key_id"]: ca for ca in aws_cli.json("ca", "status")}
    assert status[old_issuing["key_id"]]["status"] == "standby"
    assert status[old_issuing["key_id"]]["advice"] == "keep: 1 certificates still depend on it"

    message = aws_cli.fails("ca", "retire", old_issuing["key_id"][:12])
    assert "1 certificate(s) that are still valid" in message
    retired = aws_cli.json("ca", "retire", old_issuing["key_id"][:12], "--force")
    assert retired["stopped_working"] == 1
    assert aws_cli.json("truststore", "show", "prod")["bundle"]["ca_certificates"] == 2


def test_rotate_needs_a_publish_target_or_no_publish(aws_cli):
    del aws_cli.cli.env["ALBCA_PUBLISH_TO"]
    assert "--no-publish" in aws_cli.fails("ca", "rotate")
    rotated = aws_cli.json("ca", "rotate", "--no-publish")
    assert rotated["distributed"] == 0


def test_root_rotation_through_the_cli(aws_cli):
    aws_cli.ok("truststore", "create", "prod")
    staged = aws_cli.ok("ca", "rotate", "--root", "--stop-after-root").stdout
    assert "run `albca ca rotate --root` again" in staged
    assert aws_cli.json("truststore", "show", "prod")["bundle"]["ca_certificates"] == 3
    finished = aws_cli.json("ca", "rotate", "--root")
    assert finished["finished"] is True
    roots = [ca for ca in aws_cli.json("ca", "status") if ca["role"] == "root"]
    assert sorted(ca["status"] for ca in roots) == ["active", "standby"]


def test_bundle_rollback_through_the_cli(aws_cli):
    created = aws_cli.json("truststore", "create", "prod")
    first = created["bundle"]["version_id"]
    old = aws_cli.json("ca", "status")[1]["key_id"]
    aws_cli.ok("ca", "rotate")
    refused = aws_cli.fails("bundle", "rollback")
    assert "albca ca activate" in refused
    aws_cli.ok("ca", "activate", old[:12])
    rolled = aws_cli.json("bundle", "rollback")
    assert rolled["trust_stores"][0]["to_version"] == first
    shown = aws_cli.json("truststore", "show", "prod")
    assert shown["bundle"]["version_id"] == first
    assert json.dumps(shown).count("issuer_key_id") == 2  # the root's CRL and the old CA's
