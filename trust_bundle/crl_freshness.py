"""Whether a trust store this CA feeds holds a complete, fresh CRL of each of its CAs.

Read from what the sync leaves behind, changing nothing: the ``albca:crl:<issuer>`` tags say
which revocation entry holds which CA's CRL and its CRL number; the CRL itself is read back
from the publish target (``crl/<issuer key id>.pem``, among its last few S3 versions) and
compared with what that CA would list now. A CA's CRL in the store is:

- ``current``: it lists every revocation the CA has now, and less than half of its
  validity has passed;
- ``missing``: no tag names a revocation entry the store holds for it;
- ``behind``: the CA revoked a certificate it does not list (or retired an issuing CA,
  for a root);
- ``ageing``: more than half of its validity has passed (a sync publishes a fresh one);
- ``unknown``: its CRL could not be read back (no S3 target, or too many versions since).

Revocation entries no tag names (``orphans``) and tags of CAs the store no longer trusts
(``stale_tags``) are what a sync removes: the store is not in step while it has any.
``albca alb enable-mtls`` syncs only a store that is not in step, so running it twice
changes nothing the second time; ``albca alb status`` shows the standing.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509

from albca.ca.authority import Authority
from albca.trust_bundle.artefacts import crl_name
from albca.trust_bundle.elbv2 import TAG_CRL_PREFIX, CrlTag, TrustStore, TrustStoreApi
from albca.trust_bundle.errors import PublishFailed
from albca.trust_bundle.key_ids import bundle_key_ids, certificate_key_ids
from albca.trust_bundle.publish import S3Publisher

__all__ = [
    "CrlState",
    "IssuerCrl",
    "CrlStanding",
    "crl_standing",
    "store_standing",
    "VERSIONS_LOOKED_AT",
]

VERSIONS_LOOKED_AT = 5
"""How many of the newest versions of ``crl/<issuer>.pem`` are searched for the CRL number
a store's tag names (several stores synced one by one each hold a different number)."""


class CrlState(enum.Enum):
    CURRENT = "current"
    MISSING = "missing"
    BEHIND = "behind"
    AGEING = "ageing"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class IssuerCrl:
    issuer_key_id: str
    tag: CrlTag | None
    state: CrlState
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {
            "issuer_key_id": self.issuer_key_id,
            "revocation_id": self.tag.revocation_id if self.tag else None,
            "crl_number": self.tag.number if self.tag else None,
            "state": self.state.value,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class CrlStanding:
    store: str
    issuers: tuple[IssuerCrl, ...]
    orphans: tuple[int, ...]  # revocation ids no albca:crl tag names
    stale_tags: tuple[str, ...]  # albca:crl tags of CAs the store no longer trusts

    @property
    def in_step(self) -> bool:
        return (
            all(issuer.state is CrlState.CURRENT for issuer in self.issuers)
            and not self.orphans
            and not self.stale_tags
        )

    def summary(self) -> str:
        """One line: ``in step (CRL 3 of 1a2b3c4d..., CRL 1 of 9f8e7d6c...)``, or what is
        not."""
        if self.in_step:
            held = [
                f"CRL {i.tag.number} of {i.issuer_key_id[:8]}..." for i in self.issuers if i.tag
            ]
            return f"in step ({', '.join(held)})" if held else "in step"
        problems = [
            f"{i.issuer_key_id[:8]}...: {i.detail}"
            for i in self.issuers
            if i.state is not CrlState.CURRENT
        ]
        if self.orphans:
            problems.append(f"{len(self.orphans)} CRL(s) no albca:crl tag names")
        if self.stale_tags:
            problems.append(f"{len(self.stale_tags)} tag(s) of CAs no longer trusted")
        return f"not in step: {'; '.join(problems)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "in_step": self.in_step,
            "issuers": [issuer.to_json() for issuer in self.issuers],
            "orphan_revocation_ids": list(self.orphans),
            "stale_tags": list(self.stale_tags),
        }


def crl_standing(
    store: TrustStore,
    *,
    authority: Authority,
    revocation_ids: Collection[int],
    bundle_key_ids: frozenset[str],
    publisher: S3Publisher | None,
    now: datetime,
) -> CrlStanding:
    """The standing of ``store`` (with its tags), which holds the revocation entries
    ``revocation_ids`` and the CAs ``bundle_key_ids``. Which CAs need a CRL, and which tags
    are stale, are decided as ``RevocationSync`` decides them when bundle changes refresh
    the roots' CRLs too."""
    tags = store.crls
    trusted = _trusted_key_ids(authority)
    wanted = [i for i in authority.crl_issuer_key_ids(roots=True) if i in bundle_key_ids]
    stale = tuple(
        f"{TAG_CRL_PREFIX}{issuer}"
        for issuer in tags
        if issuer not in bundle_key_ids or issuer not in trusted
    )
    kept = {
        tag.revocation_id
        for issuer, tag in tags.items()
        if f"{TAG_CRL_PREFIX}{issuer}" not in stale
    }
    orphans = tuple(sorted(r for r in revocation_ids if r not in kept))
    issuers = []
    for issuer in wanted:
        tag = tags.get(issuer)
        if tag is None or tag.revocation_id not in revocation_ids:
            issuers.append(IssuerCrl(issuer, tag, CrlState.MISSING, "no CRL in the store"))
            continue
        issuers.append(_issuer_crl(issuer, tag, authority, publisher, now))
    return CrlStanding(store.name, tuple(issuers), orphans, stale)


def _issuer_crl(
    issuer: str, tag: CrlTag, authority: Authority, publisher: S3Publisher | None, now: datetime
) -> IssuerCrl:
    crl = _published_crl(publisher, issuer, tag.number)
    if crl is None:
        where = "no s3:// publish target" if publisher is None else "not among its last versions"
        return IssuerCrl(
            issuer, tag, CrlState.UNKNOWN, f"CRL {tag.number} cannot be read back ({where})"
        )
    listed = {revoked.serial_number for revoked in crl}
    unlisted = [e for e in authority.crl_entries(issuer) if e.serial not in listed]
    if unlisted:
        return IssuerCrl(
            issuer,
            tag,
            CrlState.BEHIND,
            f"CRL {tag.number} lacks {len(unlisted)} revocation(s) made since",
        )
    next_update = crl.next_update_utc
    if next_update is not None:
        half_life = crl.last_update_utc + (next_update - crl.last_update_utc) / 2
        if now >= half_life:
            return IssuerCrl(
                issuer,
                tag,
                CrlState.AGEING,
                f"CRL {tag.number} is past half its validity (next update "
                f"{next_update.isoformat()})",
            )
    return IssuerCrl(issuer, tag, CrlState.CURRENT, f"CRL {tag.number} is complete")


def _published_crl(
    publisher: S3Publisher | None, issuer: str, number: int
) -> x509.CertificateRevocationList | None:
    if publisher is None:
        return None
    name = crl_name(issuer)
    try:
        versions = publisher.versions(name)[:VERSIONS_LOOKED_AT]
        for version in versions:
            crl = x509.load_pem_x509_crl(publisher.read(name, version.version_id))
            if _crl_number(crl) == number:
                return crl
    except (PublishFailed, ValueError):
        return None
    return None


def _crl_number(crl: x509.CertificateRevocationList) -> int | None:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return None


def _trusted_key_ids(authority: Authority) -> frozenset[str]:
    return certificate_key_ids(authority.trusted_certificates())


def store_standing(
    store: TrustStore,
    *,
    authority: Authority,
    api: TrustStoreApi,
    publisher: S3Publisher | None,
    now: datetime,
) -> CrlStanding:
    """``crl_standing`` of a store as it stands: the CAs of the bundle it was given (read
    back at the version its tags name), else of the bundle albca would publish now."""
    key_ids = None
    location = store.bundle
    if location is not None and publisher is not None and location.bucket == publisher.bucket:
        try:
            pem = publisher.read(publisher.name_of(location.url), location.version_id)
            key_ids = bundle_key_ids(pem)
        except (PublishFailed, ValueError):
            key_ids = None
    if key_ids is None:
        key_ids = certificate_key_ids(authority.trusted_certificates())
    return crl_standing(
        store,
        authority=authority,
        revocation_ids=[r.revocation_id for r in api.revocations(store.arn)],
        bundle_key_ids=key_ids,
        publisher=publisher,
        now=now,
    )
