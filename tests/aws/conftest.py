"""Fixtures for tests against AWS under moto (and the KMS stand-in where moto is wrong)."""

from __future__ import annotations

import pytest

from tests.aws.kms_standin import kms_stand_in
from tests.aws.moto_support import clean_aws_environment, mocked_aws


@pytest.fixture
def aws(monkeypatch):
    clean_aws_environment(monkeypatch)
    with mocked_aws():
        yield


@pytest.fixture
def kms_standin(aws):
    with kms_stand_in() as stand_in:
        yield stand_in
