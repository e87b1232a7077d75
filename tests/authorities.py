"""A working authority in a temporary directory: SQLite store, local keys, any clock."""

from __future__ import annotations

from pathlib import Path

from albca.ca.authority import Authority, AuthorityConfig
from albca.ca.certificates import ca_subject
from albca.ca.clock import Clock, system_clock
from albca.ca.hierarchy import HierarchySpec, create_hierarchy
from albca.ca.keys import KeySpec, generate_private_key
from albca.ca.profiles import default_profiles
from albca.ca.signer import PrivateKeySigner
from albca.ca.stores.protocol import CertificateStore
from albca.ca.stores.sqlite import SqliteStore, Synchronous


def build_authority(
    directory: Path,
    *,
    root_key: KeySpec = KeySpec.EC_P256,
    issuing_key: KeySpec = KeySpec.EC_P256,
    name: str = "Test",
    clock: Clock = system_clock,
    config: AuthorityConfig | None = None,
    synchronous: Synchronous = "normal",
    signers: dict[str, PrivateKeySigner] | None = None,
    store: CertificateStore | None = None,
) -> Authority:
    """Create a root and issuing CA (keys held in memory) and an authority over them.

    ``signers``: the dict the authority resolves key locations in (``mem:...``); pass one to
    add keys later (a rotation's new CA keys, see ``memory_key_source``). ``store``: another
    store than a SQLite file in ``directory`` (a DynamoDB table)."""
    directory.mkdir(parents=True, exist_ok=True)
    if store is None:
        store = SqliteStore(directory / "albca.db", synchronous=synchronous)
    signers = {} if signers is None else signers
    signers["mem:root"] = PrivateKeySigner(generate_private_key(root_key), location="mem:root")
    signers["mem:issuing"] = PrivateKeySigner(
        generate_private_key(issuing_key), location="mem:issuing"
    )
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


def memory_key_source(signers: dict[str, PrivateKeySigner]):
    """A rotation's ``NewKeySource`` keeping keys in ``signers`` (``mem:<role>-<n>``)."""

    def new_key(role, spec: KeySpec) -> PrivateKeySigner:
        location = f"mem:{role.value}-{len(signers)}"
        signers[location] = PrivateKeySigner(generate_private_key(spec), location=location)
        return signers[location]

    return new_key
