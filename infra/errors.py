"""The errors AWS set-up raises: AWS's own refusals, translated, and albca's refusals.

Every one is a ``CAError``, so the CLI prints it on one line and the HTTP API can map it::

    CAError
    └── AwsSetupError             setting up AWS resources failed or was refused
        ├── AwsUnavailable        no credentials, no region, no endpoint: AWS cannot be asked
        ├── AwsNotFound           AWS says the named resource (ARN, name, id) does not exist
        ├── AwsRefused            AWS refused a call for another reason (its code is kept)
        ├── SetupRefused          albca refuses before calling AWS: a rule is not met
        │   ├── TrustStoreNotReady    the trust store is not ACTIVE (within the wait)
        │   └── CloudFrontRuleViolation  the CA chain cannot meet CloudFront's rules
        └── CertificateUnusable   a certificate or key cannot be used (mismatched key,
                                  expired, unreadable) for ACM, a listener or a backend

AWS errors (botocore's ``ClientError`` and ``BotoCoreError``) become these in one place,
``infra.calls.Aws``; nothing else in ``infra`` catches them.
"""

from __future__ import annotations

from albca.ca.errors import CAError

__all__ = [
    "AwsSetupError",
    "AwsUnavailable",
    "AwsNotFound",
    "AwsRefused",
    "SetupRefused",
    "TrustStoreNotReady",
    "CloudFrontRuleViolation",
    "CertificateUnusable",
]


class AwsSetupError(CAError):
    code = "aws_setup_error"


class AwsUnavailable(AwsSetupError):
    """AWS could not be asked at all (credentials, region, network)."""

    code = "aws_unavailable"


class AwsNotFound(AwsSetupError):
    """``aws_code`` is AWS's error code (``ListenerNotFound``, ``InvalidGroup.NotFound``...)."""

    code = "aws_not_found"

    def __init__(self, message: str, *, aws_code: str, operation: str) -> None:
        super().__init__(message)
        self.aws_code = aws_code
        self.operation = operation


class AwsRefused(AwsSetupError):
    code = "aws_refused"

    def __init__(self, message: str, *, aws_code: str, operation: str) -> None:
        super().__init__(message)
        self.aws_code = aws_code
        self.operation = operation


class SetupRefused(AwsSetupError):
    """albca will not make the change: ``rule`` names what is not met."""

    code = "setup_refused"

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


class TrustStoreNotReady(SetupRefused):
    code = "trust_store_not_ready"

    def __init__(self, message: str, *, trust_store: str, status: str) -> None:
        super().__init__(message, rule="trust store is ACTIVE")
        self.trust_store = trust_store
        self.status = status


class CloudFrontRuleViolation(SetupRefused):
    """``subject`` is the certificate (RFC 4514) that breaks the rule."""

    code = "cloudfront_rule_violation"

    def __init__(self, message: str, *, rule: str, subject: str) -> None:
        super().__init__(message, rule=rule)
        self.subject = subject


class CertificateUnusable(AwsSetupError):
    """``source`` names the file or ARN the certificate came from."""

    code = "certificate_unusable"

    def __init__(self, message: str, *, source: str) -> None:
        super().__init__(message)
        self.source = source
