"""Certificates in ACM: what an ARN holds, and importing (or re-importing in place).

ACM's import rules (AWS_NOTES, "ACM"): PEM; an unencrypted private key of at most 5 KB
that matches the certificate; a certificate valid now; the chain given separately. Passing
``CertificateArn`` re-imports in place, so listeners and distributions that use the ARN
pick up the new certificate without being touched. ACM never renews an imported
certificate: albca re-imports before expiry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from albca.ca.keys import CAKey
from albca.infra.calls import Aws
from albca.infra.cert_checks import load_certificate, require_matching_key, require_valid_at
from albca.infra.errors import CertificateUnusable
from albca.trust_bundle.planning import PLACEHOLDER

__all__ = ["AcmCertificate", "ImportMaterial", "inspect_certificate", "import_certificate"]

MAX_PRIVATE_KEY_BYTES = 5 * 1024
TAG_MANAGED_BY = "albca:managed-by"  # value: what the certificate is for
_MAX_TAG_VALUE = 256


@dataclass(frozen=True)
class AcmCertificate:
    arn: str
    type: str  # IMPORTED, AMAZON_ISSUED, PRIVATE
    certificate: x509.Certificate | None  # only for IMPORTED certificates
    in_use_by: tuple[str, ...]


@dataclass(frozen=True)
class ImportMaterial:
    """A certificate, its key and its chain (issuing CAs, leaf's issuer first)."""

    certificate: x509.Certificate
    private_key: CAKey
    chain: tuple[x509.Certificate, ...]

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    def private_key_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def check(self, now: datetime, *, source: str) -> None:
        """What ACM checks on import, checked first so the error names the problem."""
        require_matching_key(self.certificate, self.private_key, source=source)
        require_valid_at(self.certificate, now, source=source, purpose="ACM")
        size = len(self.private_key_pem())
        if size > MAX_PRIVATE_KEY_BYTES:
            raise CertificateUnusable(
                f"{source}: the private key takes {size} bytes as PEM; ACM accepts at most "
                f"{MAX_PRIVATE_KEY_BYTES}",
                source=source,
            )


def inspect_certificate(aws: Aws, arn: str, *, region: str | None = None) -> AcmCertificate:
    """What the certificate ARN holds; an IAM server certificate (not ACM) is reported as
    type ``IAM`` without its content: albca never made one."""
    if ":acm:" not in arn:
        return AcmCertificate(arn=arn, type="IAM", certificate=None, in_use_by=())
    described = aws.read("acm", "describe_certificate", region=region, CertificateArn=arn)
    details = described["Certificate"]
    certificate = None
    if details.get("Type") == "IMPORTED":
        got = aws.read("acm", "get_certificate", region=region, CertificateArn=arn)
        certificate = load_certificate(got["Certificate"].encode(), source=arn)
    return AcmCertificate(
        arn=arn,
        type=str(details.get("Type", "")),
        certificate=certificate,
        in_use_by=tuple(details.get("InUseBy", ())),
    )


def import_certificate(
    aws: Aws,
    material: ImportMaterial | None,
    *,
    purpose: str,
    region: str | None = None,
    replace_arn: str | None = None,
    now: datetime,
) -> str:
    """Import ``material`` (re-import in place at ``replace_arn``); return the ARN.

    ``material`` is None in a dry run, where the certificate was not issued: the call is
    recorded with placeholders. ``purpose`` is recorded as a tag on a new import (ACM
    takes no tags on a re-import).
    """
    params: dict[str, Any] = {}
    if replace_arn is not None:
        params["CertificateArn"] = replace_arn
    else:
        params["Tags"] = [{"Key": TAG_MANAGED_BY, "Value": purpose[:_MAX_TAG_VALUE]}]
    if material is None:
        shown: Mapping[str, object] = {
            **params,
            "Certificate": "<the certificate albca will issue>",
            "PrivateKey": "<private key, not shown>",
            "CertificateChain": "<the issuing CA>",
        }
        aws.change("acm", "import_certificate", region=region, shown=shown, **params)
        return replace_arn or PLACEHOLDER
    material.check(now, source=replace_arn or "the certificate to import")
    if material.chain:
        params["CertificateChain"] = material.chain_pem
    response = aws.change(
        "acm",
        "import_certificate",
        region=region,
        Certificate=material.certificate_pem,
        PrivateKey=material.private_key_pem(),
        **params,
    )
    if response is None:
        return replace_arn or PLACEHOLDER
    arn: str = response["CertificateArn"]
    return arn
