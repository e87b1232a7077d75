"""What relying parties trust: the CA bundle and CRLs, their checks against the ALB rules,
publishing, ALB trust stores and their revocations, CA rotation."""

from trust_bundle.alb_rules import (
    ALB_LIMITS,
    CheckedBundle,
    CheckedCRL,
    TrustStoreLimits,
    check_bundle,
    check_crl,
    check_revocation_totals,
)
from trust_bundle.bundle import TrustBundle
from trust_bundle.errors import BundleRejected, BundleRule, RevocationRejected, RevocationRule

__all__ = [
    "TrustBundle",
    "check_bundle",
    "check_crl",
    "check_revocation_totals",
    "CheckedBundle",
    "CheckedCRL",
    "TrustStoreLimits",
    "ALB_LIMITS",
    "BundleRejected",
    "BundleRule",
    "RevocationRejected",
    "RevocationRule",
]
