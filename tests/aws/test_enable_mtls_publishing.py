"""``albca alb enable-mtls`` with a publish target: the trust bundle service makes the trust
store ready (bundle published, store created or updated from that exact S3 version, CRLs
in step, ACTIVE) before the listener changes. Through the CLI, against moto and the trust
store fake; ``recorded`` holds every call the CLI made, with its parameters."""

from __future__ import annotations

import json

import pytest
from cryptography import x509

from tests.aws.conftest import BUCKET, SSL_POLICY, changes

pytestmark = pytest.mark.usefixtures("aws")

TARGET = f"s3://{BUCKET}/pki"
BUNDLE_KEY = "pki/ca-bundle.pem"
FRESH = [
    "PutObject",  # the bundle
    "CreateTrustStore",
    "PutObject",  # the root's CRL
    "PutObject",  # the issuing CA's CRL
    "AddTrustStoreRevocations",
    "AddTags",
    "AddTrustStoreRevocations",
    "AddTags",
    "ModifyListener",
]


@pytest.fixture
def publishing(aws_cli, bucket):
    """The CLI with ALBCA_PUBLISH_TO=s3://albca-trust/pki (a versioned bucket)."""
    aws_cli.env["ALBCA_PUBLISH_TO"] = TARGET
    return aws_cli


def enable(cli, alb, *extra: str, store: str = "albca"):
    return cli.ok(
        "alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", store,
        "--wait-seconds", "0.05", *extra,
    )  # fmt: skip


def operations(recorded) -> list[str]:
    return [call.operation for call in changes(recorded)]


def printed_calls(stdout: str) -> list[tuple[str, dict]]:
    """The ``service.operation {params}`` lines of a dry run, parsed."""
    calls = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith(("s3.", "elbv2.")):
            name, _, params = line.partition(" ")
            calls.append((name, json.loads(params)))
    return calls


def as_api_name(boto3_name: str) -> str:
    """``elbv2.add_trust_store_revocations`` -> ``AddTrustStoreRevocations``."""
    return "".join(part.title() for part in boto3_name.split(".", 1)[1].split("_"))


def latest_version(s3, key: str) -> str:
    version: str = s3.head_object(Bucket=BUCKET, Key=key)["VersionId"]
    return version


def versions(s3) -> list[str]:
    answer = s3.list_object_versions(Bucket=BUCKET)
    return [f"{v['Key']}@{v['VersionId']}" for v in answer.get("Versions", [])]


def listener_mtls(elbv2, alb) -> dict:
    (listener,) = elbv2.describe_listeners(ListenerArns=[alb.listener_arn])["Listeners"]
    mutual: dict = listener.get("MutualAuthentication", {})
    return mutual


def test_fresh_account_publishes_creates_feeds_waits_then_sets_the_listener(
    publishing, elbv2, s3, alb, trust_fake, recorded
):
    result = enable(publishing, alb)
    assert "Changed:" in result.stdout
    assert operations(recorded) == FRESH
    calls = changes(recorded)

    # The bundle went up, checked, as albca's bundle; the store loads that exact version.
    bundle = publishing.ok("bundle").stdout.encode()
    assert calls[0].params["Key"] == BUNDLE_KEY
    assert s3.get_object(Bucket=BUCKET, Key=BUNDLE_KEY)["Body"].read() == bundle
    version = latest_version(s3, BUNDLE_KEY)
    create = calls[1].params
    assert create["Name"] == "albca"
    assert create["CaCertificatesBundleS3Bucket"] == BUCKET
    assert create["CaCertificatesBundleS3Key"] == BUNDLE_KEY
    assert create["CaCertificatesBundleS3ObjectVersion"] == version
    tags = {tag["Key"]: tag["Value"] for tag in create["Tags"]}
    assert tags["albca:bundle-version"] == version
    assert tags["albca:bundle"] == f"s3://{BUCKET}/{BUNDLE_KEY}"
    assert "albca:ca" in tags
    (store,) = elbv2.describe_trust_stores(Names=["albca"])["TrustStores"]
    arn = store["TrustStoreArn"]

    # Each CRL went in at the exact version just published, one per CA of the bundle.
    crl_keys = [call.params["Key"] for call in calls[2:4]]
    added = [call.params["RevocationContents"][0] for call in calls if
             call.operation == "AddTrustStoreRevocations"]  # fmt: skip
    assert [(a["S3Key"], a["S3ObjectVersion"]) for a in added] == [
        (key, latest_version(s3, key)) for key in crl_keys
    ]
    assert len(trust_fake.revocation_locations(arn)) == 2

    # It was polled until ACTIVE (the fake says CREATING once) before anything used it.
    created_at = [c.operation for c in recorded].index("CreateTrustStore")
    first_crl = [c.operation for c in recorded].index("AddTrustStoreRevocations")
    polls = [
        c
        for c in recorded[created_at:first_crl]
        if c.operation == "DescribeTrustStores" and c.params.get("TrustStoreArns") == [arn]
    ]
    assert len(polls) == 2
    assert store["Status"] == "ACTIVE"

    # Then the listener, with its certificate and SSL policy and exactly these settings.
    assert calls[-1].params == {
        "ListenerArn": alb.listener_arn,
        "Certificates": [{"CertificateArn": alb.certificate_arn}],
        "SslPolicy": SSL_POLICY,
        "MutualAuthentication": {
            "Mode": "verify",
            "TrustStoreArn": arn,
            "IgnoreClientCertificateExpiry": False,
            "AdvertiseTrustStoreCaNames": "off",
        },
    }
    assert listener_mtls(elbv2, alb)["TrustStoreArn"] == arn
    assert "trust store albca created from" in result.stdout


def test_second_run_changes_nothing_and_says_so(publishing, elbv2, s3, alb, recorded):
    enable(publishing, alb)
    objects = versions(s3)
    recorded.clear()
    result = enable(publishing, alb)
    assert "Nothing to change: already in place." in result.stdout
    assert "trust store albca already holds" in result.stdout
    assert changes(recorded) == []
    assert versions(s3) == objects  # not even an identical bundle or CRL re-uploaded
    (store,) = elbv2.describe_trust_stores(Names=["albca"])["TrustStores"]
    by_arn = enable(publishing, alb, store=store["TrustStoreArn"])  # the same store, by ARN
    assert "Nothing to change" in by_arn.stdout
    assert changes(recorded) == []


def test_dry_run_prints_every_call_of_the_run_and_makes_none(publishing, elbv2, s3, alb, recorded):
    audit = publishing.json("audit")
    dry = enable(publishing, alb, "--dry-run")
    assert "Dry run: albca would make these changes (nothing was changed):" in dry.stdout
    assert changes(recorded) == []
    assert versions(s3) == []
    assert elbv2.describe_trust_stores()["TrustStores"] == []
    assert listener_mtls(elbv2, alb) == {"Mode": "off"}
    assert publishing.json("audit") == audit  # no CRL signed, nothing recorded as published

    planned = printed_calls(dry.stdout)
    enable(publishing, alb)
    assert [as_api_name(name) for name, _ in planned] == operations(recorded) == FRESH
    # What is known beforehand is printed as it is sent; the rest is marked.
    made = changes(recorded)
    assert planned[1][1]["Name"] == "albca"
    assert planned[1][1]["CaCertificatesBundleS3Key"] == made[1].params["CaCertificatesBundleS3Key"]
    assert planned[1][1]["CaCertificatesBundleS3ObjectVersion"] == "<known after the previous step>"
    assert planned[-1][1]["SslPolicy"] == SSL_POLICY
    assert planned[-1][1]["MutualAuthentication"]["TrustStoreArn"] == (
        "<known after the previous step>"
    )


def test_a_revocation_since_is_synced_into_the_store_and_nothing_else(
    publishing, elbv2, s3, alb, trust_fake, recorded
):
    enable(publishing, alb)
    (store,) = elbv2.describe_trust_stores(Names=["albca"])["TrustStores"]
    before = set(trust_fake.revocation_locations(store["TrustStoreArn"]))
    serial = publishing.json("issue", "client", "--cn", "mallory")["serial"]
    publishing.ok("revoke", serial, "--no-sync")
    status = publishing.ok("alb", "status", "--listener", alb.listener_arn).stdout
    assert "not in step" in status
    recorded.clear()

    dry = enable(publishing, alb, "--dry-run")
    assert changes(recorded) == []
    result = enable(publishing, alb)
    expected = [
        "PutObject", "PutObject",  # a CRL per CA; the bundle is unchanged
        "AddTrustStoreRevocations", "AddTags", "RemoveTrustStoreRevocations",
        "AddTrustStoreRevocations", "AddTags", "RemoveTrustStoreRevocations",
    ]  # fmt: skip
    assert operations(recorded) == expected
    assert [as_api_name(name) for name, _ in printed_calls(dry.stdout)] == expected
    removed = [r for c in changes(recorded) if c.operation == "RemoveTrustStoreRevocations"
               for r in c.params["RevocationIds"]]  # fmt: skip
    assert sorted(removed) == sorted(before)
    assert "its CRLs brought in step" in result.stdout

    # The store's CRL of the issuing CA lists mallory now.
    after = trust_fake.revocation_locations(store["TrustStoreArn"])
    listed = set()
    for location in after.values():
        body = s3.get_object(Bucket=location.bucket, Key=location.key,
                             VersionId=location.version_id)["Body"].read()  # fmt: skip
        listed |= {r.serial_number for r in x509.load_pem_x509_crl(body)}
    assert int(serial, 16) in listed
    status = publishing.ok("alb", "status", "--listener", alb.listener_arn).stdout
    assert "CRLs:        current" in status


def test_a_new_ca_in_the_bundle_updates_the_store_to_the_new_version(
    publishing, elbv2, s3, alb, recorded
):
    enable(publishing, alb)
    first = latest_version(s3, BUNDLE_KEY)
    publishing.ok("ca", "rotate", "--no-publish")  # a new issuing CA, in standby: trusted
    recorded.clear()
    dry = enable(publishing, alb, "--dry-run")
    enable(publishing, alb)
    done = operations(recorded)
    assert done[:3] == ["PutObject", "ModifyTrustStore", "AddTags"]
    assert done.count("AddTrustStoreRevocations") == 3  # root, old and new issuing CA
    assert "ModifyListener" not in done  # same store, same settings
    assert [as_api_name(name) for name, _ in printed_calls(dry.stdout)] == done
    second = latest_version(s3, BUNDLE_KEY)
    assert second != first
    modify = changes(recorded)[1].params
    assert modify["CaCertificatesBundleS3ObjectVersion"] == second
    recorded.clear()
    enable(publishing, alb)
    assert changes(recorded) == []


def test_a_store_not_active_in_time_leaves_the_listener_alone_and_a_rerun_finishes(
    publishing, elbv2, alb, recorded
):
    message = publishing.fails(
        "alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", "albca",
        "--wait-seconds", "0",
    )  # fmt: skip
    assert "trust store albca was created but does not hold its CRLs yet" in message
    assert "still CREATING after 0 s" in message
    assert operations(recorded) == ["PutObject", "CreateTrustStore"]
    assert listener_mtls(elbv2, alb) == {"Mode": "off"}
    recorded.clear()
    enable(publishing, alb)
    assert operations(recorded) == FRESH[2:]  # its CRLs, then the listener
    assert listener_mtls(elbv2, alb)["Mode"] == "verify"


def test_a_store_albca_does_not_feed_is_refused_naming_the_adopt_command(
    publishing, albca_store, alb, recorded
):
    message = publishing.fails(
        "alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", "albca"
    )
    assert "trust store albca exists but is not fed by this CA" in message
    assert "albca truststore update albca --adopt" in message
    assert changes(recorded) == []


def test_the_verify_listener_limit_is_checked_before_anything_is_published(
    publishing, elbv2, s3, alb, albca_store, recorded
):
    verify = {"Mode": "verify", "TrustStoreArn": albca_store}
    alb.https_listener(elbv2, 8443, MutualAuthentication=verify)
    alb.https_listener(elbv2, 9443, MutualAuthentication=verify)
    recorded.clear()
    message = publishing.fails(
        "alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", "new-store"
    )
    assert "already has 2 listeners in verify mode" in message
    assert changes(recorded) == []
    assert not [v for v in versions(s3) if v.startswith("pki/")]


def test_without_a_publish_target_the_store_must_exist_and_the_error_says_how(
    aws_cli, alb, recorded
):
    message = aws_cli.fails(
        "alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", "albca"
    )
    assert "TrustStoreNotFound" in message
    assert "no publish target is configured: set ALBCA_PUBLISH_TO=s3://BUCKET/PREFIX" in message
    assert "albca truststore create NAME" in message
    assert changes(recorded) == []


def test_a_file_publish_target_cannot_feed_a_trust_store_and_says_so(
    aws_cli, alb, recorded, tmp_path
):
    target = (tmp_path / "pki").as_uri()
    message = aws_cli.fails(
        "alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", "albca",
        env={"ALBCA_PUBLISH_TO": target},
    )  # fmt: skip
    assert f"ALBCA_PUBLISH_TO is {target}, but trust stores load their bundle from S3" in message
    assert changes(recorded) == []


def test_without_a_publish_target_an_existing_store_is_used_as_before(
    aws_cli, alb, albca_store, recorded
):
    aws_cli.ok("alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", "albca")
    assert operations(recorded) == ["ModifyListener"]


def test_status_reports_the_store_fed_by_this_ca(publishing, alb):
    enable(publishing, alb)
    status = publishing.json("alb", "status", "--listener", alb.listener_arn)
    (listener,) = status
    assert listener["albca"]["fed_by_this_ca"] is True
    assert listener["albca"]["crls"]["in_step"] is True
    assert [i["state"] for i in listener["albca"]["crls"]["issuers"]] == ["current", "current"]
    text = publishing.ok("alb", "status", "--listener", alb.listener_arn).stdout
    assert "fed by this CA; CRLs in step" in text


def test_status_says_whether_this_ca_feeds_the_store(
    aws_cli, alb, albca_store, bucket, elbv2, s3, monkeypatch
):
    aws_cli.ok("alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", "albca")
    text = aws_cli.ok("alb", "status", "--listener", alb.listener_arn).stdout
    assert "not fed by this CA (no albca:ca tag)" in text
    assert "albca truststore update albca --adopt" in text

    aws_cli.ok("truststore", "update", "albca", "--adopt", env={"ALBCA_PUBLISH_TO": TARGET})
    text = aws_cli.ok("alb", "status", "--listener", alb.listener_arn).stdout
    assert "fed by this CA; its CRLs are tracked with ALBCA_PUBLISH_TO" in text
    text = aws_cli.ok(
        "alb", "status", "--listener", alb.listener_arn, env={"ALBCA_PUBLISH_TO": TARGET}
    ).stdout
    assert "fed by this CA; CRLs in step" in text


def test_the_account_s_trust_store_quotas_reach_the_listener_s_trust_store(
    publishing, elbv2, s3, alb, recorded
):
    # ALBCA_TRUST_STORE_QUOTAS holds for the store `alb enable-mtls` feeds too, not only for
    # `truststore create`: with a quota of one CA certificate, albca's two-CA bundle is
    # refused before anything is uploaded or the listener changes.
    from albca.trust_bundle.errors import BundleRule

    publishing.env["ALBCA_TRUST_STORE_QUOTAS"] = '{"max_certificates": 1}'
    message = publishing.fails(
        "alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", "albca",
        "--wait-seconds", "0.05",
    )  # fmt: skip
    assert BundleRule.MAX_CERTIFICATES.value in message
    assert "the limit is 1" in message
    assert operations(recorded) == []
    assert listener_mtls(elbv2, alb).get("Mode", "off") == "off"
