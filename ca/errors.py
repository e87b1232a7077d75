"""The errors the authority raises.

Every error albca raises on purpose is a ``CAError``; the HTTP API maps each class to a
status and the CLI prints its message on one line. The tree is kept shallow so that a
caller can catch exactly what it can act on::

    CAError
    ├── InvalidRequest            the caller asked for something malformed
    │   ├── InvalidCSR            the CSR cannot be parsed or its signature is bad
    │   ├── UnsupportedKey        key type or size outside what the CA accepts
    │   ├── InvalidName           a name that is not a valid DNS name, IP or CN
    │   ├── InvalidLifetime       a lifetime that is non-positive or too long
    │   └── InvalidSerial         a serial number that cannot be parsed
    │       └── AmbiguousSerial   a serial prefix that several serials start with
    ├── PolicyViolation           well-formed, but the policy does not allow it
    ├── UnknownProfile            no profile of that name
    ├── CertificateNotFound       no certificate with that serial
    ├── AlreadyRevoked            the certificate was revoked before
    ├── NotRenewable              revoked, expired, or not this CA's: cannot be renewed
    ├── DuplicateSerial           the store already holds that serial
    ├── IdempotencyKeyTaken       another certificate already answers that Idempotency-Key
    ├── AuthorityError            the CA itself cannot act
    │   ├── AuthorityExists       init on a home that already holds a CA
    │   ├── AuthorityNotInitialized
    │   ├── AuthorityInUse        retiring a CA whose certificates are still valid
    │   └── KeyUnavailable        a CA key cannot be loaded or used
    ├── StoreUnavailable          the certificate store cannot be reached or read
    └── ConfigurationError        a setting or config file value is unsafe or invalid

Each error carries the values a caller needs (the field, the serial, the rule), so that
callers never parse messages.
"""

from __future__ import annotations

__all__ = [
    "CAError",
    "InvalidRequest",
    "InvalidCSR",
    "UnsupportedKey",
    "InvalidName",
    "InvalidLifetime",
    "InvalidSerial",
    "AmbiguousSerial",
    "PolicyViolation",
    "UnknownProfile",
    "CertificateNotFound",
    "AlreadyRevoked",
    "NotRenewable",
    "DuplicateSerial",
    "IdempotencyKeyTaken",
    "AuthorityError",
    "AuthorityExists",
    "AuthorityNotInitialized",
    "AuthorityInUse",
    "KeyUnavailable",
    "StoreUnavailable",
    "ConfigurationError",
]


class CAError(Exception):
    """Base class of every error albca raises on purpose."""

    #: A stable, machine-readable code (the HTTP API returns it; scripts can match on it).
    code: str = "ca_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(CAError):
    """The request is malformed; ``field`` names the part that is wrong."""

    code = "invalid_request"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidCSR(InvalidRequest):
    code = "invalid_csr"

    def __init__(self, message: str, *, field: str = "csr") -> None:
        super().__init__(message, field=field)


class UnsupportedKey(InvalidRequest):
    code = "unsupported_key"

    def __init__(self, message: str, *, field: str = "public_key") -> None:
        super().__init__(message, field=field)


class InvalidName(InvalidRequest):
    code = "invalid_name"


class InvalidLifetime(InvalidRequest):
    code = "invalid_lifetime"

    def __init__(self, message: str, *, field: str = "lifetime") -> None:
        super().__init__(message, field=field)


class InvalidSerial(InvalidRequest):
    code = "invalid_serial"

    def __init__(self, message: str, *, field: str = "serial") -> None:
        super().__init__(message, field=field)


class AmbiguousSerial(InvalidSerial):
    """A serial prefix that more than one certificate's serial starts with."""

    code = "ambiguous_serial"

    def __init__(self, prefix: str, matches: list[int], *, more: bool) -> None:
        listed = ", ".join(f"{serial:x}" for serial in matches) + (", ..." if more else "")
        super().__init__(f"serial: {prefix} is the start of several serials: {listed}")
        self.prefix = prefix
        self.matches = matches


class PolicyViolation(CAError):
    """A well-formed request that the policy does not allow.

    ``field`` is the part of the request (``dns_names``, ``common_name``, ...), ``value`` the
    offending value and ``rule`` the policy that refused it.
    """

    code = "policy_violation"

    def __init__(self, message: str, *, field: str, value: str, rule: str) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.rule = rule


class UnknownProfile(CAError):
    code = "unknown_profile"

    def __init__(self, profile: str, known: tuple[str, ...]) -> None:
        super().__init__(f"unknown profile {profile!r}; known profiles: {', '.join(known)}")
        self.profile = profile


class CertificateNotFound(CAError):
    code = "certificate_not_found"

    def __init__(self, serial: int) -> None:
        super().__init__(f"no certificate with serial {serial:x}")
        self.serial = serial


class AlreadyRevoked(CAError):
    code = "already_revoked"

    def __init__(self, serial: int, revoked_at: str) -> None:
        super().__init__(f"certificate {serial:x} was already revoked at {revoked_at}")
        self.serial = serial
        self.revoked_at = revoked_at


class NotRenewable(CAError):
    """The certificate exists but renewing it is refused; ``reason`` says why
    (``revoked``, ``expired``, ``mismatch``, ``ancestor_revoked``)."""

    code = "not_renewable"

    def __init__(self, message: str, *, serial: int, reason: str) -> None:
        super().__init__(message)
        self.serial = serial
        self.reason = reason


class DuplicateSerial(CAError):
    code = "duplicate_serial"

    def __init__(self, serial: int) -> None:
        super().__init__(f"the store already holds a certificate with serial {serial:x}")
        self.serial = serial


class IdempotencyKeyTaken(CAError):
    """A certificate written with an Idempotency-Key claim (``KeyClaim``) found the key
    claimed already, by a retry of the same request committed first: nothing of it was
    written. The API answers with the certificate that claim names."""

    code = "idempotency_key_taken"

    def __init__(self, serial: int, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r}: another certificate answers this key already "
            f"(certificate {serial:x} was not written)"
        )
        self.serial = serial
        self.key = key


class AuthorityError(CAError):
    code = "authority_error"


class AuthorityExists(AuthorityError):
    code = "authority_exists"


class AuthorityNotInitialized(AuthorityError):
    code = "authority_not_initialized"


class AuthorityInUse(AuthorityError):
    """A CA cannot be retired (or is still needed): ``key_id`` names it and
    ``valid_certificates`` counts what would stop working."""

    code = "authority_in_use"

    def __init__(self, message: str, *, key_id: str, valid_certificates: int) -> None:
        super().__init__(message)
        self.key_id = key_id
        self.valid_certificates = valid_certificates


class KeyUnavailable(AuthorityError):
    code = "key_unavailable"


class StoreUnavailable(CAError):
    code = "store_unavailable"


class ConfigurationError(CAError):
    code = "configuration_error"

    def __init__(self, message: str, *, setting: str) -> None:
        super().__init__(message)
        self.setting = setting
