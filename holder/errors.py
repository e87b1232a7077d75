"""What goes wrong on the holder's side, as one tree (the CLI prints ``message`` on one
line and exits 1).

    HolderError
    ├── ConfigError          no or unreadable client configuration (run albca bootstrap)
    ├── UnreadableFile       a file that is not what it should be (inspect, renew, verify)
    ├── FingerprintMismatch  bootstrap: no root in the CA's bundle has the given fingerprint
    ├── VerificationFailed   a certificate or the API's TLS does not verify: says why
    ├── LockHeld             another agent or renew holds the files' lock
    ├── CertificateExpired   the held certificate has expired: renewal is impossible
    ├── CaUnreachable        the API did not answer (after retries): try again later
    └── ApiRefused           the API answered with an error: its code and message
        ├── RenewalRefused   the API will never renew this certificate (revoked, unknown)
        └── ClockSkew        the API refused a renewal token's times: the clocks differ

These are not ``CAError``s: the holder's side has no HTTP status of its own and never
runs inside the API.
"""

from __future__ import annotations

__all__ = [
    "HolderError",
    "ConfigError",
    "UnreadableFile",
    "FingerprintMismatch",
    "VerificationFailed",
    "LockHeld",
    "CertificateExpired",
    "CaUnreachable",
    "ApiRefused",
    "RenewalRefused",
    "ClockSkew",
]


class HolderError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(HolderError):
    pass


class UnreadableFile(HolderError):
    pass


class FingerprintMismatch(HolderError):
    pass


class VerificationFailed(HolderError):
    pass


class LockHeld(HolderError):
    pass


class CertificateExpired(HolderError):
    pass


class CaUnreachable(HolderError):
    pass


class ApiRefused(HolderError):
    def __init__(self, message: str, *, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    @property
    def retryable(self) -> bool:
        # 408 and 429 ask to come back later (RFC 9110 section 15.5.9, RFC 6585 section 4).
        return self.status in (408, 429) or self.status >= 500


class RenewalRefused(ApiRefused):
    pass


class ClockSkew(ApiRefused):
    """The renewal token's ``iat``/``nbf``/``exp`` were refused against the API's clock:
    this machine's clock and the CA's differ by more than the token's margins. Worth
    retrying: clocks get synced (NTP at boot, a VM restored from a snapshot)."""

    @property
    def retryable(self) -> bool:
        return True
