"""``albca alb status``: each HTTPS listener's mTLS mode, trust store, bundle and CRLs.

The bundle and the CRLs a trust store loaded are read back from AWS (the pre-signed URLs
of ``get_trust_store_ca_certificates_bundle`` and ``get_trust_store_revocation_content``)
and compared with what albca's CA says relying parties must hold now: the bundle is
"current" when it holds exactly the CA's certificates, a CRL is "current" when it lists
every unexpired revoked certificate of its CA. Nothing here changes AWS.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from albca.infra.calls import Aws
from albca.infra.listeners import Listener, listeners_of, read_listener
from albca.infra.trust_store_ready import find_trust_store
from albca.trust_bundle.elbv2 import TrustStore

__all__ = ["CaView", "ListenerStatus", "listener_statuses", "resolve_load_balancer"]


@dataclass(frozen=True)
class CaView:
    """What the CA says a trust store should hold now (plain values from ``albca``)."""

    certificates: tuple[x509.Certificate, ...]
    # Unexpired revoked serials per issuing CA, keyed by the CA's subject.
    revoked: Mapping[x509.Name, frozenset[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class ListenerStatus:
    listener: Listener
    trust_store: TrustStore | None
    bundle: str
    crls: str

    def as_dict(self) -> dict[str, object]:
        attributes = self.listener.mutual_authentication
        return {
            "listener": self.listener.arn,
            "port": self.listener.port,
            "mode": self.listener.mode,
            "trust_store": self.trust_store.name if self.trust_store else None,
            "trust_store_arn": self.trust_store.arn if self.trust_store else None,
            "trust_store_status": self.trust_store.status if self.trust_store else None,
            "ignore_client_certificate_expiry": attributes.get("IgnoreClientCertificateExpiry"),
            "advertise_ca_names": attributes.get("AdvertiseTrustStoreCaNames"),
            "bundle": self.bundle,
            "crls": self.crls,
        }


def resolve_load_balancer(aws: Aws, arn_or_name: str) -> str:
    params: dict[str, Any] = (
        {"LoadBalancerArns": [arn_or_name]}
        if arn_or_name.startswith("arn:")
        else {"Names": [arn_or_name]}
    )
    (described,) = aws.read("elbv2", "describe_load_balancers", **params)["LoadBalancers"]
    arn: str = described["LoadBalancerArn"]
    return arn


def listener_statuses(
    aws: Aws,
    *,
    load_balancer_arn: str | None = None,
    listener_arn: str | None = None,
    ca: CaView,
    now: datetime,
) -> list[ListenerStatus]:
    """The HTTPS listeners of a load balancer (or one listener), each with its state."""
    if listener_arn is not None:
        listeners = [read_listener(aws, listener_arn)]
    elif load_balancer_arn is not None:
        listeners = listeners_of(aws, load_balancer_arn)
    else:
        raise ValueError("give load_balancer_arn or listener_arn")
    statuses = []
    for listener in listeners:
        if listener.protocol != "HTTPS":
            continue
        if listener.trust_store_arn is None:
            statuses.append(ListenerStatus(listener, None, "-", "-"))
            continue
        store = find_trust_store(aws, listener.trust_store_arn)
        statuses.append(
            ListenerStatus(
                listener,
                store,
                _bundle_state(aws, store, ca),
                _crl_state(aws, store, ca, now),
            )
        )
    return statuses


def _bundle_state(aws: Aws, store: TrustStore, ca: CaView) -> str:
    url = aws.read("elbv2", "get_trust_store_ca_certificates_bundle", TrustStoreArn=store.arn)
    try:
        pem = aws.clients.fetch(url["Location"])
        loaded = x509.load_pem_x509_certificates(pem)
    except (OSError, ValueError) as exc:
        return f"unreadable ({exc})"
    digest = hashlib.sha256(pem).hexdigest()[:12]
    # In bundle order, so that the message reads the same every time.
    loaded_der = {_der(c) for c in loaded}
    wanted_der = {_der(c) for c in ca.certificates}
    missing = [c for c in ca.certificates if _der(c) not in loaded_der]
    extra = [c for c in loaded if _der(c) not in wanted_der]
    facts = f"sha256 {digest}, {_count(len(loaded), 'CA')}"
    if not missing and not extra:
        return f"current ({facts})"
    problems = [f"missing {_names(missing)}"] if missing else []
    problems += [f"also holds {_names(extra)}"] if extra else []
    return f"differs from albca's bundle: {'; '.join(problems)} ({facts})"


def _crl_state(aws: Aws, store: TrustStore, ca: CaView, now: datetime) -> str:
    revocations = _revocations(aws, store.arn)
    loaded: dict[x509.Name, set[int]] = {}
    expired = []
    for revocation in revocations:
        url = aws.read(
            "elbv2",
            "get_trust_store_revocation_content",
            TrustStoreArn=store.arn,
            RevocationId=revocation["RevocationId"],
        )
        try:
            crl = _load_crl(aws.clients.fetch(url["Location"]))
        except (OSError, ValueError) as exc:
            return f"{_count(len(revocations), 'CRL')}, unreadable ({exc})"
        loaded.setdefault(crl.issuer, set()).update(r.serial_number for r in crl)
        next_update = crl.next_update_utc
        if next_update is not None and next_update < now:
            expired.append(crl.issuer)
    entries = sum(int(r.get("NumberOfRevokedEntries", 0)) for r in revocations)
    facts = f"{_count(len(revocations), 'CRL')}, {_count(entries, 'entry', 'entries')}"
    problems = []
    for issuer, serials in ca.revoked.items():
        missing = serials - loaded.get(issuer, set())
        if missing:
            count = f"{len(missing)} revocation{'s' if len(missing) > 1 else ''}"
            problems.append(f"{count} of {_name(issuer)} missing")
    problems += [f"CRL of {_name(issuer)} past its next update" for issuer in expired]
    if problems:
        return f"stale: {'; '.join(problems)}; run albca truststore sync ({facts})"
    return f"current ({facts})" if revocations else "none loaded (nothing revoked)"


def _revocations(aws: Aws, arn: str) -> list[dict[str, Any]]:
    """Every revocation entry of the store: DescribeTrustStoreRevocations is paged (ELBv2
    API reference: "NextMarker"), and a page may hold fewer entries than asked for."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"TrustStoreArn": arn}
    while True:
        page = aws.read("elbv2", "describe_trust_store_revocations", **params)
        found += page.get("TrustStoreRevocations", [])
        if not page.get("NextMarker"):
            return found
        params["Marker"] = page["NextMarker"]


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def _load_crl(data: bytes) -> x509.CertificateRevocationList:
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def _name(name: x509.Name) -> str:
    return name.rfc4514_string() or "(empty subject)"


def _names(certificates: Sequence[x509.Certificate]) -> str:
    return ", ".join(_name(c.subject) for c in certificates)
