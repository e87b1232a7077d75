"""``ca.aws_errors``: the one reader of botocore's errors, and the boundaries built on it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

from albca.ca.aws_errors import aws_errors, aws_failure
from albca.ca.errors import CAError, KeyUnavailable

ROOT = Path(__file__).resolve().parents[2]


def client_error(code: str, message: str = "no", operation: str = "PutObject") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def test_a_client_error_is_read_as_what_aws_answered():
    failure = aws_failure(client_error("AccessDenied", "not\n  allowed"))
    assert failure is not None
    assert (failure.operation, failure.code, failure.message) == (
        "PutObject",
        "AccessDenied",
        "not allowed",
    )
    assert failure.answered
    assert failure.denied
    assert not failure.throttled
    assert failure.describe() == "AccessDenied: not allowed"


def test_no_answer_and_bad_parameters_are_told_apart():
    unreachable = aws_failure(EndpointConnectionError(endpoint_url="https://kms.example"))
    assert unreachable is not None
    assert not unreachable.answered
    assert unreachable.code == ""
    invalid = aws_failure(ParamValidationError(report="Missing required parameter"))
    assert invalid is not None
    assert invalid.code == "ParamValidation"


def test_anything_else_is_not_an_aws_failure():
    assert aws_failure(ValueError("x")) is None


def test_the_block_raises_the_boundarys_error_and_keeps_the_cause():
    cause = client_error("ThrottlingException", operation="Sign")
    with (
        pytest.raises(KeyUnavailable, match="Sign: ThrottlingException") as raised,
        aws_errors(lambda f: KeyUnavailable(f"{f.operation}: {f.describe()}")),
    ):
        raise cause
    assert raised.value.__cause__ is cause


def test_other_exceptions_pass_through_the_block():
    with pytest.raises(ZeroDivisionError), aws_errors(lambda f: CAError("never")):
        _ = 1 / 0


# The product reads botocore's error fields here and nowhere else (the emulated AWS builds
# errors; it does not read them for albca).
PRODUCT = ("ca", "trust_bundle", "infra", "api", "albca/compose", "albca/cli")
READS_AN_ERROR = re.compile(r"\.response(\.get\(|\[)\s*[\"']Error")


@pytest.mark.parametrize("folder", PRODUCT)
def test_botocore_errors_are_read_only_in_ca_aws_errors(folder):
    for path in sorted((ROOT / folder).rglob("*.py")):
        if path.name == "aws_errors.py":
            continue
        assert not READS_AN_ERROR.search(path.read_text()), f"{path.relative_to(ROOT)} reads it"


def test_the_error_reader_check_sees_a_read():
    assert READS_AN_ERROR.search('code = exc.response.get("Error", {})')
    assert READS_AN_ERROR.search((ROOT / "ca" / "aws_errors.py").read_text())
