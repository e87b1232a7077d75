"""The API's own errors, and the one table that gives every CAError its HTTP status.

The API's errors join the ``CAError`` tree so that the CLI (``albca token ...``) and the
HTTP handler treat them like the core's::

    CAError
    ├── ApiRequestError            the HTTP request itself is unacceptable
    │   ├── RouteNotFound          no such path                             404
    │   ├── CrlIssuerNotFound      ``/v1/ca/crl?issuer=`` names no trusted CA 404
    │   ├── MethodNotAllowed       the path exists, the method does not     405
    │   ├── PayloadTooLarge        body above the configured cap            413
    │   ├── RequestTimeout         body not received within the time allowed  408
    │   ├── UnsupportedMediaType   a body that is not application/json      415
    │   ├── InvalidIdempotencyKey  an Idempotency-Key that is not 1-255 printable chars
    │   ├── IdempotencyKeyReused   the key was used before for another request
    │   └── UntrustedMtlsHeaders   ALB mTLS headers where no ALB vouches for them
    ├── AuthenticationError        no credential, or one that does not verify  401
    │   ├── MissingCredential
    │   ├── InvalidToken           unknown, revoked or expired API token
    │   └── InvalidRenewalProof    a renewal token or mTLS certificate that fails a check
    │       ├── RenewalTokenReplayed
    │       └── RenewalTokenTime   its iat, nbf or exp against the CA's clock
    ├── PermissionDenied           authenticated, but not allowed              403
    │   ├── ScopeRequired          the token lacks the scope the operation needs
    │   └── ProfileNotAllowed      the token may not use that profile
    └── TokenAdminError            ``albca token`` bookkeeping
        ├── TokenNotFound
        └── DuplicateTokenName

``STATUS`` maps every class, exactly (no inheritance), so that a new error class without a
status fails ``tests/api/test_error_table.py`` instead of silently becoming a 500.
"""

from __future__ import annotations

from albca.ca import errors as ca_errors
from albca.ca.errors import CAError
from albca.trust_bundle import errors as trust_errors

__all__ = [
    "ApiRequestError",
    "RouteNotFound",
    "CrlIssuerNotFound",
    "MethodNotAllowed",
    "RequestTimeout",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "InvalidIdempotencyKey",
    "IdempotencyKeyReused",
    "UntrustedMtlsHeaders",
    "AuthenticationError",
    "MissingCredential",
    "InvalidToken",
    "InvalidRenewalProof",
    "RenewalTokenReplayed",
    "RenewalTokenTime",
    "PermissionDenied",
    "ScopeRequired",
    "ProfileNotAllowed",
    "TokenAdminError",
    "TokenNotFound",
    "DuplicateTokenName",
    "STATUS",
    "status_of",
    "field_of",
]


class ApiRequestError(CAError):
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class RouteNotFound(ApiRequestError):
    code = "not_found"


class CrlIssuerNotFound(ApiRequestError):
    """``GET /v1/ca/crl?issuer=``: no issuing CA relying parties trust has that key id."""

    code = "crl_issuer_not_found"

    def __init__(self, message: str) -> None:
        super().__init__(message, field="issuer")


class MethodNotAllowed(ApiRequestError):
    code = "method_not_allowed"


class PayloadTooLarge(ApiRequestError):
    code = "payload_too_large"


class RequestTimeout(ApiRequestError):
    code = "request_timeout"


class UnsupportedMediaType(ApiRequestError):
    code = "unsupported_media_type"


class InvalidIdempotencyKey(ApiRequestError):
    code = "invalid_idempotency_key"

    def __init__(self, message: str) -> None:
        super().__init__(message, field="Idempotency-Key")


class IdempotencyKeyReused(ApiRequestError):
    code = "idempotency_key_reused"

    def __init__(self, message: str) -> None:
        super().__init__(message, field="Idempotency-Key")


class UntrustedMtlsHeaders(ApiRequestError):
    code = "untrusted_mtls_headers"


class AuthenticationError(CAError):
    code = "unauthenticated"

    def __init__(self, message: str, *, field: str | None = "Authorization") -> None:
        super().__init__(message)
        self.field = field


class MissingCredential(AuthenticationError):
    code = "missing_credential"


class InvalidToken(AuthenticationError):
    code = "invalid_token"


class InvalidRenewalProof(AuthenticationError):
    code = "invalid_renewal_proof"


class RenewalTokenTime(InvalidRenewalProof):
    """A renewal token refused for its times (iat, nbf, exp): a code of its own, so that a
    holder can tell clocks that differ (worth a retry once they are synced) from a proof
    that will never pass."""

    code = "renewal_token_time"


class RenewalTokenReplayed(InvalidRenewalProof):
    code = "renewal_token_replayed"

    def __init__(self) -> None:
        super().__init__(
            "Authorization: this renewal token was used before; make a new one for each "
            "request (a new jti)"
        )


class PermissionDenied(CAError):
    code = "permission_denied"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ScopeRequired(PermissionDenied):
    code = "scope_required"

    def __init__(self, message: str, *, scope: str) -> None:
        super().__init__(message, field="scope")
        self.scope = scope


class ProfileNotAllowed(PermissionDenied):
    code = "profile_not_allowed"

    def __init__(self, message: str) -> None:
        super().__init__(message, field="profile")


class TokenAdminError(CAError):
    code = "token_error"


class TokenNotFound(TokenAdminError):
    code = "token_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"no API token named {name!r}")
        self.name = name


class DuplicateTokenName(TokenAdminError):
    code = "duplicate_token_name"

    def __init__(self, name: str) -> None:
        super().__init__(f"a token named {name!r} exists (or existed); choose another name")
        self.name = name


STATUS: dict[type[CAError], int] = {
    CAError: 500,
    # -- the core's errors (ca/errors.py) --------------------------------------------
    ca_errors.InvalidRequest: 400,
    ca_errors.InvalidCSR: 400,
    ca_errors.UnsupportedKey: 400,
    ca_errors.InvalidName: 400,
    ca_errors.InvalidLifetime: 400,
    ca_errors.InvalidSerial: 400,
    ca_errors.AmbiguousSerial: 400,
    ca_errors.PolicyViolation: 403,
    ca_errors.UnknownProfile: 400,
    ca_errors.CertificateNotFound: 404,
    ca_errors.AlreadyRevoked: 409,
    ca_errors.NotRenewable: 409,
    ca_errors.DuplicateSerial: 409,
    ca_errors.IdempotencyKeyTaken: 409,
    ca_errors.AuthorityError: 503,
    ca_errors.AuthorityExists: 409,
    ca_errors.AuthorityNotInitialized: 503,
    ca_errors.AuthorityInUse: 409,
    ca_errors.KeyUnavailable: 503,
    ca_errors.StoreUnavailable: 503,
    ca_errors.ConfigurationError: 500,
    # -- the API's own ---------------------------------------------------------------
    ApiRequestError: 400,
    RouteNotFound: 404,
    CrlIssuerNotFound: 404,
    MethodNotAllowed: 405,
    PayloadTooLarge: 413,
    RequestTimeout: 408,  # RFC 9110 section 15.5.9
    UnsupportedMediaType: 415,
    InvalidIdempotencyKey: 400,
    # 422 for a key reused with another body: draft-ietf-httpapi-idempotency-key-header
    # section 2.7.
    IdempotencyKeyReused: 422,
    UntrustedMtlsHeaders: 400,
    AuthenticationError: 401,
    MissingCredential: 401,
    InvalidToken: 401,
    InvalidRenewalProof: 401,
    RenewalTokenReplayed: 401,
    RenewalTokenTime: 401,
    PermissionDenied: 403,
    ScopeRequired: 403,
    ProfileNotAllowed: 403,
    TokenAdminError: 400,
    TokenNotFound: 404,
    DuplicateTokenName: 409,
    # -- what relying parties trust (trust_bundle/errors.py) -------------------------
    # The CA's own bundle or CRL breaking an ALB rule is the server's state, not the
    # request's; a store of artefacts that cannot be written is a failed upstream.
    trust_errors.BundleRejected: 500,
    trust_errors.RevocationRejected: 500,
    trust_errors.PublishFailed: 502,
    # ELBv2 refused or could not be reached: a failed upstream; a wait that ran out, a
    # gateway timeout.
    trust_errors.TrustStoreError: 502,
    trust_errors.TrustStoreNotFound: 404,
    trust_errors.TrustStoreInUse: 409,
    trust_errors.TrustStoreNotReady: 504,
    trust_errors.SyncIncomplete: 502,
}


def status_of(error: CAError) -> int | None:
    """The status of exactly this class, or None when the table misses it (a defect)."""
    return STATUS.get(type(error))


# Errors that do not carry a ``field`` attribute still concern one part of the request.
_FIELD_OF: dict[type[CAError], str] = {
    ca_errors.UnknownProfile: "profile",
    ca_errors.CertificateNotFound: "serial",
    ca_errors.AlreadyRevoked: "serial",
    ca_errors.NotRenewable: "serial",
}


def field_of(error: CAError) -> str | None:
    value = getattr(error, "field", None)
    if isinstance(value, str):
        return value
    return _FIELD_OF.get(type(error))
