"""What relying parties trust: the CA bundle and CRLs, their checks against the ALB rules,
publishing, ALB trust stores and their revocations, CA rotation."""

from trust_bundle.bundle import TrustBundle

__all__ = ["TrustBundle"]
