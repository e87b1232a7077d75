"""``albca alb server-cert`` and ``enable-mtls --server-cert``: the Lambda-to-internal-ALB
scenario. The listener gets a certificate from albca's CA through ACM, which a client
trusting only albca's bundle accepts for the domain."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification
from cryptography.x509.oid import NameOID

from tests.aws.conftest import REGION, SSL_POLICY, changes

pytestmark = pytest.mark.usefixtures("aws")

DOMAIN = "service.internal.example"


def listener_certificate(elbv2, listener_arn) -> str:
    (listener,) = elbv2.describe_listeners(ListenerArns=[listener_arn])["Listeners"]
    arn: str = listener["Certificates"][0]["CertificateArn"]
    return arn


def acm_certificate(arn) -> tuple[x509.Certificate, list[x509.Certificate]]:
    got = boto3.client("acm", region_name=REGION).get_certificate(CertificateArn=arn)
    chain = x509.load_pem_x509_certificates(got.get("CertificateChain", "").encode() or b"")
    return x509.load_pem_x509_certificate(got["Certificate"].encode()), chain


def accepted_by_a_client_trusting_only_the_bundle(bundle_pem: bytes, leaf, chain, name: str):
    """What a Lambda function with REQUESTS_CA_BUNDLE=ca-bundle.pem checks."""
    store = verification.Store(x509.load_pem_x509_certificates(bundle_pem))
    verifier = (
        verification.PolicyBuilder()
        .store(store)
        .time(datetime.now(UTC))
        .build_server_verifier(x509.DNSName(name))
    )
    verifier.verify(leaf, chain)


def test_issues_imports_and_sets_a_certificate_clients_trust(aws_cli, elbv2, alb, recorded):
    result = aws_cli.ok("alb", "server-cert", "--listener", alb.listener_arn, "--domain", DOMAIN)
    assert "issue a server certificate for service.internal.example" in result.stdout
    imported, modified = changes(recorded)
    assert imported.operation == "ImportCertificate"
    assert imported.params["Tags"] == [
        {"Key": "albca:managed-by", "Value": f"alb-listener:{DOMAIN}"}
    ]
    assert modified.operation == "ModifyListener"
    new_arn = listener_certificate(elbv2, alb.listener_arn)
    assert new_arn != alb.certificate_arn
    assert modified.params == {
        "ListenerArn": alb.listener_arn,
        "Certificates": [{"CertificateArn": new_arn}],
        "SslPolicy": SSL_POLICY,
    }
    leaf, chain = acm_certificate(new_arn)
    bundle = aws_cli.ok("bundle").stdout.encode()
    accepted_by_a_client_trusting_only_the_bundle(bundle, leaf, chain, DOMAIN)
    with pytest.raises(verification.VerificationError):
        accepted_by_a_client_trusting_only_the_bundle(bundle, leaf, chain, "other.example")


def test_second_run_changes_nothing_and_renew_reimports_in_place(aws_cli, elbv2, alb, recorded):
    args = ("alb", "server-cert", "--listener", alb.listener_arn, "--domain", DOMAIN)
    aws_cli.ok(*args)
    arn = listener_certificate(elbv2, alb.listener_arn)
    first, _ = acm_certificate(arn)
    recorded.clear()
    assert "Nothing to change" in aws_cli.ok(*args).stdout
    assert changes(recorded) == []

    aws_cli.ok(*args, "--renew")
    (reimport,) = changes(recorded)  # the listener keeps the same ARN: no modify_listener
    assert reimport.operation == "ImportCertificate"
    assert reimport.params["CertificateArn"] == arn
    assert "Tags" not in reimport.params
    renewed, _ = acm_certificate(arn)
    assert renewed.serial_number != first.serial_number
    assert listener_certificate(elbv2, alb.listener_arn) == arn


def test_enable_mtls_with_server_cert_is_one_listener_change(
    aws_cli, elbv2, alb, albca_store, recorded
):
    aws_cli.ok(
        "alb", "enable-mtls", "--listener", alb.listener_arn, "--trust-store", "albca",
        "--server-cert", "--domain", DOMAIN,
    )  # fmt: skip
    imported, modified = changes(recorded)
    assert imported.operation == "ImportCertificate"
    assert modified.params["Certificates"] == [
        {"CertificateArn": listener_certificate(elbv2, alb.listener_arn)}
    ]
    assert modified.params["MutualAuthentication"]["TrustStoreArn"] == albca_store
    assert modified.params["SslPolicy"] == SSL_POLICY


def test_dry_run_issues_nothing_and_shows_no_key(aws_cli, elbv2, alb, recorded):
    result = aws_cli.ok(
        "alb", "server-cert", "--listener", alb.listener_arn, "--domain", DOMAIN, "--dry-run"
    )
    assert "albca: issue a server certificate for service.internal.example" in result.stdout
    assert "acm.import_certificate" in result.stdout
    assert "<private key, not shown>" in result.stdout
    assert "BEGIN" not in result.stdout
    assert changes(recorded) == []
    assert aws_cli.json("list")["certificates"] == []
    assert listener_certificate(elbv2, alb.listener_arn) == alb.certificate_arn


def write_pair(directory, *, key=None, days=30, name="mine", dns_name=DOMAIN):
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DOMAIN)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=60))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / f"{name}.crt.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path = directory / f"{name}.key.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_own_certificate_is_imported_once(aws_cli, elbv2, alb, recorded, tmp_path):
    cert, key = write_pair(tmp_path)
    args = ("alb", "server-cert", "--listener", alb.listener_arn, "--cert", str(cert))
    aws_cli.ok(*args, "--key", str(key))
    assert [c.operation for c in changes(recorded)] == ["ImportCertificate", "ModifyListener"]
    recorded.clear()
    assert "Nothing to change" in aws_cli.ok(*args, "--key", str(key)).stdout


def test_certificate_without_its_key_is_refused(aws_cli, alb, recorded, tmp_path):
    cert, _ = write_pair(tmp_path, name="a")
    _, other_key = write_pair(tmp_path, name="b")
    message = aws_cli.fails(
        "alb", "server-cert", "--listener", alb.listener_arn,
        "--cert", str(cert), "--key", str(other_key),
    )  # fmt: skip
    assert "the private key does not match the certificate" in message
    assert str(cert) in message
    assert changes(recorded) == []


def test_expired_certificate_is_refused_for_acm(aws_cli, alb, recorded, tmp_path):
    cert, key = write_pair(tmp_path, days=-1)
    message = aws_cli.fails(
        "alb", "server-cert", "--listener", alb.listener_arn,
        "--cert", str(cert), "--key", str(key),
    )  # fmt: skip
    assert "expired" in message
    assert "ACM refuses expired certificates" in message
    assert changes(recorded) == []


def test_server_cert_needs_domain_or_files(aws_cli, alb):
    assert "--domain" in aws_cli.fails("alb", "server-cert", "--listener", alb.listener_arn)
    message = aws_cli.fails(
        "alb", "enable-mtls", "--listener", alb.listener_arn, "--mode", "passthrough",
        "--server-cert",
    )  # fmt: skip
    assert "--server-cert needs --domain" in message


def test_a_stack_owned_listener_is_not_changed_and_gets_the_arn_to_put_in_the_stack(
    aws_cli, elbv2, alb, recorded
):
    # Seed "Copilot multi-account": a stack owns the listener; changing it is drift.
    args = ("alb", "server-cert", "--listener", alb.listener_arn, "--domain", DOMAIN)
    shown = json.loads(aws_cli.ok(*args, "--stack-owned", "--json").stdout)
    assert [c.operation for c in changes(recorded)] == ["ImportCertificate"]
    assert listener_certificate(elbv2, alb.listener_arn) == alb.certificate_arn  # untouched
    assert shown["listener_certificate_arn"] == alb.certificate_arn
    arn = shown["certificate_arn"]
    assert arn != alb.certificate_arn
    leaf, chain = acm_certificate(arn)
    bundle = aws_cli.ok("bundle").stdout.encode()
    accepted_by_a_client_trusting_only_the_bundle(bundle, leaf, chain, DOMAIN)
    assert any(arn in note and "stack" in note for note in shown["notes"])
    # A rerun finds the certificate it imported (by its tag) instead of importing another.
    recorded.clear()
    again = json.loads(aws_cli.ok(*args, "--stack-owned", "--json").stdout)
    assert again["certificate_arn"] == arn
    assert changes(recorded) == []
    # Once the stack points the listener at it, renewals re-import in place: same ARN.
    elbv2.modify_listener(ListenerArn=alb.listener_arn, Certificates=[{"CertificateArn": arn}])
    recorded.clear()
    renewed = json.loads(aws_cli.ok(*args, "--stack-owned", "--renew", "--json").stdout)
    assert renewed["certificate_arn"] == arn
    assert [c.operation for c in changes(recorded)] == ["ImportCertificate"]
    assert changes(recorded)[0].params["CertificateArn"] == arn
    assert not any("left as its stack made it" in note for note in renewed["notes"])
