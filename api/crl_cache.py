"""The current CRL the API serves: the newest one signed for it, shared by every process.

``GET /v1/ca/crl`` is public (relying parties poll it), so it must not sign a new CRL, and
take a new CRL number and write an audit event, on every request. It must also never serve
a CRL that lacks a revocation the API acknowledged, nor a lower number than it served
before, whichever worker (``albca serve --workers N``, Lambda instances) answers (issue
12, point 4: each worker kept its own CRL for a minute).

So each request reads the issuer's ``crl_state`` (one small read: the revocation counter
and the facts of the CRL kept in the store) and serves

1. the CRL this process holds, if no revocation was counted since its entries were read,
   no process kept a higher-numbered one, and it is younger than the refresh interval;
2. else the kept CRL (``kept_crl``), under the same conditions;
3. else a CRL signed now, kept in the store unless a higher-numbered one was kept
   meanwhile (then that one, which lists every revocation this one would).

A CRL too large to keep in a DynamoDB item (``DynamoDBStore.keep_crl``) stays in the
process that signed it: there, each process serves its own.

Each issuing CA relying parties trust has its CRL, not only the active one: after a
rotation the previous CA's certificates stay valid until they expire, and their
revocations are listed only in that CA's CRL (``current(issuer)``).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from albca.api.errors import CrlIssuerNotFound
from albca.ca.authority import Authority
from albca.ca.crl import CRLDocument
from albca.ca.stores.protocol import CrlState, KeptCrl

__all__ = ["CrlCache"]


class CrlCache:
    def __init__(self, authority: Authority, *, refresh: timedelta) -> None:
        self._authority = authority
        self._refresh = refresh
        self._lock = threading.Lock()
        self._held: dict[str, KeptCrl] = {}  # by issuer key id, each CRL with its DER

    def invalidate(self) -> None:
        """Forget the CRLs held here (the store's revocation counter also tells)."""
        with self._lock:
            self._held.clear()

    def current(self, issuer: str | None = None) -> CRLDocument:
        """The CRL of issuing CA ``issuer`` (a key id), or of the active one."""
        if issuer is None:
            issuer = self._authority.issuer().key_id
        elif issuer not in self._authority.issuing_key_ids():
            raise CrlIssuerNotFound(
                f"issuer: no issuing CA that relying parties trust has key id {issuer!r} "
                "(GET /v1/ca/bundle lists them; albca ca status shows their key ids)"
            )
        with self._lock:
            store = self._authority.store
            now = self._authority.now()
            state = store.crl_state(issuer)
            held = self._held.get(issuer)
            kept_number = state.kept.number if state.kept is not None else 0
            if held is not None and held.number >= kept_number and self._serves(held, state, now):
                return _document(issuer, held)
            if state.kept is not None and self._serves(state.kept, state, now):
                kept = store.kept_crl(issuer)
                if kept is not None and self._serves(kept, state, now):
                    self._held[issuer] = kept
                    return _document(issuer, kept)
            document, revocations = self._authority.generate_counted_crl(
                issuer, requested_by="api:crl"
            )
            kept = store.keep_crl(
                issuer,
                KeptCrl(
                    number=document.number,
                    revocations=revocations,
                    this_update=document.this_update,
                    next_update=document.next_update,
                    entries=document.entries,
                    der=document.der,
                ),
            )
            self._held[issuer] = kept
            return _document(issuer, kept)

    def _serves(self, crl: KeptCrl, state: CrlState, now: datetime) -> bool:
        return crl.revocations >= state.revocations and now - crl.this_update < self._refresh


def _document(issuer_key_id: str, crl: KeptCrl) -> CRLDocument:
    assert crl.der is not None
    return CRLDocument(
        der=crl.der,
        number=crl.number,
        issuer_key_id=issuer_key_id,
        this_update=crl.this_update,
        next_update=crl.next_update,
        entries=crl.entries,
    )
