"""Certificates in ACM: what an ARN holds, and importing (or re-importing in place).

ACM's import rules (AWS_NOTES, "ACM"): PEM; an unencrypted private key of at most 5 KB
that matches the certificate; a certificate valid now; the chain given separately. Passing
``CertificateArn`` re-imports in place, so listeners and distributions that use the ARN
pick up the new certificate without being touched, as long as the re-import keeps ACM's
rules (``infra.acm_rules``); otherwise a new certificate is imported and the caller points
its listener or distribution at it. ACM never renews an imported certificate: albca
re-imports before expiry.

Each new import carries the tag ``albca:managed-by`` = what it is for, so a rerun after a
failure between the import and its use finds and reuses it (``find_imported``) instead of
importing another. Right after an import, ELBv2 and CloudFront may not see the new ARN for
a while (``CertificateNotFound``, ``UnsupportedCertificate``, ``InvalidViewerCertificate``):
``retry_until_seen`` retries the call that uses it, within a bound.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from albca.ca.errors import UnsupportedKey
from albca.ca.keys import CAKey, KeySpec, key_spec_of
from albca.infra.acm_rules import acm_tag_value, key_algorithm, reimport_refusal
from albca.infra.calls import Aws
from albca.infra.cert_checks import load_certificate, require_matching_key, require_valid_at
from albca.infra.errors import AwsSetupError, CertificateUnusable, SetupRefused
from albca.infra.waiting import Wait
from albca.trust_bundle.planning import PLACEHOLDER

__all__ = [
    "AcmCertificate",
    "ImportMaterial",
    "inspect_certificate",
    "import_certificate",
    "find_imported",
    "retry_until_seen",
    "propagation_wait",
    "UNSEEN_CODES",
]

MAX_PRIVATE_KEY_BYTES = 5 * 1024
TAG_MANAGED_BY = "albca:managed-by"  # value: what the certificate is for (acm_tag_value)
# ListCertificates returns only RSA_1024 and RSA_2048 certificates unless asked for the
# other key types (botocore's acm model, Filters.keyTypes).
_ALL_KEY_TYPES = (
    "RSA_1024",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "EC_prime256v1",
    "EC_secp384r1",
    "EC_secp521r1",
)
# What ELBv2 (CertificateNotFound, UnsupportedCertificate) and CloudFront
# (InvalidViewerCertificate) answer while a just-imported certificate has not reached
# them: terraform-provider-aws retries these (its issues 3901, 10294, 41789; for CloudFront
# pull request 4698, which allows one minute).
UNSEEN_CODES = frozenset(
    {"CertificateNotFound", "UnsupportedCertificate", "InvalidViewerCertificate"}
)
T = TypeVar("T")


def propagation_wait() -> Wait:
    """How long a call using a just-imported certificate is retried: a minute, as
    terraform-provider-aws allows CloudFront (pull request 4698)."""
    return Wait(seconds=60, interval=5)


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
        signer = next((ca for ca in self.chain if ca.subject == self.certificate.issuer), None)
        if signer is not None:  # ImportCertificate: the leaf's key algorithm is its CA's
            leaf, ca = (
                key_algorithm(self.certificate.public_key()),
                key_algorithm(signer.public_key()),
            )
            if leaf != ca:
                raise CertificateUnusable(
                    f"{source}: the certificate has an {leaf} key but its CA "
                    f"({signer.subject.rfc4514_string()}) an {ca} key; ACM imports a "
                    "certificate only when its key algorithm is its signing CA's",
                    source=source,
                )
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
    replace: AcmCertificate | None = None,
    key_spec: KeySpec | None = None,
    now: datetime,
    in_place_only: bool = False,
) -> str:
    """Import ``material`` (re-import in place of ``replace`` when ACM's re-import rules
    allow it, else as a new certificate); return the ARN.

    ``material`` is None in a dry run, where the certificate was not issued: the call is
    recorded with placeholders (``key_spec``, the key type it will have, decides whether it
    can be a re-import). ``purpose`` is recorded as a tag on a new import (ACM takes no
    tags on a re-import).

    ``in_place_only``: nothing would use a new certificate (maintenance renews what a
    listener or distribution already points at), so a re-import ACM would refuse raises
    ``SetupRefused`` instead of importing a new one.
    """
    replace_arn = None
    if replace is not None:
        replace_arn = _reimport_arn(aws, replace, material, key_spec, in_place_only)
    params: dict[str, Any] = {}
    if replace_arn is not None:
        params["CertificateArn"] = replace_arn
    else:
        params["Tags"] = [{"Key": TAG_MANAGED_BY, "Value": acm_tag_value(purpose)}]
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


def _reimport_arn(
    aws: Aws,
    replace: AcmCertificate,
    material: ImportMaterial | None,
    key_spec: KeySpec | None,
    in_place_only: bool,
) -> str | None:
    """``replace.arn`` if the new certificate can be re-imported in place of it."""
    old = replace.certificate
    if old is None:
        return replace.arn
    if material is not None:
        refusal = reimport_refusal(old, material.certificate)
    else:
        try:
            old_spec = key_spec_of(old.public_key())
        except UnsupportedKey:
            old_spec = None
        changes = key_spec is not None and old_spec is not None and key_spec != old_spec
        refusal = f"the key type would change to {key_spec}" if changes else None
    if refusal is None:
        return replace.arn
    if in_place_only:
        raise SetupRefused(
            f"{replace.arn} cannot be re-imported in place: {refusal} (ACM User Guide, "
            '"Reimport a certificate")',
            rule="a re-import keeps the key type and size and every key usage",
        )
    aws.note(
        f"{replace.arn} cannot be re-imported in place ({refusal}; ACM User Guide, "
        f'"Reimport a certificate"): a new certificate is imported and used instead; delete '
        f"{replace.arn} once nothing uses it"
    )
    return None


def find_imported(
    aws: Aws,
    *,
    purpose: str,
    region: str | None,
    usable: Callable[[x509.Certificate], bool],
) -> str | None:
    """The newest certificate albca imported for ``purpose`` (its ``albca:managed-by``
    tag) that is ``usable``: what an earlier run imported but could not put to use."""
    wanted = {"Key": TAG_MANAGED_BY, "Value": acm_tag_value(purpose)}
    found: list[tuple[datetime, str]] = []
    params: dict[str, Any] = {"Includes": {"keyTypes": list(_ALL_KEY_TYPES)}}
    while True:
        page = aws.read("acm", "list_certificates", region=region, **params)
        for summary in page.get("CertificateSummaryList", []):
            arn = summary["CertificateArn"]
            if summary.get("Type", "IMPORTED") != "IMPORTED":
                continue
            tags = aws.read("acm", "list_tags_for_certificate", region=region, CertificateArn=arn)
            if wanted not in tags.get("Tags", []):
                continue
            certificate = inspect_certificate(aws, arn, region=region).certificate
            if certificate is not None and usable(certificate):
                found.append((certificate.not_valid_after_utc, arn))
        if not page.get("NextToken"):
            break
        params["NextToken"] = page["NextToken"]
    return max(found)[1] if found else None


def retry_until_seen(aws: Aws, wait: Wait, use: Callable[[], T]) -> T:
    """Make ``use`` (a call that uses a just-imported certificate), again after
    ``wait.interval`` while AWS answers that it does not see the certificate yet, up to
    ``wait.seconds``; a retried call stays on the record once."""
    start = len(aws.actions)
    for attempt in range(wait.polls + 1):
        try:
            return use()
        except AwsSetupError as exc:
            if getattr(exc, "aws_code", None) not in UNSEEN_CODES or attempt == wait.polls:
                raise
            del aws.actions[start:]  # the next attempt records the call again
            wait.sleep(wait.interval)
    raise AssertionError("unreachable")  # pragma: no cover
