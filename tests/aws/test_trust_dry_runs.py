"""``--dry-run`` on the trust bundle commands: ``albca bundle publish|rollback``, ``albca
truststore create|update|delete|sync``, ``albca ca rotate|retire|activate`` and ``albca
revoke`` with ALBCA_PUBLISH_TO set.

Each dry run, through the CLI against moto and the trust store fake, must:

- change nothing: no S3 object version, no trust store, tag or revocation change, and
  nothing in the CA home either (the SQLite store dumped whole: no audit event, no CRL
  number taken, no CA record, no revocation; no key file);
- print the calls the live run then makes: the same operations in the same order, each
  with the parameters it is sent, except what only an earlier call can tell (printed as
  ``<known after the previous step>``), a CA the run makes (``<key id of the new ...>``)
  and the bodies (a bundle or CRL is shown by what it holds, never by its bytes).

``recorded`` holds every call the CLI made (``tests/aws/conftest.py``).
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import replace
from typing import Any

import pytest

from tests.aws.conftest import BUCKET, changes


@pytest.fixture
def fake_settings(every_fake_setting):
    """Each test here runs under every answer AWS might give where it documents none
    (tests/aws/conftest.py, ``FAKE_SETTINGS``), but one: a dry run prints the calls of the
    documented path, and when AWS refuses a bundle while the store holds CRLs of CAs it
    leaves out, the live run removes them and modifies again (``TrustStoreManager._modify``),
    which no dry run can foresee. That answer is run by test_rotation_handshakes.py."""
    undocumented = every_fake_setting.get("undocumented")
    if undocumented is not None and undocumented.orphan_crls == "refused":
        return {**every_fake_setting, "undocumented": replace(undocumented, orphan_crls="kept")}
    return every_fake_setting


pytestmark = pytest.mark.usefixtures("aws")

TARGET = f"s3://{BUCKET}/pki"
UNKNOWN = "<known after the previous step>"
NEW_CA = re.compile(r"<key id of the new (?:root|issuing) CA>")
PLACEHOLDERS = re.compile(rf"{re.escape(UNKNOWN)}|{NEW_CA.pattern}")


@pytest.fixture
def publishing(aws_cli, bucket, trust_fake):
    """The CLI with ALBCA_PUBLISH_TO=s3://albca-trust/pki; new trust stores are ACTIVE at
    once (the live commands poll with real sleeps)."""
    trust_fake.creating_polls = 0
    aws_cli.env["ALBCA_PUBLISH_TO"] = TARGET
    return aws_cli


# -- what a dry run prints, and what changed ---------------------------------------------------


def printed_calls(stdout: str) -> list[tuple[str, dict[str, Any]]]:
    """The ``service.operation {params}`` lines of a dry run, parsed."""
    calls = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith(("s3.", "elbv2.")):
            name, _, params = line.partition(" ")
            calls.append((name, json.loads(params)))
    return calls


def local_steps(stdout: str) -> list[str]:
    return [line.strip() for line in stdout.splitlines() if line.strip().startswith("albca: ")]


def api_name(boto3_name: str) -> str:
    """``elbv2.add_trust_store_revocations`` -> ``AddTrustStoreRevocations``."""
    return "".join(part.title() for part in boto3_name.split(".", 1)[1].split("_"))


def same_call(planned: Any, made: Any, where: str = "") -> None:
    """``planned`` (as printed) says what ``made`` (as sent) holds: equal, but for the
    placeholders and the bodies."""
    if where.endswith(".Body"):
        assert isinstance(planned, str)
        assert planned.startswith(("<bundle: ", "<CRL of CA "))
        assert "BEGIN" not in planned, "a body's bytes are never printed"
        return
    if isinstance(planned, str) and PLACEHOLDERS.search(planned):
        pattern = "".join(
            ".+" if PLACEHOLDERS.fullmatch(part) else re.escape(part)
            for part in re.split(f"({PLACEHOLDERS.pattern})", planned)
            if part
        )
        assert re.fullmatch(pattern, str(made)), f"{where}: {planned!r} vs {made!r}"
        return
    if isinstance(made, dict):
        assert isinstance(planned, dict), where
        assert planned.keys() == made.keys(), where
        for key in made:
            same_call(planned[key], made[key], f"{where}.{key}")
        return
    if isinstance(made, list | tuple):
        assert isinstance(planned, list), where
        assert len(planned) == len(made), where
        for index, (p, m) in enumerate(zip(planned, made, strict=True)):
            same_call(p, m, f"{where}[{index}]")
        return
    assert planned == made, f"{where}: {planned!r} vs {made!r}"


def aws_state(s3, elbv2) -> dict[str, Any]:
    """Everything in the bucket and the trust stores: versions, stores, tags, revocations."""
    versions = s3.list_object_versions(Bucket=BUCKET).get("Versions", [])
    stores = {}
    for store in elbv2.describe_trust_stores()["TrustStores"]:
        arn = store["TrustStoreArn"]
        (tags,) = elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"]
        revocations = elbv2.describe_trust_store_revocations(TrustStoreArn=arn)
        stores[arn] = {
            "store": store,
            "tags": sorted((t["Key"], t["Value"]) for t in tags["Tags"]),
            "revocations": revocations["TrustStoreRevocations"],
        }
    return {"objects": sorted((v["Key"], v["VersionId"]) for v in versions), "stores": stores}


def home_state(cli) -> dict[str, Any]:
    """The whole CA store (every table: CAs, certificates, audit trail, CRL numbers) and
    the key files."""
    database = sqlite3.connect(f"file:{cli.home / 'albca.db'}?mode=ro", uri=True)
    try:
        dump = list(database.iterdump())
    finally:
        database.close()
    keys = sorted(path.name for path in (cli.home / "keys").iterdir())
    return {"store": dump, "keys": keys}


class World:
    """The CLI and what it can change, to run a dry run and then the same command live."""

    def __init__(self, cli, s3, elbv2, recorded) -> None:
        self.cli = cli
        self.s3 = s3
        self.elbv2 = elbv2
        self.recorded = recorded

    def state(self) -> dict[str, Any]:
        return {"aws": aws_state(self.s3, self.elbv2), "home": home_state(self.cli)}

    def dry_run(self, *args: str) -> str:
        """Run ``args --dry-run``; assert it changed nothing and made no change call."""
        before = self.state()
        self.recorded.clear()
        stdout: str = self.cli.ok(*args, "--dry-run").stdout
        assert changes(self.recorded) == []
        assert self.state() == before
        return stdout

    def dry_then_live(self, *args: str, live: tuple[str, ...] = ()) -> tuple[str, list[str]]:
        """The dry run, then the live run (``live``: extra arguments for it only); assert the
        dry run printed the live run's calls. Returns the dry run's output and the
        operations the live run made."""
        stdout = self.dry_run(*args)
        planned = printed_calls(stdout)
        self.recorded.clear()
        self.cli.ok(*args, *live)
        made = changes(self.recorded)
        assert [api_name(name) for name, _ in planned] == [call.operation for call in made]
        for (name, params), call in zip(planned, made, strict=True):
            same_call(params, call.params, api_name(name))
        return stdout, [call.operation for call in made]


@pytest.fixture
def world(publishing, s3, elbv2, recorded) -> World:
    return World(publishing, s3, elbv2, recorded)


def store_arn(elbv2, name: str) -> str:
    (store,) = elbv2.describe_trust_stores(Names=[name])["TrustStores"]
    arn: str = store["TrustStoreArn"]
    return arn


CREATE = [
    "PutObject",  # the bundle
    "CreateTrustStore",
    "PutObject",  # the root's CRL
    "PutObject",  # the issuing CA's CRL
    "AddTrustStoreRevocations",
    "AddTags",
    "AddTrustStoreRevocations",
    "AddTags",
]
SWAP = ["AddTrustStoreRevocations", "AddTags", "RemoveTrustStoreRevocations"]


# -- bundle publish ----------------------------------------------------------------------------


def test_bundle_publish_dry_run_prints_the_upload_then_nothing_once_it_is_there(world):
    stdout, made = world.dry_then_live("bundle", "publish")
    assert made == ["PutObject"]
    ((_, params),) = printed_calls(stdout)
    digest = world.cli.json("bundle", "publish")["sha256"]
    assert params["Body"] == f"<bundle: 2 certificates, sha256 {digest}>"
    assert params["Key"] == "pki/ca-bundle.pem"

    again = world.dry_run("bundle", "publish")
    assert "Dry run: nothing to change." in again
    assert "already the latest version of s3://albca-trust/pki/ca-bundle.pem" in again


def test_bundle_publish_dry_run_to_a_directory_writes_no_file(world, tmp_path):
    target = (tmp_path / "pki").as_uri()
    stdout = world.dry_run("bundle", "publish", "--publish-to", target)
    assert local_steps(stdout) == [
        f"albca: write <bundle: 2 certificates, sha256 "
        f"{stdout.split('sha256 ')[1].split('>')[0]}> to {target}/ca-bundle.pem"
    ]
    assert not (tmp_path / "pki").exists()


def test_bundle_publish_dry_run_as_json(world):
    world.dry_run("bundle", "publish")  # changes nothing, whatever the output
    planned = world.cli.json("bundle", "publish", "--dry-run")
    assert planned["dry_run"] is True
    assert [change.split(" ")[0] for change in planned["changes"]] == ["s3.put_object"]
    assert world.s3.list_object_versions(Bucket=BUCKET).get("Versions", []) == []


# -- truststore create, update, delete, sync -----------------------------------------------------


def test_truststore_create_dry_run_prints_every_call_of_the_creation(world):
    stdout, made = world.dry_then_live("truststore", "create", "prod")
    assert made == CREATE
    planned = printed_calls(stdout)
    assert planned[1][1]["Name"] == "prod"
    assert planned[1][1]["CaCertificatesBundleS3ObjectVersion"] == UNKNOWN
    assert planned[4][1]["TrustStoreArn"] == UNKNOWN  # the new store's ARN
    assert "a real run waits up to 300 s" in stdout

    message = world.cli.fails("truststore", "create", "prod", "--dry-run")
    assert "a trust store named prod already exists" in message


def test_truststore_update_dry_run_after_a_new_ca(world):
    world.cli.ok("truststore", "create", "prod")
    world.cli.ok("ca", "rotate", "--no-publish")  # a new issuing CA, in standby: trusted
    stdout, made = world.dry_then_live("truststore", "update")
    assert made == [
        "PutObject", "ModifyTrustStore", "AddTags",
        "PutObject", "PutObject", "PutObject",  # the CRLs: root, old and new issuing CA
        *SWAP, *SWAP,  # the root's and the old issuing CA's CRLs replaced
        "AddTrustStoreRevocations", "AddTags",  # the new CA's first
    ]  # fmt: skip
    assert "<bundle: 3 certificates, sha256 " in stdout
    # The CRLs it replaces are known: their revocation ids are printed as they are sent.
    removed = [p["RevocationIds"] for n, p in printed_calls(stdout)
               if n == "elbv2.remove_trust_store_revocations"]  # fmt: skip
    assert all(isinstance(i, int) for ids in removed for i in ids)

    again = world.dry_run("truststore", "update")
    assert [api_name(n) for n, _ in printed_calls(again)] == [
        "PutObject", "PutObject", "PutObject", *SWAP, *SWAP, *SWAP  # only the CRLs, fresh
    ]  # fmt: skip


def test_truststore_update_dry_run_adopting_a_store_made_by_hand(world, albca_store):
    stdout, made = world.dry_then_live("truststore", "update", "albca", "--adopt")
    assert made[:3] == ["PutObject", "ModifyTrustStore", "AddTags"]
    tags = {t["Key"] for t in printed_calls(stdout)[2][1]["Tags"]}
    assert tags == {"albca:ca", "albca:bundle", "albca:bundle-version"}
    message = world.cli.fails("truststore", "update", "nosuch", "--dry-run")
    assert "nosuch" in message


def test_truststore_delete_dry_run_and_in_use(world, alb):
    world.cli.ok("truststore", "create", "old")
    stdout, made = world.dry_then_live("truststore", "delete", "old", live=("--yes",))
    assert made == ["DeleteTrustStore"]
    assert "Dry run" in stdout

    arn = world.cli.json("truststore", "create", "in-use")["trust_stores"][0]["arn"]
    world.elbv2.modify_listener(
        ListenerArn=alb.listener_arn, MutualAuthentication={"Mode": "verify", "TrustStoreArn": arn}
    )
    message = world.cli.fails("truststore", "delete", "in-use", "--dry-run")
    assert f"in use by 1 listener(s): {alb.listener_arn}" in message


def test_truststore_sync_dry_run_after_a_revocation(world):
    world.cli.ok("truststore", "create", "prod")
    world.cli.ok("truststore", "create", "staging")
    serial = world.cli.json("issue", "client", "--cn", "mallory")["serial"]
    world.cli.ok("revoke", serial, "--no-sync")
    stdout, made = world.dry_then_live("truststore", "sync")
    # The issuing CA's CRL only (roots are left to bundle changes), into both stores.
    assert made == ["PutObject", *SWAP, *SWAP]
    body = printed_calls(stdout)[0][1]["Body"]
    assert body.startswith("<CRL of CA ")
    assert body.endswith(": 1 entries, signed when the change is made>")
    assert world.cli.json("truststore", "status")["in_step"] is True


def test_truststore_sync_dry_run_with_allow_gap_removes_first(world):
    world.cli.ok("truststore", "create", "prod")
    _stdout, made = world.dry_then_live("truststore", "sync", "--allow-gap")
    assert made == ["PutObject", "RemoveTrustStoreRevocations", "AddTrustStoreRevocations",
                    "AddTags"]  # fmt: skip


# -- revoke ---------------------------------------------------------------------------------------


def test_revoke_dry_run_revokes_nothing_and_prints_the_sync(world):
    world.cli.ok("truststore", "create", "prod")
    serial = world.cli.json("issue", "client", "--cn", "mallory")["serial"]
    stdout, made = world.dry_then_live("revoke", serial, "--reason", "key-compromise")
    assert local_steps(stdout) == [
        f"albca: revoke certificate {serial} (CN=mallory), reason key-compromise"
    ]
    assert made == ["PutObject", *SWAP]
    assert ": 1 entries, signed when the change is made>" in stdout
    assert world.cli.json("show", serial)["status"] == "revoked"  # the live run did

    assert "already revoked" in world.cli.fails("revoke", serial, "--dry-run")


def test_revoke_dry_run_without_sync_only_describes_the_revocation(world):
    serial = world.cli.json("issue", "client", "--cn", "eve")["serial"]
    stdout = world.dry_run("revoke", serial, "--no-sync")
    assert printed_calls(stdout) == []
    assert local_steps(stdout) == [
        f"albca: revoke certificate {serial} (CN=eve), reason unspecified"
    ]
    assert world.cli.json("show", serial)["status"] == "active"


# -- ca rotate, retire, activate; bundle rollback ----------------------------------------------


def test_rotate_dry_run_describes_the_new_ca_and_makes_no_key(world):
    world.cli.ok("truststore", "create", "prod")
    old = next(ca for ca in world.cli.json("ca", "status") if ca["role"] == "issuing")
    stdout, made = world.dry_then_live("ca", "rotate", "--key-type", "ec-p384")
    (create, switch) = local_steps(stdout)
    assert create.startswith("albca: create issuing CA CN=")
    assert " G2" in create
    assert "a new ec-p384 key (encrypted in " in create
    assert "in standby" in create
    assert switch.startswith("albca: make issuing CA <key id of the new issuing CA> active")
    assert old["key_id"] in switch
    assert "<bundle: 3 certificates including the new CA's, known once it is made>" in stdout
    assert "checked against every ALB rule once the CA is made" in stdout
    assert made == [
        "PutObject", "ModifyTrustStore", "AddTags",
        "PutObject", "PutObject", "PutObject",
        *SWAP, *SWAP, "AddTrustStoreRevocations", "AddTags",
    ]  # fmt: skip
    keys = [c.params["Key"] for c in changes(world.recorded) if c.operation == "PutObject"]
    new = next(ca for ca in world.cli.json("ca", "status") if ca["status"] == "active" and
               ca["role"] == "issuing")  # fmt: skip
    assert keys[-1] == f"pki/crl/{new['key_id']}.pem"  # printed as crl/<key id of the new ...>


def test_rotate_dry_run_without_publishing(world):
    stdout = world.dry_run("ca", "rotate", "--no-publish")
    assert printed_calls(stdout) == []
    assert len(local_steps(stdout)) == 2
    assert "nothing is published (--no-publish)" in stdout


def test_root_rotation_dry_run_plans_both_distributions(world):
    world.cli.ok("truststore", "create", "prod")
    stdout, made = world.dry_then_live("ca", "rotate", "--root")
    steps = local_steps(stdout)
    assert steps[0].startswith("albca: create root CA ")
    assert steps[1].startswith("albca: create issuing CA ")
    assert "signed by root CA <key id of the new root CA>" in steps[1]
    first = ["PutObject", "ModifyTrustStore", "AddTags",
             "PutObject", "PutObject", "PutObject",  # root, issuing, new root
             *SWAP, *SWAP, "AddTrustStoreRevocations", "AddTags"]  # fmt: skip
    second = ["PutObject", "ModifyTrustStore", "AddTags",
              *["PutObject"] * 4,
              *SWAP, *SWAP, *SWAP, "AddTrustStoreRevocations", "AddTags"]  # fmt: skip
    assert made == first + second
    # The second distribution replaces what the first put in: ids it could not know.
    removes = [p for n, p in printed_calls(stdout) if n == "elbv2.remove_trust_store_revocations"]
    assert removes[-1]["RevocationIds"] == [UNKNOWN]


def test_root_rotation_dry_run_stopping_after_the_root(world):
    world.cli.ok("truststore", "create", "prod")
    stdout, _made = world.dry_then_live("ca", "rotate", "--root", "--stop-after-root")
    assert len(local_steps(stdout)) == 1
    assert "--stop-after-root: the run stops" in stdout
    # Resumed: the new root exists, so only the issuing CA is new.
    stdout = world.dry_run("ca", "rotate", "--root")
    assert local_steps(stdout)[0].startswith("albca: resume the rotation to root CA ")


def test_retire_dry_run(world):
    world.cli.ok("truststore", "create", "prod")
    old = next(ca for ca in world.cli.json("ca", "status") if ca["role"] == "issuing")
    world.cli.json("issue", "client", "--cn", "before")
    world.cli.ok("ca", "rotate")
    message = world.cli.fails("ca", "retire", old["key_id"][:12], "--dry-run")
    assert "1 certificate(s) that are still valid" in message
    stdout, made = world.dry_then_live("ca", "retire", old["key_id"][:12], "--force")
    assert local_steps(stdout) == [
        f"albca: retire issuing CA {old['key_id']}: 1 valid certificate(s) it issued stop working"
    ]
    assert made[:3] == ["PutObject", "ModifyTrustStore", "AddTags"]
    assert "RemoveTags" in made  # the retired CA's albca:crl tag
    assert "<bundle: 2 certificates, sha256 " in stdout  # the root and the new issuing CA
    assert world.cli.json("truststore", "show", "prod")["bundle"]["ca_certificates"] == 2


def test_activate_and_rollback_dry_runs(world):
    created = world.cli.json("truststore", "create", "prod")
    first = created["bundle"]["version_id"]
    old = next(ca for ca in world.cli.json("ca", "status") if ca["role"] == "issuing")
    world.cli.ok("ca", "rotate")
    assert "albca ca activate" in world.cli.fails("bundle", "rollback", "--dry-run")

    stdout, made = world.dry_then_live("ca", "activate", old["key_id"][:12])
    assert local_steps(stdout)[-1].startswith(f"albca: make issuing CA {old['key_id']} active")
    assert made == ["PutObject", "PutObject", "PutObject", *SWAP, *SWAP, *SWAP]  # CRLs only

    stdout, made = world.dry_then_live("bundle", "rollback")
    assert made[:2] == ["ModifyTrustStore", "AddTags"]
    modify = printed_calls(stdout)[0][1]
    assert modify["CaCertificatesBundleS3ObjectVersion"] == first
    assert "prod: s3://albca-trust/pki/ca-bundle.pem version " in stdout
    assert f"-> {first}" in stdout
    # The new CA's CRL is published but goes into no store, and its tag is removed.
    assert "RemoveTags" in made
    assert store_arn(world.elbv2, "prod") in stdout


def test_a_directory_target_plans_the_files_the_run_writes(world, tmp_path):
    directory = tmp_path / "pki"
    target = directory.as_uri()
    stdout = world.dry_run("truststore", "update", "--publish-to", target)
    assert printed_calls(stdout) == []
    planned = sorted(step.rsplit(" to ", 1)[1] for step in local_steps(stdout))
    assert not directory.exists()
    world.cli.ok("truststore", "update", "--publish-to", target)
    written = sorted(path.as_uri() for path in directory.rglob("*.pem"))
    assert planned == written  # the bundle, and a CRL of each CA (roots too: a bundle change)
    assert len(written) == 3


def test_rotate_dry_run_refuses_a_bundle_over_the_alb_limit_before_the_ca_is_made(world):
    # 2 certificates at first, one more per rotation: 23 rotations fill the 25 ALB allows
    for _ in range(23):
        world.cli.ok("ca", "rotate", "--no-publish")
    before = world.state()
    error = world.cli.fails("ca", "rotate", "--dry-run")
    assert "26 certificates" in error
    assert "the limit is 25" in error
    assert world.state() == before
