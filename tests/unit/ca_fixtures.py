"""Keys and CA hierarchies for the unit tests, made once per session (see conftest.py).

Key generation is the slow part of these tests (RSA-4096 above all), so keys come from a
session-wide pool and every CA hierarchy is signed once per key type.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography import x509

from albca.ca.authority import Authority
from albca.ca.certificates import ca_subject
from albca.ca.hierarchy import HierarchySpec, create_hierarchy
from albca.ca.keys import CAKey, KeySpec, generate_private_key
from albca.ca.records import AuthorityRecord
from albca.ca.signer import PrivateKeySigner
from albca.ca.stores.sqlite import SqliteStore
from tests.factories import T0

#: When every test hierarchy was created; authorities' clocks start an hour later.
CA_CREATED = T0
ISSUE_TIME = T0 + timedelta(hours=1)


def leaf_spec_for(ca_spec: KeySpec) -> KeySpec:
    """The leaf key type tests pair with a CA key type: the same curve under an EC CA, and
    RSA-2048 under any RSA CA (RSA leaves of every size are covered under the EC P-256 CA)."""
    return ca_spec if ca_spec.is_ec else KeySpec.RSA_2048


class KeyPool:
    """Private keys generated on first use and then shared for the whole session."""

    def __init__(self) -> None:
        self._keys: dict[tuple[KeySpec, str], CAKey] = {}

    def key(self, spec: KeySpec, slot: str) -> CAKey:
        """The session's key of type ``spec`` for ``slot`` (main-root, main-issuing, ...)."""
        found = self._keys.get((spec, slot))
        if found is None:
            found = self._keys[(spec, slot)] = generate_private_key(spec)
        return found

    def leaf(self, spec: KeySpec, *, under: KeySpec = KeySpec.EC_P256) -> CAKey:
        """A key of type ``spec`` for a leaf issued under the ``under`` hierarchy.

        A leaf key only has to differ from the keys of the CAs above it. So that the
        session makes one RSA-4096 key pair for CAs and no third one for leaves, a leaf of
        another type than its CA borrows the root key of its own type's hierarchy.
        """
        if spec.is_ec or spec is under:
            return self.key(spec, "leaf")
        return self.key(spec, "main-root")


@dataclass(frozen=True)
class CAHierarchy:
    """A root and an issuing CA of one key type, and the records ``albca init`` writes."""

    spec: KeySpec
    root: x509.Certificate
    issuing: x509.Certificate
    root_signer: PrivateKeySigner
    issuing_signer: PrivateKeySigner
    root_record: AuthorityRecord
    issuing_record: AuthorityRecord

    def resolve_signer(self, location: str) -> PrivateKeySigner:
        return {s.location: s for s in (self.root_signer, self.issuing_signer)}[location]


class Hierarchies:
    """CA hierarchies per (key type, name), signed once per session."""

    def __init__(self, keys: KeyPool, directory: Path) -> None:
        self._keys = keys
        self._directory = directory
        self._built: dict[tuple[KeySpec, str], CAHierarchy] = {}

    def get(self, spec: KeySpec, name: str = "main") -> CAHierarchy:
        found = self._built.get((spec, name))
        if found is None:
            found = self._built[(spec, name)] = self._build(spec, name)
        return found

    def _build(self, spec: KeySpec, name: str) -> CAHierarchy:
        # Every hierarchy has the same subject names: a "wrong CA" differs only by its keys,
        # which is what a relying party must notice.
        root_signer = PrivateKeySigner(
            self._keys.key(spec, f"{name}-root"), location=f"mem:{name}-root"
        )
        issuing_signer = PrivateKeySigner(
            self._keys.key(spec, f"{name}-issuing"), location=f"mem:{name}-issuing"
        )
        store = SqliteStore(self._directory / f"{spec}-{name}.db", synchronous="normal")
        try:
            root_record, issuing_record = create_hierarchy(
                store=store,
                spec=HierarchySpec(
                    root_subject=ca_subject("albca Test Root CA", "albca tests"),
                    issuing_subject=ca_subject("albca Test Issuing CA", "albca tests"),
                ),
                root_signer=root_signer,
                issuing_signer=issuing_signer,
                now=CA_CREATED,
                actor="test",
            )
        finally:
            store.close()
        return CAHierarchy(
            spec=spec,
            root=x509.load_pem_x509_certificate(root_record.certificate_pem.encode()),
            issuing=x509.load_pem_x509_certificate(issuing_record.certificate_pem.encode()),
            root_signer=root_signer,
            issuing_signer=issuing_signer,
            root_record=root_record,
            issuing_record=issuing_record,
        )


def authority_over(base: Authority, store: Any, hierarchies: Hierarchies) -> Authority:
    """``base`` (an EC P-256 authority of ``make_authority``) over another store: a test
    double wrapping its own."""
    return Authority(
        store=store,
        config=base.config,
        resolve_signer=hierarchies.get(KeySpec.EC_P256).resolve_signer,
        clock=base.clock,
    )
