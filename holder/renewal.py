"""Renewing a held certificate by proof of possession: a renewal token signed with its
own key (``albca.ca.renewal_token``), no API token needed.

A renewal that must be retried keeps its Idempotency-Key and, with ``rekey``, its new key
and CSR: if an earlier attempt was issued but its answer lost, the retry gets that same
certificate back (the API answers from the key, whatever fresh token proves possession).
Every attempt, the client's own retries included, signs a fresh token: the API spends
each one once, even for an attempt whose answer never came back.
The new files replace the old ones only after the new certificate verifies against the
saved bundle and matches the key that will sit beside it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509

from albca.ca.keys import CAKey, KeySpec, key_spec_of
from albca.ca.names import RequestedNames
from albca.ca.renewal_token import make_renewal_token
from albca.holder.client import CaClient
from albca.holder.errors import CertificateExpired, VerificationFailed
from albca.holder.files import PairPaths, read_pair, replace_pair
from albca.holder.keys import csr_pem, key_pem, new_key
from albca.holder.verify import same_public_key, verify_certificate

__all__ = ["PendingRenewal", "Renewed", "renew_pair"]

# The token says it was made this long ago, for a holder whose clock runs ahead of the
# CA's. The API (api/renewal.py, _check_times) accepts an iat up to its leeway (30 s by
# default, ApiSettings.renewal_token_leeway) ahead of its clock and an exp up to the
# leeway behind it, and exp - iat of at most renewal_token_max_lifetime (5 min): a token
# backdated 2 min that lives 5 min passes from a holder clock 150 s ahead of the CA's to
# 210 s behind it. Without it, one 30 s ahead was refused (NTP not synced at boot).
_TOKEN_BACKDATE = timedelta(minutes=2)
_TOKEN_LIFETIME = timedelta(minutes=5)


@dataclass
class PendingRenewal:
    """One renewal, across its attempts."""

    rekey: bool = False
    key_spec: KeySpec | None = None  # with rekey; default: the old key's type
    idempotency_key: str = field(default_factory=lambda: str(uuid.uuid4()))
    new_key: CAKey | None = None
    csr: str | None = None


@dataclass(frozen=True)
class Renewed:
    old: x509.Certificate
    new: x509.Certificate
    replayed: bool


def renew_pair(
    client: CaClient,
    paths: PairPaths,
    pending: PendingRenewal,
    *,
    trusted: list[x509.Certificate],
    audience: str,
    now: datetime,
    step: Callable[[str], None] = lambda name: None,
) -> Renewed:
    """Renew the pair at ``paths`` (the caller holds its lock)."""
    held = read_pair(paths)
    old = held.certificate
    if now >= old.not_valid_after_utc:
        raise CertificateExpired(
            f"{paths.certificate}: certificate {old.serial_number:x} expired at "
            f"{old.not_valid_after_utc.isoformat()} and cannot be renewed; request a new one "
            "(albca request)"
        )
    if pending.rekey and pending.new_key is None:
        pending.new_key = new_key(pending.key_spec or key_spec_of(held.key.public_key()))
        # Only the key of the CSR is used on renewal; the names come from the certificate.
        pending.csr = csr_pem(pending.new_key, RequestedNames())

    def fresh_token() -> str:
        return make_renewal_token(
            old,
            held.key,
            audience=audience,
            now=now - _TOKEN_BACKDATE,
            lifetime=_TOKEN_LIFETIME,
        )

    issued = client.renew(
        renewal_token=fresh_token, csr_pem=pending.csr, idempotency_key=pending.idempotency_key
    )
    new = x509.load_pem_x509_certificate(issued.certificate_pem.encode())
    chain = x509.load_pem_x509_certificates(issued.chain_pem.encode()) if issued.chain_pem else []
    key = pending.new_key or held.key
    if not same_public_key(new, key):
        raise VerificationFailed(
            f"the CA returned certificate {new.serial_number:x} for another key; "
            "the old files were kept"
        )
    try:
        verify_certificate(new, trusted, intermediates=chain, now=max(now, _start(new)))
    except VerificationFailed as exc:
        raise VerificationFailed(f"{exc.message}; the old files were kept") from None
    replace_pair(
        paths,
        certificate_pem=issued.certificate_pem.encode(),
        chain_pem=issued.chain_pem.encode(),
        key_pem=key_pem(pending.new_key) if pending.new_key is not None else None,
        step=step,
    )
    return Renewed(old=old, new=new, replayed=issued.replayed)


def _start(certificate: x509.Certificate) -> datetime:
    # The CA may backdate notBefore a little for clock skew; a new certificate is checked
    # at the later of now and its start, so a holder's clock a second behind is no failure.
    return certificate.not_valid_before_utc
