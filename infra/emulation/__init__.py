"""Emulated AWS for tests and ``albca demo --aws-emulated``: what moto lacks, faithfully.

Only ``albca`` and the tests import this package; ``trust_bundle`` and ``api`` never do.
Importing it loads botocore, so import it inside the functions that need it.
"""

from infra.emulation.botocore_hooks import install_trust_store_fake
from infra.emulation.elbv2_trust_stores import AwsApiError, Location, TrustStoreFake

__all__ = ["install_trust_store_fake", "TrustStoreFake", "AwsApiError", "Location"]
