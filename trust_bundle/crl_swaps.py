"""What a revocation sync does to one trust store, decided before anything is uploaded.

``swaps_for`` is the one place that decision is made: ``RevocationSync`` (``run``) acts on
it, and ``trust_bundle.planning`` prints it for ``--dry-run``. It reads nothing and changes
nothing: given the CRLs the store holds (by the ``albca:crl:<issuer>`` tags), the new CRL
of each CA, and the CAs of the bundle the store holds, it says, per CA, which CRL goes in
and which one it replaces, which CRLs are kept (a newer one is already in), and which tags
are stale (CAs the store no longer trusts). It checks the limits of each intermediate
state (at most 30 CRLs and 500,000 entries while a CA's old and new CRL are both in) and
raises ``RevocationRejected`` when one would be broken.

Revocation ids are whatever the caller uses for them: ELBv2's integers in a run, and in a
plan also stand-ins for the ids a call not yet made would return.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from albca.trust_bundle.alb_rules import ALB_LIMITS, TrustStoreLimits, check_revocation_totals
from albca.trust_bundle.elbv2 import TAG_CRL_PREFIX
from albca.trust_bundle.errors import RevocationRejected, RevocationRule

__all__ = ["HeldCrl", "NewCrl", "CrlSwap", "StoreSwaps", "swaps_for"]

R = TypeVar("R", bound=Hashable)


@dataclass(frozen=True)
class HeldCrl(Generic[R]):
    """The CRL of one CA a store holds, as its ``albca:crl:`` tag names it."""

    revocation_id: R
    number: int | None  # None: a CRL a plan puts in, numbered when it is signed


@dataclass(frozen=True)
class NewCrl:
    """The CRL a sync signs for one CA. ``number`` None: not signed yet (a plan); it will
    be numbered above every CRL the CA signed before, so it replaces whatever is held."""

    number: int | None
    entries: int


@dataclass(frozen=True)
class CrlSwap(Generic[R]):
    """One CA's CRL replaced: the new one added (and tagged), then ``old`` removed."""

    issuer: str
    entries: int
    old: R | None  # the revocation id of the CRL it replaces, if the store holds one


@dataclass(frozen=True)
class StoreSwaps(Generic[R]):
    store: str
    swaps: tuple[CrlSwap[R], ...]
    kept: tuple[str, ...]  # issuers whose CRL in the store is already as new
    stale_tags: tuple[str, ...]  # albca:crl:<issuer> tags of CAs the store no longer trusts


def swaps_for(
    store: str,
    *,
    held: Mapping[str, HeldCrl[R]],
    revocations: Mapping[R, int],
    new: Mapping[str, NewCrl],
    in_bundle: frozenset[str],
    trusted: frozenset[str],
    limits: TrustStoreLimits = ALB_LIMITS,
    allow_gap: bool = False,
) -> StoreSwaps[R]:
    """The swaps of trust store ``store``, which holds ``revocations`` (id -> entries) and
    the CRLs ``held`` names, and trusts the CAs ``in_bundle``; ``new`` are the CRLs signed
    for this sync (by issuer, in the order they are swapped in), ``trusted`` every CA
    relying parties trust now. ``allow_gap``: remove a CA's old CRL before adding its new
    one (when both at once would break a limit)."""
    swaps: list[CrlSwap[R]] = []
    kept: list[str] = []
    for issuer, crl in new.items():
        if issuer not in in_bundle:
            continue  # e.g. after a rollback to a bundle without it
        tag = held.get(issuer)
        current = tag if tag is not None and tag.revocation_id in revocations else None
        if _as_new(current, crl):
            kept.append(issuer)  # a run that started later already put a newer CRL in
            continue
        swaps.append(CrlSwap(issuer, crl.entries, current.revocation_id if current else None))
    # Tags of CAs the store no longer trusts go; those of CAs not refreshed this run
    # (a root, when roots are left out) stay, and so do their CRLs.
    stale = tuple(
        f"{TAG_CRL_PREFIX}{issuer}"
        for issuer in held
        if issuer not in in_bundle or issuer not in trusted
    )
    result = StoreSwaps(store, tuple(swaps), tuple(kept), stale)
    _check_limits(result, revocations, limits, allow_gap)
    return result


def _as_new(current: HeldCrl[R] | None, crl: NewCrl) -> bool:
    if current is None or current.number is None or crl.number is None:
        return False
    return current.number >= crl.number


def _check_limits(
    swaps: StoreSwaps[R], revocations: Mapping[R, int], limits: TrustStoreLimits, allow_gap: bool
) -> None:
    holding: dict[object, int] = dict(revocations.items())
    for index, swap in enumerate(swaps.swaps):
        new_id = ("new", index)  # stands for the id AWS will give
        if swap.entries > limits.max_revoked_entries:
            _refuse(swaps.store, swap, f"{swap.entries} entries on its own", allow_gap)
        if allow_gap and swap.old is not None:
            holding.pop(swap.old, None)
            holding[new_id] = swap.entries
            _totals(swaps.store, swap, holding, limits, allow_gap)
            continue
        holding[new_id] = swap.entries
        _totals(swaps.store, swap, holding, limits, allow_gap)
        if swap.old is not None:
            holding.pop(swap.old, None)


def _totals(
    store: str,
    swap: CrlSwap[R],
    holding: Mapping[object, int],
    limits: TrustStoreLimits,
    allow_gap: bool,
) -> None:
    try:
        check_revocation_totals(list(holding.values()), limits=limits)
    except RevocationRejected as exc:
        _refuse(store, swap, exc.detail, allow_gap, rule=exc.rule)


def _refuse(
    store: str,
    swap: CrlSwap[R],
    detail: str,
    allow_gap: bool,
    *,
    rule: RevocationRule = RevocationRule.MAX_ENTRIES,
) -> None:
    hint = (
        ""
        if allow_gap
        else "; the old and the new CRL of a CA are held together for a moment: rerun "
        "with --allow-gap to remove the old one first (leaving that CA without a CRL for "
        "the length of one API call)"
    )
    raise RevocationRejected(
        rule,
        f"trust store {store}: adding the new CRL of issuing CA {swap.issuer}: "
        f"{detail}{hint}; nothing was uploaded",
    )
