"""Which certificates albca imported into ACM, and when each expires: for maintenance.

Found by the ``albca:managed-by`` tag albca puts on a new import (``infra.acm``): its value
(encoded by ``acm_rules.acm_tag_value``) says what the certificate is for,
``alb-listener:<name>`` or ``cloudfront-origin:<distribution>/<origin>``, and so which
command re-imports it.
"""

from __future__ import annotations

from collections.abc import Iterable

from albca.infra.acm import TAG_MANAGED_BY
from albca.infra.acm_rules import acm_tag_text
from albca.infra.calls import Aws
from albca.trust_bundle.maintenance import ManagedCertificate

__all__ = ["managed_certificates", "command_for", "KEY_TYPES"]

# ListCertificates "Default filtering returns only RSA_1024 and RSA_2048 certificates"
# (botocore's acm model, Filters.keyTypes): ask for every key type ACM knows.
KEY_TYPES = (
    "RSA_1024",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "EC_prime256v1",
    "EC_secp384r1",
    "EC_secp521r1",
)


def managed_certificates(aws: Aws, regions: Iterable[str | None]) -> list[ManagedCertificate]:
    """Every IMPORTED certificate carrying the ``albca:managed-by`` tag, in ``regions``
    (CloudFront's certificates live in us-east-1, a listener's in its own region)."""
    found: dict[str, ManagedCertificate] = {}  # by ARN: None and the default region are one
    for region in dict.fromkeys(regions):
        token: str | None = None
        while True:
            page = aws.read(
                "acm",
                "list_certificates",
                region=region,
                Includes={"keyTypes": list(KEY_TYPES)},
                **({"NextToken": token} if token else {}),
            )
            for summary in page.get("CertificateSummaryList", []):
                certificate = _managed(aws, region, summary["CertificateArn"])
                if certificate is not None:
                    found[certificate.arn] = certificate
            token = page.get("NextToken")
            if not token:
                break
    return list(found.values())


def _managed(aws: Aws, region: str | None, arn: str) -> ManagedCertificate | None:
    tags = aws.read("acm", "list_tags_for_certificate", region=region, CertificateArn=arn)
    tag = next(
        (t.get("Value", "") for t in tags.get("Tags", []) if t["Key"] == TAG_MANAGED_BY), None
    )
    if tag is None:
        return None
    purpose = acm_tag_text(tag)
    described = aws.read("acm", "describe_certificate", region=region, CertificateArn=arn)
    detail = described["Certificate"]
    if detail.get("Type") != "IMPORTED" or "NotAfter" not in detail:
        return None
    return ManagedCertificate(
        arn=arn,
        purpose=purpose,
        not_before=detail["NotBefore"],
        not_after=detail["NotAfter"],
        renew_with=command_for(purpose),
    )


def command_for(purpose: str) -> str:
    """The command that renews (or imports anew) the certificate for ``purpose``."""
    kind, _, what = purpose.partition(":")
    if kind == "alb-listener":
        return f"albca alb server-cert --listener LISTENER_ARN --domain {what} --renew"
    if kind == "cloudfront-origin":
        distribution, _, origin = what.partition("/")
        return (
            f"albca cloudfront origin-mtls --distribution {distribution} --origin {origin} --renew"
        )
    return "the albca command that imported it"
