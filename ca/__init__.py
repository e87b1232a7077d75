"""The certificate authority: keys and signers, profiles and policy, CSR checks, issuing,
revoking, CRLs and the certificate store.

The core imports only the standard library and cryptography, so it can be read and tested
alone; AWS adapters (DynamoDB store, KMS signer) live in their own modules.

Names are loaded on first use (PEP 562), so that ``import ca.errors`` (which the CLI needs
at start-up) does not pay for importing cryptography.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ca.authority import Authority, AuthorityConfig, IssueRequest, SignerResolver
    from ca.clock import Clock, FixedClock, system_clock
    from ca.crl import CRLDocument
    from ca.errors import CAError
    from ca.issued import IssuedCertificate
    from ca.keys import KeySpec
    from ca.names import RequestedNames
    from ca.policy import NamePolicy
    from ca.profiles import CertificateKind, Profile, ProfileSet, default_profiles
    from ca.records import (
        AuditEvent,
        AuthorityRecord,
        AuthorityRole,
        AuthorityStatus,
        CertificateQuery,
        CertificateRecord,
        EffectiveStatus,
        RevocationReason,
    )
    from ca.signer import PrivateKeySigner, Signer
    from ca.store import CertificateStore

_HOMES = {
    "ca.authority": ["Authority", "AuthorityConfig", "IssueRequest", "SignerResolver"],
    "ca.clock": ["Clock", "FixedClock", "system_clock"],
    "ca.crl": ["CRLDocument"],
    "ca.errors": ["CAError"],
    "ca.issued": ["IssuedCertificate"],
    "ca.keys": ["KeySpec"],
    "ca.names": ["RequestedNames"],
    "ca.policy": ["NamePolicy"],
    "ca.profiles": ["CertificateKind", "Profile", "ProfileSet", "default_profiles"],
    "ca.records": [
        "AuditEvent",
        "AuthorityRecord",
        "AuthorityRole",
        "AuthorityStatus",
        "CertificateQuery",
        "CertificateRecord",
        "EffectiveStatus",
        "RevocationReason",
    ],
    "ca.signer": ["PrivateKeySigner", "Signer"],
    "ca.store": ["CertificateStore"],
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "Authority",
    "AuthorityConfig",
    "IssueRequest",
    "SignerResolver",
    "Clock",
    "FixedClock",
    "system_clock",
    "CRLDocument",
    "CAError",
    "IssuedCertificate",
    "KeySpec",
    "RequestedNames",
    "NamePolicy",
    "CertificateKind",
    "Profile",
    "ProfileSet",
    "default_profiles",
    "AuditEvent",
    "AuthorityRecord",
    "AuthorityRole",
    "AuthorityStatus",
    "CertificateQuery",
    "CertificateRecord",
    "EffectiveStatus",
    "RevocationReason",
    "PrivateKeySigner",
    "Signer",
    "CertificateStore",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'ca' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
