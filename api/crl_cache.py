"""The current CRL the API serves, signed at most once per refresh interval.

``GET /v1/ca/crl`` is public (relying parties poll it), so it must not sign a new CRL, and
take a new CRL number and write an audit event, on every request. Each process keeps the
CRL it signed last and signs anew when it is older than the refresh interval or when this
process revoked a certificate since. Revocations made elsewhere (the CLI, another worker)
appear within the refresh interval.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from albca.ca.authority import Authority
from albca.ca.crl import CRLDocument

__all__ = ["CrlCache"]


class CrlCache:
    def __init__(self, authority: Authority, *, refresh: timedelta) -> None:
        self._authority = authority
        self._refresh = refresh
        self._lock = threading.Lock()
        self._current: CRLDocument | None = None

    def invalidate(self) -> None:
        with self._lock:
            self._current = None

    def current(self) -> CRLDocument:
        with self._lock:
            now = self._authority.now()
            document = self._current
            if document is None or now - document.this_update >= self._refresh:
                document = self._authority.generate_crl(requested_by="api:crl")
                self._current = document
            return document
