from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.helpers import open_api_ca


@pytest.fixture
def ca(tmp_path):
    opened = open_api_ca(tmp_path)
    yield opened
    opened.close()


@pytest.fixture
def client(ca):
    with TestClient(create_app(ca.api), base_url="https://testserver") as test_client:
        yield test_client
