from __future__ import annotations

import os
import stat

import pytest

from albca.api.stores.key_claims import CertificateStoreIdempotency
from albca.api.stores.sqlite import (
    SqliteApiDatabase,
    SqliteIdempotencyStore,
    SqliteReplayGuard,
    SqliteTokenStore,
)
from albca.ca.stores.sqlite import SqliteStore
from tests.api.store_contract import ApiStoreContract, entry, make_token
from tests.factories import T0


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


class TestKeysBesideTheCertificates(ApiStoreContract):
    """The idempotency store ``albca serve`` uses over a SQLite certificate store: claims
    in the certificate store (schema version 3), the API file's read as older ones."""

    @pytest.fixture
    def open_stores(self, tmp_path, request):
        def open_():
            database = SqliteApiDatabase(tmp_path / "albca-api.db", synchronous="normal")
            certificates = SqliteStore(tmp_path / "albca.db", synchronous="normal")
            request.addfinalizer(certificates.close)
            legacy = SqliteIdempotencyStore(database)
            return (
                SqliteTokenStore(database),
                CertificateStoreIdempotency(certificates, legacy=legacy),
                SqliteReplayGuard(database),
            )

        return open_


def test_a_claim_an_older_albca_left_in_the_api_file_still_holds_its_key(tmp_path):
    database = SqliteApiDatabase(tmp_path / "albca-api.db", synchronous="normal")
    certificates = SqliteStore(tmp_path / "albca.db", synchronous="normal")
    try:
        legacy = SqliteIdempotencyStore(database)
        legacy.claim(entry(serial=7))  # as albca before schema version 3 claimed
        idempotency = CertificateStoreIdempotency(certificates, legacy=legacy)
        assert idempotency.find("c1", "k", T0) == entry(serial=7)
        assert idempotency.claim(entry(serial=8, fingerprint="other")) == entry(serial=7)
        assert certificates.find_key_claim("c1", "k", T0) is None  # not claimed twice
        assert idempotency.claim(entry(caller="c2", serial=9)).serial == 9
        assert certificates.find_key_claim("c2", "k", T0) is not None
    finally:
        certificates.close()
        database.close()


def test_api_store_file_is_private(tmp_path):
    database = SqliteApiDatabase(tmp_path / "albca-api.db")
    token = make_token()
    SqliteTokenStore(database).add(token)
    database.close()
    assert stat.S_IMODE(os.stat(tmp_path / "albca-api.db").st_mode) == 0o600
