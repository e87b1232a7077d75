"""Renewal tokens are made in ``albca.ca.renewal_token`` (cryptography only), so that a
holder can make one without the ``api`` extra; the names stay importable from here."""

from __future__ import annotations

from albca.ca.renewal_token import (
    EC_ALGORITHMS,
    RSA_ALGORITHMS,
    algorithm_for_key,
    make_renewal_token,
)

__all__ = ["EC_ALGORITHMS", "RSA_ALGORITHMS", "algorithm_for_key", "make_renewal_token"]
