"""What tests against moto need: a clean AWS environment, atomic requests, the table.

moto's DynamoDB is not thread-safe: a ``TransactWriteItems`` deep-copies the table,
applies its items one by one and, when one fails, puts the copy back, wiping out whatever
another thread wrote meanwhile; conditional puts check and write in two steps. Real
DynamoDB applies each request atomically. ``serialized_moto`` restores that one property
(one mocked request at a time) and nothing more: threads still interleave freely between
requests, which is where a store's own races would be. Each answer comes back after a
short sleep, as over a network, so that other threads do run between one request of a
writer and its next (without it, a thread holding the GIL would rarely be interrupted
between a read and the write that depends on it, and races would go unseen).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import boto3
import pytest
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from albca.ca.stores.dynamodb_models import table_definition

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account


def clean_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and one region; nothing from the developer's own AWS set-up."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_KMS",
        "AWS_ENDPOINT_URL_S3",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")


@contextmanager
def serialized_moto(latency: float = 0.001) -> Iterator[None]:
    lock = threading.RLock()
    original = BotocoreStubber.process_request

    def process_request(self, request):
        with lock:
            response = original(self, request)
        time.sleep(latency)
        return response

    with mock.patch.object(BotocoreStubber, "process_request", process_request):
        yield


@contextmanager
def mocked_aws() -> Iterator[None]:
    with mock_aws(), serialized_moto():
        yield


def create_table(name: str, region: str = REGION) -> None:
    boto3.client("dynamodb", region_name=region).create_table(**table_definition(name))
