"""The AWS call boundary: what a dry run prints, what it never prints, how botocore errors
become one-line CAErrors. No AWS: a stub client stands in for boto3's."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError, NoCredentialsError, ParamValidationError

from albca.infra.calls import Aws, Call
from albca.infra.errors import AwsNotFound, AwsRefused, AwsUnavailable


class StubClients:
    """An ``AwsClients`` whose clients answer from ``answers`` (or raise them)."""

    def __init__(self, **answers):
        self.answers = answers
        self.made: list[tuple[str, dict]] = []

    def client(self, service, region=None):
        stub = self

        class Client:
            def __getattr__(self, operation):
                def call(**params):
                    stub.made.append((operation, params))
                    answer = stub.answers[operation]
                    if isinstance(answer, Exception):
                        raise answer
                    return answer

                return call

        return Client()


def client_error(code: str, message: str = "it went wrong") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Operation")


def test_dry_run_records_the_change_and_makes_no_call():
    clients = StubClients(modify_listener={"Listeners": []})
    aws = Aws(clients, dry_run=True)  # type: ignore[arg-type]
    assert aws.change("elbv2", "modify_listener", ListenerArn="arn:l", SslPolicy="p") is None
    assert clients.made == []
    (call,) = aws.actions
    assert call.describe() == 'elbv2.modify_listener {"ListenerArn": "arn:l", "SslPolicy": "p"}'


def test_a_live_change_is_made_and_recorded():
    clients = StubClients(modify_listener={"Listeners": ["x"]})
    aws = Aws(clients)  # type: ignore[arg-type]
    assert aws.change("elbv2", "modify_listener", ListenerArn="arn:l") == {"Listeners": ["x"]}
    assert clients.made == [("modify_listener", {"ListenerArn": "arn:l"})]
    assert aws.changed


def test_reads_are_made_in_a_dry_run_and_not_recorded():
    clients = StubClients(describe_listeners={"Listeners": []})
    aws = Aws(clients, dry_run=True)  # type: ignore[arg-type]
    aws.read("elbv2", "describe_listeners", ListenerArns=["arn:l"])
    assert clients.made == [("describe_listeners", {"ListenerArns": ["arn:l"]})]
    assert not aws.changed


def test_private_keys_and_certificates_are_never_printed():
    call = Call(
        "acm",
        "import_certificate",
        {
            "Certificate": b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            "PrivateKey": b"-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n",
            "CertificateChain": b"-----BEGIN CERTIFICATE-----\nMIIC\n",
        },
        region="us-east-1",
    )
    text = call.describe()
    assert "secret" not in text
    assert "BEGIN" not in text
    shown = json.loads(text.split(" ", 3)[3])
    assert shown["PrivateKey"] == "<private key, not shown>"
    assert shown["Certificate"].startswith("<PEM, ")
    assert "(region us-east-1)" in text


def test_public_key_policy_values_are_shortened():
    call = Call(
        "elb",
        "create_load_balancer_policy",
        {"PolicyAttributes": [{"AttributeName": "PublicKey", "AttributeValue": "M" * 900}]},
    )
    assert "M" * 100 not in call.describe()
    assert "(900)" in call.describe()


@pytest.mark.parametrize(
    ("error", "expected", "fragment"),
    [
        (client_error("ListenerNotFound", "One or more listeners not found"), AwsNotFound,
         "One or more listeners not found (elbv2.describe_listeners: ListenerNotFound)"),
        (client_error("InvalidGroup.NotFound"), AwsNotFound, "InvalidGroup.NotFound"),
        (client_error("AccessDenied", "no"), AwsRefused, "check the IAM policy"),
        (client_error("Throttling", "slow\ndown"), AwsRefused,
         "AWS refused elbv2.describe_listeners: slow down (Throttling)"),
        (NoCredentialsError(), AwsUnavailable, "cannot reach AWS for elbv2.describe_listeners"),
        (ParamValidationError(report="Invalid length for parameter ListenerArns[0]"),
         AwsRefused, "Invalid length"),
    ],
    ids=["not-found", "ec2-not-found", "denied", "other", "credentials", "validation"],
)  # fmt: skip
def test_botocore_errors_become_one_line_ca_errors(error, expected, fragment):
    aws = Aws(StubClients(describe_listeners=error))  # type: ignore[arg-type]
    with pytest.raises(expected) as caught:
        aws.read("elbv2", "describe_listeners", ListenerArns=["arn:l"])
    assert fragment in caught.value.message
    assert "\n" not in caught.value.message


def test_an_already_done_error_is_success_and_no_change():
    aws = Aws(StubClients(authorize=client_error("InvalidPermission.Duplicate")))  # type: ignore[arg-type]
    assert aws.change("ec2", "authorize", already_done=("InvalidPermission.Duplicate",)) is None
    assert not aws.changed
    with pytest.raises(AwsRefused):
        aws.change("ec2", "authorize")
