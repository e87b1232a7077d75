"""Emulated AWS for tests and ``albca demo --aws-emulated``: what moto lacks, faithfully.

Only ``albca`` and the tests import this package; ``trust_bundle`` and ``api`` never do.
Importing it loads botocore, so import it inside the functions that need it.
"""

from albca.emulated_aws.acm_rules import AcmFake, install_acm_propagation, install_acm_rules
from albca.emulated_aws.botocore_hooks import install_trust_store_fake
from albca.emulated_aws.classic_elb_policies import (
    ClassicElbFake,
    install_classic_elb_policy_rules,
)
from albca.emulated_aws.cloudfront_origin_mtls import (
    CloudFrontOriginMtlsFake,
    install_cloudfront_fake,
)
from albca.emulated_aws.elbv2_trust_stores import (
    AwsApiError,
    Location,
    TrustStoreFake,
    Undocumented,
)
from albca.emulated_aws.s3_readers import CrossAccountReads, install_cross_account_reads
from albca.emulated_aws.trust_store_rules import TrustStoreQuotas

__all__ = [
    "install_trust_store_fake",
    "TrustStoreFake",
    "TrustStoreQuotas",
    "Undocumented",
    "AwsApiError",
    "Location",
    "install_cloudfront_fake",
    "CloudFrontOriginMtlsFake",
    "install_classic_elb_policy_rules",
    "ClassicElbFake",
    "install_acm_rules",
    "install_acm_propagation",
    "AcmFake",
    "CrossAccountReads",
    "install_cross_account_reads",
]
