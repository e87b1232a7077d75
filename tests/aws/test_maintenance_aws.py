"""Maintenance on a serverless CA under moto: DynamoDB store, S3 target, trust stores (the
faithful fake), ACM, and notices through SNS to an SQS queue."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from albca.ca.authority import Authority, AuthorityConfig
from albca.ca.certificates import ca_subject
from albca.ca.hierarchy import HierarchySpec, create_hierarchy
from albca.ca.keys import KeySpec, generate_private_key
from albca.ca.names import RequestedNames
from albca.ca.profiles import default_profiles
from albca.ca.records import CertificateRecord, RevocationReason, format_serial
from albca.ca.signer import PrivateKeySigner
from albca.ca.stores.dynamodb import DynamoDBStore
from albca.compose.infra import cloudfront_client_ca, server_certificate_issuer
from albca.emulated_aws import install_acm_rules, install_trust_store_fake
from albca.infra.acm_inventory import managed_certificates
from albca.infra.acm_renewal import RenewalCa, renew_in_place
from albca.infra.calls import Aws
from albca.infra.clients import AwsClients
from albca.trust_bundle.acm_renewals import renewal_due_at
from albca.trust_bundle.maintenance import Maintenance
from albca.trust_bundle.notices import RecordingSink, SnsSink
from albca.trust_bundle.publish import S3Publisher
from albca.trust_bundle.trust_stores import TrustStoreManager
from tests.aws.conftest import REGION
from tests.aws.failures import fail
from tests.aws.moto_at_scale import dynamodb_at_scale
from tests.aws.moto_support import create_table, serialized_moto
from tests.maintenance.helpers import MovingClock, each_notice, issue, published_crls

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# Hourly runs for 90 days (2,160 runs, two at once in every hour something is due: some
# 200), CRLs valid 1 day (re-signed every 12 hours: 180 cycles), on moto with
# ``dynamodb_at_scale`` (``tests/aws/moto_at_scale.py``). On moto as it is, 10 days took 52
# to 110 s here and 90 did not finish in 15 minutes: each Query sorted every item of the
# table (the audit trail grows each run) and every transaction's copy of the whole table was
# kept, some 15 MB a simulated day (``bench/maintenance_days_aws.py --plain-moto``: peak
# 184 MB at day 1, 302 MB at day 10; with the stand-in 181 and 182 MB). With it a day costs
# the same at day 90 as at day 1, and a run reads the same (70 items at day 5 and day 10:
# albca reads nothing more as history grows). Measured (``/usr/bin/time -v pytest -q
# tests/aws/test_maintenance_aws.py``, the 2 cores shared with three other sessions): 90
# days in 403 s of CPU, 825 s wall, peak 340 MB. Still above the 4 minutes wanted: a quiet
# run makes 22 to 25 requests, and moto spends most of it serializing the ~70 items a run
# reads (64 audit items: ``sync_state`` walks back to the last sync).
SIMULATED_DAYS = 90
CRL_VALIDITY = timedelta(days=1)


@dataclass
class Serverless:
    clock: MovingClock
    authority: Authority
    manager: TrustStoreManager
    fake: Any
    signers: dict[str, PrivateKeySigner]


def authority_over(table: str, clock: MovingClock, signers) -> Authority:
    """One process's view of the CA: its own store client over the shared table."""
    return Authority(
        store=DynamoDBStore(table, region=REGION),
        config=AuthorityConfig(profiles=default_profiles(), crl_validity=CRL_VALIDITY),
        resolve_signer=signers.__getitem__,
        clock=clock,
    )


def manager_over(authority: Authority, s3, bucket: str, elbv2) -> TrustStoreManager:
    from albca.trust_bundle.elbv2 import TrustStoreApi

    return TrustStoreManager(
        authority=authority,
        publisher=S3Publisher(s3, bucket, "pki"),
        api=TrustStoreApi(elbv2, sleep=lambda _seconds: None),
        poll_seconds=0,
    )


@pytest.fixture
def serverless(aws, s3, bucket, elbv2, trust_fake):
    """A CA on DynamoDB (clock movable) publishing to S3 and feeding one trust store."""
    create_table("albca-maint", region=REGION)
    clock = MovingClock(datetime.now(UTC).replace(microsecond=0))
    signers = {
        "mem:root": PrivateKeySigner(generate_private_key(KeySpec.EC_P256), location="mem:root"),
        "mem:issuing": PrivateKeySigner(
            generate_private_key(KeySpec.EC_P256), location="mem:issuing"
        ),
    }
    authority = authority_over("albca-maint", clock, signers)
    create_hierarchy(
        store=authority.store,
        spec=HierarchySpec(
            root_subject=ca_subject("Maint Root CA"),
            issuing_subject=ca_subject("Maint Issuing CA"),
        ),
        root_signer=signers["mem:root"],
        issuing_signer=signers["mem:issuing"],
        now=clock(),
        actor="test",
    )
    manager = manager_over(authority, s3, bucket, elbv2)
    manager.create("maint-store", actor="test")
    return Serverless(clock, authority, manager, trust_fake, signers)


@pytest.fixture
def topic_queue(aws):
    """An SNS topic with an SQS queue subscribed: what a notice reaches."""
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="albca-notices")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="albca-notices")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return sns, topic, sqs, queue_url


def drain(sqs, queue_url) -> list[dict]:
    messages = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        batch = got.get("Messages", [])
        if not batch:
            return messages
        for message in batch:
            messages.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def import_managed_certificate(lifetime: timedelta, now: datetime) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "svc.internal.example")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + lifetime)
        .sign(key, hashes.SHA256())
    )
    acm = boto3.client("acm", region_name=REGION)
    arn: str = acm.import_certificate(
        Certificate=certificate.public_bytes(serialization.Encoding.PEM),
        PrivateKey=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        Tags=[{"Key": "albca:managed-by", "Value": "alb-listener:svc.internal.example"}],
    )["CertificateArn"]
    return arn


def held_crls(fake, store_arn, s3, versions: dict) -> list[x509.CertificateRevocationList]:
    """The CRLs the trust store holds, read at the exact S3 versions it loaded. A version
    once read is kept in ``versions``: an S3 object version never changes (a write makes
    a new one: "Retaining multiple versions of objects with S3 Versioning", S3 User
    Guide), so reading it again each hour would only cost time."""
    crls = []
    for location in fake.revocation_locations(store_arn).values():
        where = (location.bucket, location.key, location.version_id)
        if where not in versions:
            body = s3.get_object(
                Bucket=location.bucket, Key=location.key, VersionId=location.version_id
            )["Body"].read()
            versions[where] = x509.load_pem_x509_crl(body)
        crls.append(versions[where])
    return crls


def import_albcas_listener_certificate(authority, lifetime: timedelta) -> tuple[str, int]:
    """A listener certificate from the CA in ACM, tagged as ``alb server-cert`` tags it."""
    issued = authority.issue_with_new_key(
        profile="server",
        names=RequestedNames.of(dns_names=["svc.internal.example"]),
        requested_by="test",
        lifetime=lifetime,
    )
    acm = boto3.client("acm", region_name=REGION)
    install_acm_rules(acm)
    arn: str = acm.import_certificate(
        Certificate=issued.certificate.public_bytes(serialization.Encoding.PEM),
        PrivateKey=issued.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        CertificateChain=b"".join(c.public_bytes(serialization.Encoding.PEM) for c in issued.chain),
        Tags=[{"Key": "albca:managed-by", "Value": "alb-listener:svc.internal.example"}],
    )["CertificateArn"]
    return arn, issued.record.serial


def keep_tags_on_reimport(acm) -> None:
    """moto replaces a certificate re-imported in place by a new one without its tags; ACM
    keeps the certificate (its ARN, its associations: "Reimport a certificate", ACM User
    Guide) and so its tags, which a re-import may not change ("You cannot apply resource
    tags when reimporting a certificate", same page). Without this, the renewed certificate
    loses its ``albca:managed-by`` tag in moto and is never renewed again."""
    held: dict[str, list] = {}

    def before(params, **_):
        arn = params.get("CertificateArn")
        if arn:
            held[arn] = acm.list_tags_for_certificate(CertificateArn=arn).get("Tags", [])

    def after(http_response, parsed, **_):
        arn = parsed.get("CertificateArn")
        tags = held.pop(arn, None)
        if tags and http_response.status_code == 200:
            acm.add_tags_to_certificate(CertificateArn=arn, Tags=tags)

    acm.meta.events.register("provide-client-params.acm.ImportCertificate", before)
    acm.meta.events.register("after-call.acm.ImportCertificate", after)


def renewer(authority, clock):
    """What ``albca.compose.maintenance.acm_renewer`` wires, on ACM clients that keep
    ACM's re-import rules (the fake: moto keeps none of them)."""
    ca = RenewalCa(
        client=cloudfront_client_ca(authority, key_spec=None, actor="maintenance"),
        issue_server=server_certificate_issuer(authority, actor="maintenance"),
    )

    def with_rules(service: str, client) -> None:
        if service == "acm":
            install_acm_rules(client)
            keep_tags_on_reimport(client)

    def renew(certificate):
        def due(current):
            start, end = current.not_valid_before_utc, current.not_valid_after_utc
            return clock.now >= renewal_due_at(start, end, 2 / 3)

        aws = Aws(AwsClients(region=REGION, configure=with_rules), dry_run=False)
        return renew_in_place(
            aws, certificate.arn, purpose=certificate.purpose, ca=ca, due=due, now=clock.now
        )

    return renew


def acm_validity(acm, arn: str) -> tuple[int, datetime, datetime]:
    got = acm.get_certificate(CertificateArn=arn)
    leaf = x509.load_pem_x509_certificate(got["Certificate"].encode())
    return leaf.serial_number, leaf.not_valid_before_utc, leaf.not_valid_after_utc


THRESHOLDS = (30, 7, 1)  # days before notAfter: MaintenancePolicy's default


def crossings(record: CertificateRecord) -> dict[int, datetime]:
    """When each expiry threshold applies to ``record``: ``days`` before its notAfter, for
    a certificate whose life (from its issue) is longer than that (issue 14)."""
    life = record.not_after - record.issued_at
    return {
        days: record.not_after - timedelta(days=days)
        for days in THRESHOLDS
        if timedelta(days=days) < life
    }


def maintenance_for(serverless: Serverless, authority: Authority, manager, sns, topic):
    """What one Lambda container runs: its own store client and trust store client, one
    AWS client factory kept across invocations (a new one each hour made botocore load its
    models again: a fifth of the time)."""
    inventory_clients = AwsClients(region=REGION)
    return Maintenance(
        authority=authority,
        publisher=manager.publisher,
        sync=lambda: manager.revocation_sync(include_roots=True),
        sinks=[SnsSink(sns, topic)],
        managed_certificates=lambda: managed_certificates(
            Aws(inventory_clients, dry_run=True), [REGION]
        ),
        renew_managed=renewer(authority, serverless.clock),
    )


@pytest.mark.slow
def test_ninety_days_of_hourly_runs_on_dynamodb_s3_and_a_trust_store(
    serverless, topic_queue, s3, bucket, monkeypatch
):
    clock, authority, manager, fake = (
        serverless.clock,
        serverless.authority,
        serverless.manager,
        serverless.fake,
    )
    sns, topic, sqs, queue_url = topic_queue
    stack = ExitStack()
    stack.enter_context(dynamodb_at_scale())
    # moto's ACM refuses a certificate not valid at its own "now": make that the clock's.
    monkeypatch.setattr("moto.acm.models.utcnow", lambda: clock.now.replace(tzinfo=None))
    start = clock.now
    end = start + (SIMULATED_DAYS * 24 - 1) * HOUR  # the last run
    acm_arn, first_listener = import_albcas_listener_certificate(authority, 6 * DAY)  # due day 4
    lifetimes = {"ninety": 90 * DAY, "forty": 40 * DAY, "ten": 10 * DAY, "three": 3 * DAY}
    serials = {name: issue(authority, name, life) for name, life in lifetimes.items()}
    serials["revoked"] = issue(authority, "revoked", 40 * DAY)
    revoked_at_hour, late_at_hour = 3 * 24, 45 * 24
    # The certificates whose notices are expected (all but the revoked one), read once.
    tracked = {s: authority.store.get_certificate(s) for s in [first_listener, *serials.values()]}
    del tracked[serials["revoked"]]

    # A second Lambda container running maintenance at the same moments: its own store and
    # trust store clients over the same table, bucket and trust store.
    elbv2_other = boto3.client("elbv2", region_name=REGION)
    install_trust_store_fake(elbv2_other, fake=fake)
    other_authority = authority_over("albca-maint", clock, serverless.signers)
    runners = [
        maintenance_for(serverless, authority, manager, sns, topic),
        maintenance_for(
            serverless,
            other_authority,
            manager_over(other_authority, s3, bucket, elbv2_other),
            sns,
            topic,
        ),
    ]
    pool = stack.enter_context(ThreadPoolExecutor(max_workers=2))
    acm = boto3.client("acm", region_name=REGION)
    in_acm_now = acm_validity(acm, acm_arn)
    in_acm = {in_acm_now[0]}
    store_arn, crl_versions = manager.api.get("maint-store").arn, {}
    outage_hour = 30
    outage = None
    notices: list[dict] = []
    crl_numbers: dict[str, int] = {}
    last_signed: datetime | None = None
    renewals = concurrent_hours = 0
    left_acm: dict[int, datetime] = {}  # the run that replaced a certificate in ACM
    with stack:
        for hour in range(SIMULATED_DAYS * 24):
            if hour == revoked_at_hour:
                authority.revoke(
                    serials["revoked"], RevocationReason.KEY_COMPROMISE, requested_by="t"
                )
            if hour == late_at_hour:  # a second wave, issued mid-way
                serials["late"] = issue(authority, "late", 30 * DAY)
                tracked[serials["late"]] = authority.store.get_certificate(serials["late"])
            if hour == outage_hour:
                failure = fail(s3, "PutObject", "AccessDenied")  # the next upload is refused
            # Two runs at once whenever something is due: a CRL to re-sign, a threshold
            # crossed, an ACM certificate to renew (known from the certificates, not from
            # albca); one run in the hours between, where two would only double the time.
            _, not_before, not_after = in_acm_now
            due = [at for record in tracked.values() for at in crossings(record).values()]
            due.append(not_before + (not_after - not_before) * 2 / 3)
            crl_due = last_signed is None or clock.now >= last_signed + CRL_VALIDITY / 2
            if crl_due or any(clock.now - HOUR < at <= clock.now for at in due):
                concurrent_hours += 1
                with serialized_moto():
                    reports = list(pool.map(lambda runner: runner.run(), runners))
            else:
                reports = [runners[hour % 2].run()]
            failed = [r for r in reports if not r.ok]
            signed = [r for r in reports if r.job("crl").done]
            renewals += sum(len(r.job("acm").done) for r in reports)
            if outage is None and hour >= outage_hour and failure.failed:
                outage = hour
                assert len(failed) == 1
                assert "access denied" in " ".join(failed[0].job("crl").failed)
            elif outage is not None and hour == outage + 1:
                assert not failed, [r.failures for r in failed]
                assert signed, "the run after the outage re-signs what it left"
            else:
                assert not failed, (hour, [r.failures for r in failed])
            assert len(signed) <= 1, f"hour {hour}: two runs signed CRLs"
            if signed:
                last_signed = clock.now
            published = published_crls(authority, manager.publisher)
            held = held_crls(fake, store_arn, s3, crl_versions)
            for crl in [*published.values(), *held]:
                assert clock.now < crl.next_update_utc, f"hour {hour}: a CRL passed its nextUpdate"
            for key_id, crl in published.items():
                number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
                step = number - crl_numbers.get(key_id, number)
                # One number per signing run; the outage took one whose CRL never went out.
                assert step <= (2 if outage is not None and hour == outage + 1 else 1), hour
                crl_numbers[key_id] = number
            if revoked_at_hour <= hour < 40 * 24:  # revoked, and not yet expired (RFC 5280 3.3)
                assert serials["revoked"] in {entry.serial_number for crl in held for entry in crl}
            replaced_serial = in_acm_now[0]
            in_acm_now = acm_validity(acm, acm_arn)  # the same ARN throughout
            serial, not_before, not_after = in_acm_now
            assert not_before <= clock.now < not_after, f"hour {hour}: ACM's certificate expired"
            if serial not in in_acm:
                in_acm.add(serial)
                tracked[serial] = authority.store.get_certificate(serial)
                left_acm[replaced_serial] = clock.now
            notices += [json.loads(m["Message"]) for m in drain(sqs, queue_url)]
            clock.advance(HOUR)

    assert outage is not None
    assert concurrent_hours > 180  # every CRL cycle at least
    expiry = Counter(
        (n["detail"]["serial"], n["detail"]["threshold_days"])
        for message in notices
        for n in each_notice(message)
        if n["kind"] == "expiry"
    )
    # A threshold is told in the first run at or after it, unless a run before that one
    # replaced the certificate in ACM: its ARN holds the new one, and the old one's key
    # was in ACM only, so its expiry is news to no one (the acm job runs first).
    expected = {
        (format_serial(serial), days)
        for serial, record in tracked.items()
        for days, at in crossings(record).items()
        if at <= min(end, left_acm.get(serial, end + HOUR) - HOUR)
    }
    assert set(expiry) == expected
    assert all(count == 1 for count in expiry.values()), expiry
    # Every threshold of the leaf certificates and none of the listener certificates': the
    # one ACM held first (6 days) was replaced at day 4, before its 1-day threshold; the
    # first renewal (90 days) was replaced in the run its 30-day threshold fell in (both
    # at two thirds of its life); the second renewal's thresholds fall after day 90.
    assert len(expected) == 3 + 3 + 2 + 1 + 2
    assert not {serial for serial, _days in expiry} & {format_serial(s) for s in left_acm}
    assert len(left_acm) == 2
    # Renewed twice (at two thirds of the 6 days, then of the 90), in place, before expiry,
    # once each though two runs were at it; nothing to tell by hand.
    assert len(in_acm) == 3
    assert renewals == 2
    assert not [n for n in notices if n["kind"].startswith("acm-renewal")]


def test_a_certificate_replaced_in_acm_gets_no_expiry_notice(serverless, monkeypatch):
    clock, authority = serverless.clock, serverless.authority
    monkeypatch.setattr("moto.acm.models.utcnow", lambda: clock.now.replace(tzinfo=None))
    arn, replaced = import_albcas_listener_certificate(authority, 6 * DAY)  # due at day 4
    kept = issue(authority, "kept", 6 * DAY)  # the same life, in no ACM: still told
    sink = RecordingSink("sns")
    runner = Maintenance(
        authority=authority,
        publisher=serverless.manager.publisher,
        sync=lambda: serverless.manager.revocation_sync(include_roots=True),
        sinks=[sink],
        managed_certificates=lambda: managed_certificates(
            Aws(AwsClients(region=REGION), dry_run=True), [REGION]
        ),
        renew_managed=renewer(authority, clock),
    )
    clock.advance(4 * DAY + HOUR)
    assert runner.run().job("acm").done  # replaced in place
    acm = boto3.client("acm", region_name=REGION)
    assert acm_validity(acm, arn)[0] != replaced
    clock.advance(DAY)  # both certificates now within a day of their notAfter

    report = runner.run()

    told = {n["detail"]["serial"] for m in sink.delivered for n in each_notice(m.to_json())
            if n["kind"] == "expiry"}  # fmt: skip
    assert told == {format_serial(kept)}
    assert [line for line in report.job("expiry").due if format_serial(replaced) in line] == []
    # Replaced, not revoked: ELB may still present it until the re-import reaches it.
    assert authority.store.get_certificate(replaced).revoked_at is None


def test_sns_subject_is_what_sns_accepts(topic_queue):
    from albca.trust_bundle.notices import Notice

    sns, topic, sqs, queue_url = topic_queue
    long_text = "certificate \u00e9\u00e9 " + "x" * 300 + "\nsecond line"
    SnsSink(sns, topic).deliver(Notice("k", "expiry", long_text, {"serial": "1a"}))
    (message,) = drain(sqs, queue_url)
    assert len(message["Subject"]) < 100
    assert message["Subject"].isascii()
    assert "\n" not in message["Subject"]
    assert json.loads(message["Message"])["detail"] == {"serial": "1a"}
    assert message["MessageAttributes"]["kind"]["Value"] == "expiry"


def test_sns_failure_is_a_delivery_failure(topic_queue):
    from albca.trust_bundle.notices import DeliveryFailed, Notice

    sns, topic, _sqs, _queue = topic_queue
    with pytest.raises(DeliveryFailed, match="NotFound"):
        SnsSink(sns, topic + "-gone").deliver(Notice("k", "expiry", "text"))
