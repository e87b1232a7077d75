"""Fixtures more than one test folder uses."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.aws.moto_support import clean_aws_environment, create_table, mocked_aws

_tables = itertools.count()


@pytest.fixture
def serialized_aws(monkeypatch) -> Iterator[None]:
    """moto with one request at a time (``tests.aws.moto_support``), no real credentials."""
    clean_aws_environment(monkeypatch)
    with mocked_aws():
        yield


@pytest.fixture
def dynamodb_table(serialized_aws) -> str:
    """A fresh table of the shape `albca aws bootstrap` makes; its name."""
    name = f"albca-test-{next(_tables)}"
    create_table(name)
    return name
