"""How long the ALB trust store checks and the emulated trust store take.

Prints: check_bundle on a full 25-certificate bundle; check_crl on CRLs of 100,000 and
500,000 entries (built with the product's encoder); and, against the fake behind a real
boto3 client on moto S3, add_trust_store_revocations of those CRLs (S3 read + check).

    .venv/bin/python bench/trust_store_checks.py
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from albca.ca.certificates import build_issuing_certificate, build_root_certificate
from albca.ca.crl import build_crl
from albca.ca.records import RevokedEntry
from albca.ca.signer import PrivateKeySigner
from albca.trust_bundle import check_bundle, check_crl

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _timed(label: str, function, repeat: int = 1):
    start = time.perf_counter()
    for _ in range(repeat):
        result = function()
    elapsed = (time.perf_counter() - start) / repeat
    print(f"{label:<62} {elapsed * 1000:9.1f} ms")
    return result


def main() -> None:
    root_signer = PrivateKeySigner(ec.generate_private_key(ec.SECP256R1()), "memory")
    root = build_root_certificate(
        signer=root_signer,
        subject=_name("Bench Root"),
        not_before=NOW,
        not_after=NOW + timedelta(days=3650),
    )
    certificates = [root]
    for n in range(24):
        key = ec.generate_private_key(ec.SECP256R1())
        certificates.append(
            build_issuing_certificate(
                root=root,
                root_signer=root_signer,
                public_key=key.public_key(),
                subject=_name(f"Bench Issuing {n}"),
                not_before=NOW,
                not_after=NOW + timedelta(days=365),
            )
        )
    bundle = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)
    _timed("check_bundle, 25 certificates (EC P-256)", lambda: check_bundle(bundle), repeat=20)

    crls = {}
    for entries in (100_000, 500_000):
        document = build_crl(
            issuer=root,
            signer=root_signer,
            number=entries,
            this_update=NOW,
            next_update=NOW + timedelta(days=7),
            entries=(RevokedEntry(s, 1_767_268_800, 1) for s in range(1, entries + 1)),
        )
        crls[entries] = document.pem
        _timed(
            f"check_crl, {entries:,} entries ({len(document.pem) / 1e6:.1f} MB PEM)",
            lambda pem=document.pem: check_crl(pem, [root]),
        )

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    import boto3
    from moto import mock_aws

    from albca.emulated_aws import install_trust_store_fake

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        elbv2 = boto3.client("elbv2", region_name="us-east-1")
        install_trust_store_fake(elbv2, s3, creating_polls=0)
        s3.create_bucket(Bucket="bench")
        s3.put_bucket_versioning(Bucket="bench", VersioningConfiguration={"Status": "Enabled"})
        version = s3.put_object(Bucket="bench", Key="bundle.pem", Body=bundle)["VersionId"]
        arn = elbv2.create_trust_store(
            Name="bench",
            CaCertificatesBundleS3Bucket="bench",
            CaCertificatesBundleS3Key="bundle.pem",
            CaCertificatesBundleS3ObjectVersion=version,
        )["TrustStores"][0]["TrustStoreArn"]
        for entries, pem in crls.items():
            crl_version = s3.put_object(Bucket="bench", Key="crl.pem", Body=pem)["VersionId"]
            content = {
                "S3Bucket": "bench",
                "S3Key": "crl.pem",
                "S3ObjectVersion": crl_version,
                "RevocationType": "CRL",
            }
            added = _timed(
                f"fake add_trust_store_revocations, {entries:,} entries",
                lambda content=content: elbv2.add_trust_store_revocations(
                    TrustStoreArn=arn, RevocationContents=[content]
                ),
            )
            revocation_id = added["TrustStoreRevocations"][0]["RevocationId"]
            elbv2.remove_trust_store_revocations(TrustStoreArn=arn, RevocationIds=[revocation_id])


if __name__ == "__main__":
    main()
