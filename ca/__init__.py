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
    from albca.ca.authority import Authority, AuthorityConfig, IssueRequest, SignerResolver
    from albca.ca.clock import Clock, FixedClock, system_clock
    from albca.ca.crl import CRLDocument
    from albca.ca.errors import CAError
    from albca.ca.issued import IssuedCertificate
    from albca.ca.keys import KeySpec
    from albca.ca.names import RequestedNames
    from albca.ca.policy import NamePolicy
    from albca.ca.profiles import CertificateKind, Profile, ProfileSet, default_profiles
    from albca.ca.records import (
        AuditEvent,
        AuthorityRecord,
        AuthorityRole,
        AuthorityStatus,
        CertificateQuery,
        CertificateRecord,
        EffectiveStatus,
        RevocationReason,
    )
    from albca.ca.signer import PrivateKeySigner, Signer
    from albca.ca.stores.protocol import CertificateStore

_HOMES = {
    "albca.ca.authority": ["Authority", "AuthorityConfig", "IssueRequest", "SignerResolver"],
    "albca.ca.clock": ["Clock", "FixedClock", "system_clock"],
    "albca.ca.crl": ["CRLDocument"],
    "albca.ca.errors": ["CAError"],
    "albca.ca.issued": ["IssuedCertificate"],
    "albca.ca.keys": ["KeySpec"],
    "albca.ca.names": ["RequestedNames"],
    "albca.ca.policy": ["NamePolicy"],
    "albca.ca.profiles": ["CertificateKind", "Profile", "ProfileSet", "default_profiles"],
    "albca.ca.records": [
        "AuditEvent",
        "AuthorityRecord",
        "AuthorityRole",
        "AuthorityStatus",
        "CertificateQuery",
        "CertificateRecord",
        "EffectiveStatus",
        "RevocationReason",
    ],
    "albca.ca.signer": ["PrivateKeySigner", "Signer"],
    "albca.ca.stores.protocol": ["CertificateStore"],
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
