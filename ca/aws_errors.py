"""The one place albca reads a botocore error and turns it into an error of its own.

Each AWS boundary (the KMS signer, the S3 publisher, the ELBv2 trust store calls, the
infra calls, the bootstrap) wraps its calls in ``aws_errors(translate)``: this module reads
what AWS said (``AwsFailure``: the operation, the error code, the message, whether AWS
answered at all) and the boundary's ``translate`` says what it means there, as one
``CAError`` naming the key, the object or the trust store. So the fields of a
``ClientError`` are read here and nowhere else (httpx maps transport errors the same way:
``map_httpcore_exceptions`` in ``httpx/_transports/default.py``).

botocore is imported only when an exception is being read: a CA without the AWS extra
never loads it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["AwsFailure", "aws_failure", "aws_errors"]

# Error codes that mean "these credentials may not do this" (IAM, S3's HTTP status, EC2).
_DENIED = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403", "Forbidden"}
)
# Throttling codes botocore's standard retry mode retries before giving up.
_THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
    }
)


@dataclass(frozen=True)
class AwsFailure:
    """What an AWS call's failure says, whatever raised it."""

    operation: str  # botocore's operation name (``PutObject``), "" when unknown
    code: str  # the AWS error code; "" when AWS never answered
    message: str  # one line
    answered: bool  # False: no answer (connection, timeout, credentials, a bad parameter)

    @property
    def denied(self) -> bool:
        return self.code in _DENIED

    @property
    def throttled(self) -> bool:
        return self.code in _THROTTLED

    def describe(self) -> str:
        """``Code: message`` as AWS said it, or botocore's reason when AWS said nothing."""
        if self.code and self.message:
            return f"{self.code}: {self.message}"
        return self.code or self.message


def aws_failure(exc: BaseException) -> AwsFailure | None:
    """The failure ``exc`` describes, if it is botocore's (None for anything else)."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
    except ImportError:  # no AWS extra: nothing raised can be botocore's
        return None
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return AwsFailure(
            operation=exc.operation_name or "",
            code=str(error.get("Code", "")),
            message=_one_line(str(error.get("Message", "")) or str(exc)),
            answered=True,
        )
    if isinstance(exc, BotoCoreError):
        code = "ParamValidation" if isinstance(exc, ParamValidationError) else ""
        return AwsFailure(operation="", code=code, message=_one_line(str(exc)), answered=False)
    return None


@contextlib.contextmanager
def aws_errors(translate: Callable[[AwsFailure], Exception]) -> Iterator[None]:
    """Raise ``translate(failure)`` for any botocore error inside the block."""
    try:
        yield
    except Exception as exc:
        failure = aws_failure(exc)
        if failure is None:
            raise
        raise translate(failure) from exc


def _one_line(text: str) -> str:
    return " ".join(text.split())
