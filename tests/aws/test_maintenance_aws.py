"""Maintenance on a serverless CA under moto: DynamoDB store, S3 target, trust stores (the
faithful fake), ACM, and notices through SNS to an SQS queue."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

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
from albca.ca.records import format_serial
from albca.ca.signer import PrivateKeySigner
from albca.ca.stores.dynamodb import DynamoDBStore
from albca.compose.infra import cloudfront_client_ca, server_certificate_issuer
from albca.emulated_aws import install_acm_rules
from albca.infra.acm_inventory import managed_certificates
from albca.infra.acm_renewal import RenewalCa, renew_in_place
from albca.infra.calls import Aws
from albca.infra.clients import AwsClients
from albca.trust_bundle.acm_renewals import renewal_due_at
from albca.trust_bundle.maintenance import Maintenance
from albca.trust_bundle.notices import SnsSink
from albca.trust_bundle.publish import S3Publisher
from albca.trust_bundle.trust_stores import TrustStoreManager
from tests.aws.conftest import REGION
from tests.aws.failures import fail
from tests.aws.moto_support import create_table
from tests.maintenance.helpers import MovingClock, each_notice, issue, published_crls

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# Hourly runs for 10 days, with CRLs valid 1 day (so re-signed every 12 hours: 20 cycles).
# A run makes some 31 requests to moto now (50 before the audit trail was read once a run
# and the CRL lease taken only when something is due), about 5 ms each here: 10 days take
# about 52 s. 90 days did not finish in 15 minutes here: moto answers an index query by
# looking at every item in the table, and the process grew past 2 GB as the hours went by.
SIMULATED_DAYS = 10
CRL_VALIDITY = timedelta(days=1)


@pytest.fixture
def serverless(aws, s3, bucket, elbv2, trust_fake):
    """A CA on DynamoDB (clock movable) publishing to S3 and feeding one trust store."""
    create_table("albca-maint", region=REGION)
    clock = MovingClock(datetime.now(UTC).replace(microsecond=0))
    store = DynamoDBStore("albca-maint", region=REGION)
    signers = {
        "mem:root": PrivateKeySigner(generate_private_key(KeySpec.EC_P256), location="mem:root"),
        "mem:issuing": PrivateKeySigner(
            generate_private_key(KeySpec.EC_P256), location="mem:issuing"
        ),
    }
    create_hierarchy(
        store=store,
        spec=HierarchySpec(
            root_subject=ca_subject("Maint Root CA"),
            issuing_subject=ca_subject("Maint Issuing CA"),
        ),
        root_signer=signers["mem:root"],
        issuing_signer=signers["mem:issuing"],
        now=clock(),
        actor="test",
    )
    authority = Authority(
        store=store,
        config=AuthorityConfig(profiles=default_profiles(), crl_validity=CRL_VALIDITY),
        resolve_signer=signers.__getitem__,
        clock=clock,
    )
    from albca.trust_bundle.elbv2 import TrustStoreApi

    manager = TrustStoreManager(
        authority=authority,
        publisher=S3Publisher(s3, bucket, "pki"),
        api=TrustStoreApi(elbv2, sleep=lambda _seconds: None),
        poll_seconds=0,
    )
    manager.create("maint-store", actor="test")
    return clock, authority, manager, trust_fake


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


def test_days_of_hourly_runs_on_dynamodb_s3_and_a_trust_store(
    serverless, topic_queue, s3, monkeypatch
):
    clock, authority, manager, fake = serverless
    sns, topic, sqs, queue_url = topic_queue
    # moto's ACM refuses a certificate not valid at its own "now": make that the clock's.
    monkeypatch.setattr("moto.acm.models.utcnow", lambda: clock.now.replace(tzinfo=None))
    acm_arn, acm_serial = import_albcas_listener_certificate(authority, 6 * DAY)  # due day 4
    lifetimes = {"ten": 10 * DAY, "three": 3 * DAY, "eight": 8 * DAY}
    serials = {name: issue(authority, name, life) for name, life in lifetimes.items()}
    # One client factory for the runs, as one Lambda container keeps for its invocations
    # (a new one each hour made botocore load its models again: a fifth of the time).
    inventory_clients = AwsClients(region=REGION)
    acm = boto3.client("acm", region_name=REGION)
    maintenance = Maintenance(
        authority=authority,
        publisher=manager.publisher,
        sync=lambda: manager.revocation_sync(include_roots=True),
        sinks=[SnsSink(sns, topic)],
        managed_certificates=lambda: managed_certificates(
            Aws(inventory_clients, dry_run=True), [REGION]
        ),
        renew_managed=renewer(authority, clock),
    )
    in_acm = {acm_validity(acm, acm_arn)[0]}
    store_arn, crl_versions = manager.api.get("maint-store").arn, {}
    outage_hour = 30
    outage = None
    notices: list[dict] = []
    for hour in range(SIMULATED_DAYS * 24):
        if hour == outage_hour:
            failure = fail(s3, "PutObject", "AccessDenied")  # the next upload is refused
        report = maintenance.run()
        if outage is None and hour >= outage_hour and failure.failed:
            outage = hour
            assert not report.ok
            assert "access denied" in " ".join(report.job("crl").failed)
        elif outage is not None and hour == outage + 1:
            assert report.ok, report.failures
            assert report.job("crl").done
        else:
            assert report.ok, (hour, report.failures)
        for crl in [
            *published_crls(authority, manager.publisher).values(),
            *held_crls(fake, store_arn, s3, crl_versions),
        ]:
            assert clock.now < crl.next_update_utc, f"hour {hour}: a CRL passed its nextUpdate"
        serial, not_before, not_after = acm_validity(acm, acm_arn)  # the same ARN throughout
        assert not_before <= clock.now < not_after, f"hour {hour}: ACM's certificate expired"
        in_acm.add(serial)
        notices += [json.loads(m["Message"]) for m in drain(sqs, queue_url)]
        clock.advance(HOUR)

    assert outage is not None
    expiry = Counter(
        (n["detail"]["serial"], n["detail"]["threshold_days"])
        for message in notices
        for n in each_notice(message)
        if n["kind"] == "expiry"
    )
    assert expiry == {
        (format_serial(serials["ten"]), 7): 1,  # day 3
        (format_serial(serials["ten"]), 1): 1,  # day 9
        (format_serial(serials["eight"]), 7): 1,  # day 1
        (format_serial(serials["eight"]), 1): 1,  # day 7
        (format_serial(serials["three"]), 1): 1,  # day 2
        # The listener certificate ACM no longer holds stays valid in the store until its
        # notAfter (albca does not revoke what it replaced), so it is announced too.
        (format_serial(acm_serial), 1): 1,  # day 5
    }
    # Renewed once (at two thirds of its 6 days), in place, before it expired; nothing to
    # tell by hand.
    assert len(in_acm) == 2
    assert not [n for n in notices if n["kind"].startswith("acm-renewal")]


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
