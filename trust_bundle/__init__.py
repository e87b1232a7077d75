"""What relying parties trust: the CA bundle and CRLs, their checks against the ALB rules,
publishing, ALB trust stores and their revocations, CA rotation.

Modules, from the bottom up: ``errors``; ``bundle`` (the PEM bundle); ``alb_rules`` (the
checks); ``publish`` (file:// and s3:// targets); ``key_ids`` (how a bundle, a CRL and a
tag name one CA); ``artefacts`` (checked publishing of the bundle and CRLs); ``elbv2``
(the trust store calls; the AWS boundary); ``crl_swaps`` (what a sync does to one store,
decided first); ``sync_trail`` (the pending and done markers a sync leaves in the audit
trail, read back); ``revocation_sync`` (one run that brings every store's CRLs in step);
``trust_stores`` (create, update, show, delete, roll back); ``crl_freshness`` (is a
store's every CRL current); ``planning`` (what any of them would do, for ``--dry-run``:
the calls planned, none made); ``store_for_listener`` (one store made ready for a
listener); ``rotation``. Importing this package loads no AWS library.
"""

from albca.trust_bundle.alb_rules import (
    ALB_LIMITS,
    CheckedBundle,
    CheckedCRL,
    TrustStoreLimits,
    check_bundle,
    check_crl,
    check_revocation_totals,
)
from albca.trust_bundle.bundle import TrustBundle
from albca.trust_bundle.errors import (
    BundleRejected,
    BundleRule,
    PublishFailed,
    RevocationRejected,
    RevocationRule,
    SyncIncomplete,
    TrustStoreError,
    TrustStoreInUse,
    TrustStoreNotFound,
    TrustStoreNotReady,
)

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
    "PublishFailed",
    "TrustStoreError",
    "TrustStoreNotFound",
    "TrustStoreInUse",
    "TrustStoreNotReady",
    "SyncIncomplete",
]
