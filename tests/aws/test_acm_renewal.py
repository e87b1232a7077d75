"""``albca maintain`` renews the certificates albca imported into ACM, in place, under
moto with the ACM fake (its re-import rules: same key type and size, no usage dropped, no
tags; ``albca.emulated_aws.acm_rules``): an ALB listener's, a stack-owned listener's and a
CloudFront origin's client certificate; a failure is a notice, an audit event and exit 1;
two runs at once renew once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from albca.trust_bundle.notices import RecordingSink
from tests.aws.conftest import REGION, changes
from tests.aws.failures import Failure
from tests.aws.test_acm_cli import acm_leaf, server_cert
from tests.aws.test_alb_server_cert_cli import listener_certificate
from tests.aws.test_cloudfront_cli import (
    alb_dns_name,
    command,
    make_distribution,
    origin_certificate_arn,
)
from tests.aws.test_maintenance_aws import import_managed_certificate

pytestmark = pytest.mark.usefixtures("aws")

# Renew anything past a millionth of its life: a certificate issued a moment ago is due,
# so the test needs no clock that moves (the share is a setting, ALBCA_MAINTAIN_ACM_RENEW).
DUE_NOW = {"ALBCA_MAINTAIN_ACM": "on", "ALBCA_MAINTAIN_ACM_RENEW": "0.000001"}


@pytest.fixture
def distribution(cloudfront, elbv2, alb) -> str:
    return make_distribution(cloudfront, alb_dns_name(elbv2, alb))


def maintain(aws_cli, env=DUE_NOW, *, exit_code: int = 0) -> dict:
    result = aws_cli("maintain", "--json", env=env)
    assert result.exit_code == exit_code, result.output
    report: dict = json.loads(result.stdout)
    return report


def job(report: dict, name: str) -> dict:
    return next(j for j in report["jobs"] if j["name"] == name)


def acm_renew_events(aws_cli) -> list[dict]:
    return [e for e in aws_cli.json("audit") if e["action"] == "acm-renew"]


def test_maintain_renews_a_listener_certificate_in_place(aws_cli, alb, elbv2, recorded):
    aws_cli.ok(*server_cert(alb, "--key-type", "ec-p384"))
    arn = listener_certificate(elbv2, alb.listener_arn)
    old = acm_leaf(arn)
    recorded.clear()

    report = maintain(aws_cli)

    assert job(report, "acm")["done"] == [f"{arn} (alb-listener:service.internal.example) "
                                          "re-imported in place"]  # fmt: skip
    (reimport,) = changes(recorded)  # no listener change: the ARN stays the listener's
    assert reimport.operation == "ImportCertificate"
    assert reimport.params["CertificateArn"] == arn
    assert "Tags" not in reimport.params  # ACM takes no tags on a re-import
    assert listener_certificate(elbv2, alb.listener_arn) == arn
    new = acm_leaf(arn)
    assert new.serial_number != old.serial_number
    assert new.public_key() != old.public_key()  # albca keeps no key: a new one...
    key = new.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp384r1"  # ...of the same type and size
    (event,) = acm_renew_events(aws_cli)
    assert event["detail"]["arn"] == arn
    assert event["detail"]["replaced_serial"] == f"{old.serial_number:x}"


def test_a_certificate_not_yet_two_thirds_through_its_life_is_left(aws_cli, alb, recorded):
    aws_cli.ok(*server_cert(alb))
    recorded.clear()
    report = maintain(aws_cli, {"ALBCA_MAINTAIN_ACM": "on"})
    assert job(report, "acm")["due"] == []
    assert changes(recorded) == []


def test_a_stack_owned_listener_certificate_is_renewed_without_touching_the_listener(
    aws_cli, alb, elbv2, recorded
):
    shown = json.loads(aws_cli.ok(*server_cert(alb, "--stack-owned", "--json")).stdout)
    arn = shown["certificate_arn"]
    recorded.clear()
    maintain(aws_cli)
    (reimport,) = changes(recorded)
    assert reimport.params["CertificateArn"] == arn
    assert listener_certificate(elbv2, alb.listener_arn) == alb.certificate_arn  # the stack's


def test_a_cloudfront_origin_client_certificate_is_renewed_in_place(
    aws_cli,
    cloudfront,
    distribution,
    albca_store,
    recorded,
):
    aws_cli.ok(*command(distribution, "--trust-store", "albca"))
    arn = origin_certificate_arn(cloudfront, distribution)
    old = acm_leaf(arn, "us-east-1")
    recorded.clear()
    maintain(aws_cli)
    (reimport,) = changes(recorded)  # no UpdateDistribution: it keeps the ARN
    assert reimport.operation == "ImportCertificate"
    assert reimport.params["CertificateArn"] == arn
    assert origin_certificate_arn(cloudfront, distribution) == arn
    new = acm_leaf(arn, "us-east-1")
    assert new.serial_number != old.serial_number
    assert new.subject == old.subject
    assert type(new.public_key()) is type(old.public_key())


def test_a_failed_renewal_is_a_notice_an_audit_event_and_exit_1_then_retried(
    aws_cli, alb, elbv2, recorded, monkeypatch
):
    aws_cli.ok(*server_cert(alb))
    arn = listener_certificate(elbv2, alb.listener_arn)
    # The first ImportCertificate of any client the factory makes is refused.
    refusal = Failure("ImportCertificate", "AccessDeniedException")
    import albca.compose.aws as compose_aws

    factory = compose_aws.aws_clients

    def failing(region):
        clients = factory(region)
        acm = clients.client("acm")
        if not getattr(acm, "_refusal", None):
            acm._refusal = True
            acm.meta.events.register_first("before-call.acm.ImportCertificate", refusal)
        return clients

    monkeypatch.setattr(compose_aws, "aws_clients", failing)
    report = maintain(aws_cli, exit_code=1)
    assert refusal.failed == 1
    (failure,) = job(report, "acm")["failed"]
    assert arn in failure
    assert "AccessDenied" in failure
    (event,) = acm_renew_events(aws_cli)
    assert "AccessDenied" in event["detail"]["error"]
    maintain_event = next(e for e in aws_cli.json("audit") if e["action"] == "maintain")
    assert any(arn in line for line in maintain_event["detail"]["failed"])

    # The claim was given back: the next run renews it.
    recorded.clear()
    report = maintain(aws_cli)
    assert job(report, "acm")["done"]
    assert [c.operation for c in changes(recorded)] == ["ImportCertificate"]


def test_a_failed_renewal_is_announced_once_naming_the_command(aws_cli, monkeypatch):
    # A certificate tagged by albca but no longer from its CA (re-imported by hand):
    # albca refuses to renew it, every run fails, and the notice goes out once.
    from albca.cli.context import open_cli_services
    from albca.compose.maintenance import maintenance_for

    arn = import_managed_certificate(timedelta(days=30), datetime.now(UTC) - timedelta(days=1))
    for name, value in {**aws_cli.env, **DUE_NOW}.items():
        monkeypatch.setenv(name, value)
    sink = RecordingSink("webhook")
    services = open_cli_services()
    try:
        for _ in range(2):
            report = maintenance_for(services, sinks=[sink]).run()
            assert not report.ok
            assert "no longer a certificate for svc.internal.example" in report.failures[0]
    finally:
        services.close()
    failed = [n for n in sink.delivered if n.kind == "acm-renewal-failed"]
    assert len(failed) == 1
    assert arn in failed[0].text
    assert "albca alb server-cert --listener LISTENER_ARN --domain svc.internal.example" in (
        failed[0].text
    )


def test_two_runs_at_once_renew_once(aws_cli, alb, elbv2, recorded, monkeypatch):
    # The second run starts while the first holds the renewal's claim (inside its call to
    # ACM): it must leave the certificate alone, and no run after the first renews it again
    # at the default share (the new certificate is fresh).
    from albca.cli.context import open_cli_services
    from albca.compose.maintenance import maintenance_for

    aws_cli.ok(*server_cert(alb))
    arn = listener_certificate(elbv2, alb.listener_arn)
    for name, value in {**aws_cli.env, **DUE_NOW}.items():
        monkeypatch.setenv(name, value)
    services = open_cli_services()
    inner: list = []
    try:
        first = maintenance_for(services, sinks=[])
        renew = first.acm_renewals.renew
        assert renew is not None

        def renew_while_another_run_starts(certificate):
            inner.append(maintenance_for(services, sinks=[]).run())
            return renew(certificate)

        first.acm_renewals.renew = renew_while_another_run_starts
        recorded.clear()
        outer = first.run()
    finally:
        services.close()
    (second,) = inner
    assert second.ok
    assert job(second.to_json(), "acm")["done"] == []
    assert outer.ok
    assert len(job(outer.to_json(), "acm")["done"]) == 1
    assert [c.params.get("CertificateArn") for c in changes(recorded)] == [arn]
    assert len(acm_renew_events(aws_cli)) == 1
    assert boto3.client("acm", region_name=REGION).get_certificate(CertificateArn=arn)
