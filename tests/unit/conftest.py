"""Shared fixtures for the unit tests: a session-wide key pool and CA hierarchies, and
authorities over fresh SQLite files.

Each test that needs an authority gets a new SQLite file in its own ``tmp_path`` seeded
with a session hierarchy's records, so tests never see each other's certificates.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from albca.ca.authority import Authority, AuthorityConfig
from albca.ca.clock import FixedClock
from albca.ca.keys import KeySpec
from albca.ca.profiles import default_profiles
from albca.ca.records import AuditEvent
from albca.ca.stores.sqlite import SqliteStore
from tests.unit.ca_fixtures import CA_CREATED, ISSUE_TIME, Hierarchies, KeyPool


@pytest.fixture(scope="session")
def key_pool() -> KeyPool:
    return KeyPool()


@pytest.fixture(scope="session")
def hierarchies(key_pool: KeyPool, tmp_path_factory: pytest.TempPathFactory) -> Hierarchies:
    return Hierarchies(key_pool, tmp_path_factory.mktemp("hierarchies"))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(ISSUE_TIME)


MakeAuthority = Callable[..., Authority]


@pytest.fixture
def make_authority(
    hierarchies: Hierarchies, tmp_path: Path, clock: FixedClock
) -> Iterator[MakeAuthority]:
    """Builds authorities over fresh SQLite files holding a session hierarchy's records.

    ``make_authority(spec=..., config=..., path=...)``: pass ``path`` to open a second
    authority over the same file (as a restarted process would).
    """
    stores: list[SqliteStore] = []
    counter = itertools.count()

    def make(
        spec: KeySpec = KeySpec.EC_P256,
        *,
        config: AuthorityConfig | None = None,
        path: Path | None = None,
        hierarchy: str = "main",
    ) -> Authority:
        ca = hierarchies.get(spec, hierarchy)
        fresh = path is None
        store_path = path or tmp_path / f"albca-{next(counter)}.db"
        store = SqliteStore(store_path, synchronous="normal")
        stores.append(store)
        if fresh:
            for record in (ca.root_record, ca.issuing_record):
                store.add_authority(record, AuditEvent(at=CA_CREATED, action="init", actor="test"))
        return Authority(
            store=store,
            config=config or AuthorityConfig(profiles=default_profiles()),
            resolve_signer=ca.resolve_signer,
            clock=clock,
        )

    yield make
    for store in stores:
        store.close()
