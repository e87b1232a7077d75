"""A working authority in a temporary directory: SQLite store, local keys, any clock."""

from __future__ import annotations

from pathlib import Path

from ca.authority import Authority, AuthorityConfig
from ca.certificates import ca_subject
from ca.clock import Clock, system_clock
from ca.hierarchy import HierarchySpec, create_hierarchy
from ca.keys import KeySpec, generate_private_key
from ca.profiles import default_profiles
from ca.signer import PrivateKeySigner
from ca.sqlite_store import SqliteStore, Synchronous


def build_authority(
    directory: Path,
    *,
    root_key: KeySpec = KeySpec.EC_P256,
    issuing_key: KeySpec = KeySpec.EC_P256,
    name: str = "Test",
    clock: Clock = system_clock,
    config: AuthorityConfig | None = None,
    synchronous: Synchronous = "normal",
) -> Authority:
    """Create a root and issuing CA (keys held in memory) and an authority over them."""
    directory.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(directory / "albca.db", synchronous=synchronous)
    signers = {
        "mem:root": PrivateKeySigner(generate_private_key(root_key), location="mem:root"),
        "mem:issuing": PrivateKeySigner(generate_private_key(issuing_key), location="mem:issuing"),
    }
    create_hierarchy(
        store=store,
        spec=HierarchySpec(
            root_subject=ca_subject(f"{name} Root CA"),
            issuing_subject=ca_subject(f"{name} Issuing CA"),
        ),
        root_signer=signers["mem:root"],
        issuing_signer=signers["mem:issuing"],
        now=clock(),
        actor="test",
    )
    return Authority(
        store=store,
        config=config or AuthorityConfig(profiles=default_profiles()),
        resolve_signer=signers.__getitem__,
        clock=clock,
    )
