from __future__ import annotations

import os
import stat

import pytest

from albca.api.stores.sqlite import (
    SqliteApiDatabase,
    SqliteIdempotencyStore,
    SqliteReplayGuard,
    SqliteTokenStore,
)
from tests.api.store_contract import ApiStoreContract, make_token


class TestSqliteApiStores(ApiStoreContract):
    @pytest.fixture
    def open_stores(self, tmp_path):
        def open_():
            database = SqliteApiDatabase(tmp_path / "albca-api.db", synchronous="normal")
            return (
                SqliteTokenStore(database),
                SqliteIdempotencyStore(database),
                SqliteReplayGuard(database),
            )

        return open_


def test_api_store_file_is_private(tmp_path):
    database = SqliteApiDatabase(tmp_path / "albca-api.db")
    token = make_token()
    SqliteTokenStore(database).add(token)
    database.close()
    assert stat.S_IMODE(os.stat(tmp_path / "albca-api.db").st_mode) == 0o600
