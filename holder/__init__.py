"""The certificate holder's side: what runs on the machines that hold certificates
(bootstrap trust, request, renew, keep fresh, inspect and verify files).

It imports only the standard library, cryptography, httpx and ``albca.ca``: a holder's
machine has the plain install, never the API's server libraries.
"""

from albca.holder.errors import (
    ApiRefused,
    CaUnreachable,
    CertificateExpired,
    ClockSkew,
    ConfigError,
    FingerprintMismatch,
    HolderError,
    LockHeld,
    RenewalRefused,
    UnreadableFile,
    VerificationFailed,
)

__all__ = [
    "HolderError",
    "ApiRefused",
    "CaUnreachable",
    "CertificateExpired",
    "ClockSkew",
    "ConfigError",
    "FingerprintMismatch",
    "LockHeld",
    "RenewalRefused",
    "UnreadableFile",
    "VerificationFailed",
]
