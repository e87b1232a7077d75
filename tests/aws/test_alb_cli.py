"""``albca alb``: mutual TLS on listeners, through the CLI, against moto and the fake.

moto drops ``MutualAuthentication``, so each test checks the exact parameters the CLI sent
(``recorded``) and what the fake stored, and that what AWS refuses is refused.
"""

from __future__ import annotations

import json

import pytest

from tests.aws.conftest import BUCKET, SSL_POLICY, changes, make_alb, put_object

pytestmark = pytest.mark.usefixtures("aws")


def mutual_authentication(elbv2, listener_arn) -> dict:
    (listener,) = elbv2.describe_listeners(ListenerArns=[listener_arn])["Listeners"]
    return listener.get("MutualAuthentication", {})


def test_enable_verify_sends_certificate_policy_and_mode(
    aws_cli, elbv2, alb, albca_store, recorded
):
    result = aws_cli.ok(
        "alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", "albca"
    )
    assert "Changed:" in result.stdout
    (modify,) = changes(recorded)
    assert modify.operation == "ModifyListener"
    assert modify.params == {
        "ListenerArn": alb.listener_arn,
        "Certificates": [{"CertificateArn": alb.certificate_arn}],
        "SslPolicy": SSL_POLICY,
        "MutualAuthentication": {
            "Mode": "verify",
            "TrustStoreArn": albca_store,
            "IgnoreClientCertificateExpiry": False,
            "AdvertiseTrustStoreCaNames": "off",
        },
    }
    stored = mutual_authentication(elbv2, alb.listener_arn)
    assert stored["Mode"] == "verify"
    assert stored["TrustStoreArn"] == albca_store


def test_enable_twice_changes_nothing_the_second_time(aws_cli, alb, albca_store, recorded):
    args = ("alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", albca_store)
    aws_cli.ok(*args)
    recorded.clear()
    second = aws_cli.ok(*args)
    assert "Nothing to change" in second.stdout
    assert changes(recorded) == []


def test_options_are_sent_and_a_change_of_option_is_a_change(
    aws_cli, elbv2, alb, albca_store, recorded
):
    base = ("alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", "albca")
    aws_cli.ok(*base)
    recorded.clear()
    aws_cli.ok(*base, "--advertise-ca-names", "--ignore-client-cert-expiry")
    (modify,) = changes(recorded)
    assert modify.params["MutualAuthentication"]["AdvertiseTrustStoreCaNames"] == "on"
    assert modify.params["MutualAuthentication"]["IgnoreClientCertificateExpiry"] is True
    assert mutual_authentication(elbv2, alb.listener_arn)["AdvertiseTrustStoreCaNames"] == "on"


def test_dry_run_prints_the_call_and_makes_none(aws_cli, elbv2, alb, albca_store, recorded):
    result = aws_cli.ok(
        "alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", "albca",
        "--dry-run",
    )  # fmt: skip
    assert "Dry run" in result.stdout
    (line,) = [line for line in result.stdout.splitlines() if "elbv2.modify_listener" in line]
    printed = json.loads(line.split("elbv2.modify_listener ", 1)[1])
    assert printed["MutualAuthentication"]["TrustStoreArn"] == albca_store
    assert printed["SslPolicy"] == SSL_POLICY
    assert changes(recorded) == []
    assert mutual_authentication(elbv2, alb.listener_arn) == {"Mode": "off"}


def test_passthrough(aws_cli, elbv2, alb, recorded):
    aws_cli.ok("alb", "enable-mtls", "--listener", alb.listener_arn, "--mode", "passthrough")
    (modify,) = changes(recorded)
    assert modify.params["MutualAuthentication"] == {"Mode": "passthrough"}
    assert mutual_authentication(elbv2, alb.listener_arn) == {"Mode": "passthrough"}


@pytest.mark.parametrize(
    "option", ["--advertise-ca-names", "--ignore-client-cert-expiry"], ids=["advertise", "expiry"]
)
def test_verify_only_options_are_refused_in_passthrough(aws_cli, alb, recorded, option):
    message = aws_cli.fails(
        "alb", "enable-mtls", "--listener", alb.listener_arn, "--mode", "passthrough", option
    )
    assert option in message
    assert "verify mode" in message
    assert changes(recorded) == []


def test_verify_without_a_trust_store_is_refused(aws_cli, alb, recorded):
    message = aws_cli.fails("alb", "enable-mtls", "--listener", alb.listener_arn)
    assert "--trust-store" in message
    assert changes(recorded) == []


def test_a_listener_already_verifying_keeps_its_trust_store(aws_cli, alb, albca_store, recorded):
    aws_cli.ok("alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", "albca")
    recorded.clear()
    result = aws_cli.ok("alb", "enable-mtls", "--listener", alb.listener_arn)
    assert "Nothing to change" in result.stdout
    assert albca_store in result.stdout


def test_http_listener_is_refused_in_one_line(aws_cli, elbv2, alb, albca_store, recorded):
    http = elbv2.create_listener(
        LoadBalancerArn=alb.load_balancer_arn,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}],
    )["Listeners"][0]["ListenerArn"]
    for args in (("enable-mtls", "--trust-store", "albca"), ("disable-mtls",)):
        message = aws_cli.fails("alb", args[0], "--listener", http, *args[1:])
        assert "is HTTP on port 80, not HTTPS" in message
    assert changes(recorded) == []


def test_unknown_listener_arn_is_one_line(aws_cli, alb, albca_store):
    message = aws_cli.fails(
        "alb", "enable-mtls", "--listener", alb.listener_arn + "0", "--trust-store", "albca"
    )
    assert "ListenerNotFound" in message


def test_unknown_trust_store_is_one_line(aws_cli, alb, recorded):
    message = aws_cli.fails(
        "alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", "no-such-store"
    )
    assert "TrustStoreNotFound" in message
    assert changes(recorded) == []


def test_third_verify_listener_is_refused_before_aws_is_asked(
    aws_cli, elbv2, alb, albca_store, recorded
):
    verify = {"Mode": "verify", "TrustStoreArn": albca_store}
    alb.https_listener(elbv2, 8443, MutualAuthentication=verify)
    alb.https_listener(elbv2, 9443, MutualAuthentication=verify)
    recorded.clear()
    message = aws_cli.fails(
        "alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", "albca"
    )
    assert "already has 2 listeners in verify mode (HTTPS:8443, HTTPS:9443)" in message
    assert changes(recorded) == []
    # Passthrough is not limited.
    aws_cli.ok("alb", "enable-mtls", "--listener", alb.listener_arn, "--mode", "passthrough")


def test_trust_store_still_creating_is_refused(aws_cli, elbv2, s3, bucket, alb, recorded):
    bundle = aws_cli.ok("bundle").stdout.encode()
    version = put_object(s3, "creating.pem", bundle)
    elbv2.create_trust_store(
        Name="creating",
        CaCertificatesBundleS3Bucket=BUCKET,
        CaCertificatesBundleS3Key="creating.pem",
        CaCertificatesBundleS3ObjectVersion=version,
    )
    message = aws_cli.fails(
        "alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", "creating",
        "--wait-seconds", "0",
    )  # fmt: skip
    assert "is CREATING, not ACTIVE" in message
    assert changes(recorded) == []


def test_enable_waits_for_the_trust_store_to_become_active(
    aws_cli, elbv2, s3, bucket, alb, recorded
):
    bundle = aws_cli.ok("bundle").stdout.encode()
    version = put_object(s3, "soon.pem", bundle)
    elbv2.create_trust_store(
        Name="soon",
        CaCertificatesBundleS3Bucket=BUCKET,
        CaCertificatesBundleS3Key="soon.pem",
        CaCertificatesBundleS3ObjectVersion=version,
    )  # the fake reports it CREATING once, then ACTIVE
    aws_cli.ok(
        "alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", "soon",
        "--wait-seconds", "0.05",
    )  # fmt: skip
    statuses = [c for c in recorded if c.operation == "DescribeTrustStores"]
    assert len(statuses) == 2
    assert mutual_authentication(elbv2, alb.listener_arn)["Mode"] == "verify"


def test_disable_sends_mode_off_explicitly_once(aws_cli, elbv2, alb, albca_store, recorded):
    aws_cli.ok("alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", "albca")
    recorded.clear()
    aws_cli.ok("alb", "disable-mtls", "--listener", alb.listener_arn)
    (modify,) = changes(recorded)
    assert modify.params == {
        "ListenerArn": alb.listener_arn,
        "Certificates": [{"CertificateArn": alb.certificate_arn}],
        "SslPolicy": SSL_POLICY,
        "MutualAuthentication": {"Mode": "off"},
    }
    assert mutual_authentication(elbv2, alb.listener_arn) == {"Mode": "off"}
    recorded.clear()
    assert (
        "Nothing to change"
        in aws_cli.ok("alb", "disable-mtls", "--listener", alb.listener_arn).stdout
    )
    assert changes(recorded) == []


def test_status_shows_mode_trust_store_bundle_and_crls(aws_cli, alb, albca_store):
    aws_cli.ok("alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", "albca")
    (status,) = aws_cli.json("alb", "status", "--load-balancer", alb.load_balancer_arn)
    assert status["mode"] == "verify"
    assert status["trust_store"] == "albca"
    assert status["trust_store_status"] == "ACTIVE"
    assert status["bundle"].startswith("current (sha256 ")
    assert status["crls"] == "none loaded (nothing revoked)"


def test_status_says_which_revocations_the_trust_store_lacks(aws_cli, alb, albca_store):
    aws_cli.ok("alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", "albca")
    issued = aws_cli.json("issue", "client", "--cn", "mallory", "--out", str(aws_cli.workdir))
    aws_cli.ok("revoke", issued["serial"], "--reason", "key-compromise")
    (status,) = aws_cli.json("alb", "status", "--listener", alb.listener_arn)
    assert status["crls"].startswith("stale: 1 revocation of CN=albca Issuing CA missing")
    assert "albca truststore sync" in status["crls"]
    table = aws_cli.ok("alb", "status", "--load-balancer", "albca-test").stdout
    assert "verify" in table
    assert "albca (ACTIVE)" in table


def test_status_reads_every_page_of_the_trust_store_s_revocations(aws_cli, alb, bucket, trust_fake):
    # AWS may return fewer entries than PageSize asks for; albca must follow NextMarker
    # (issue 13, point 9). The fake returns one CRL per page here.
    aws_cli.env["ALBCA_PUBLISH_TO"] = f"s3://{bucket}/pki"
    trust_fake.creating_polls = 0
    aws_cli.ok("truststore", "create", "prod")  # the root's CRL and the issuing CA's
    trust_fake.max_page_size = 1
    aws_cli.ok("alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", "prod")
    issued = aws_cli.json("issue", "client", "--cn", "mallory", "--out", str(aws_cli.workdir))
    aws_cli.ok("revoke", issued["serial"], "--reason", "key-compromise")
    (status,) = aws_cli.json("alb", "status", "--listener", alb.listener_arn)
    assert status["crls"].startswith("current (2 CRLs, 1 entry)"), status["crls"]


def test_status_shows_a_bundle_that_is_not_albca_s(
    aws_cli, elbv2, alb, trust_fake, s3, bucket, trust_cas
):
    from tests.trust_factories import bundle_pem

    version = put_object(s3, "other.pem", bundle_pem(trust_cas))
    other = elbv2.create_trust_store(
        Name="other",
        CaCertificatesBundleS3Bucket=BUCKET,
        CaCertificatesBundleS3Key="other.pem",
        CaCertificatesBundleS3ObjectVersion=version,
    )["TrustStores"][0]["TrustStoreArn"]
    trust_fake.activate(other)
    aws_cli.ok("alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", other)
    (status,) = aws_cli.json("alb", "status", "--listener", alb.listener_arn)
    assert status["bundle"].startswith("differs from albca's bundle: missing ")
    assert (
        "also holds CN=Fake Test Root,O=Example Corp, CN=Fake Test Issuing CA" in status["bundle"]
    )


def test_another_load_balancer_is_untouched(aws_cli, elbv2, alb, albca_store):
    other = make_alb(elbv2, name="albca-other")
    aws_cli.ok("alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", "albca")
    assert mutual_authentication(elbv2, other.listener_arn) == {"Mode": "off"}
