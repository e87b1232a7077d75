"""What the maintenance tests share: a clock to move, certificates to issue, CRLs to read."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from albca.ca.authority import Authority, IssueRequest
from albca.ca.keys import KeySpec, generate_private_key
from albca.ca.names import RequestedNames
from albca.trust_bundle.artefacts import crl_name
from albca.trust_bundle.errors import PublishFailed
from albca.trust_bundle.maintenance import Maintenance, MaintenancePolicy
from albca.trust_bundle.notices import Notice, NoticeSink
from albca.trust_bundle.publish import PublishedObject, Publisher
from albca.trust_bundle.revocation_sync import RevocationSync

_LEAF_KEY = generate_private_key(KeySpec.EC_P256)


@dataclass
class MovingClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def issue(authority: Authority, name: str, lifetime: timedelta) -> int:
    issued = authority.issue(
        IssueRequest(
            profile="client",
            public_key=_LEAF_KEY.public_key(),
            names=RequestedNames.of(common_name=name),
            requested_by="test",
            lifetime=lifetime,
        )
    )
    return issued.record.serial


def published_crls(
    authority: Authority, publisher: Publisher
) -> dict[str, x509.CertificateRevocationList]:
    """The CRL published for each CA relying parties trust (issuing CAs and roots)."""
    return {
        key_id: x509.load_pem_x509_crl(publisher.read(crl_name(key_id)))
        for key_id in authority.crl_issuer_key_ids(roots=True)
    }


def each_notice(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The notices one delivered message (``Notice.to_json``) carries: itself, or those a
    digest lists (all of them, while a digest holds no more than it lists)."""
    detail = message["detail"]
    if "notices" not in detail:
        return [message]
    assert detail["not_listed"] == 0, "the test sends more than a digest lists"
    assert detail["count"] == len(detail["notices"])
    return list(detail["notices"])


def expiry_announcements(notices: list[Notice]) -> Counter[tuple[str, int]]:
    return Counter(
        (n["detail"]["serial"], n["detail"]["threshold_days"])
        for message in notices
        for n in each_notice(message.to_json())
        if n["kind"] == "expiry"
    )


@dataclass
class FlakyPublisher:
    """A publisher whose next ``failures`` publishes fail, as an S3 outage would."""

    inner: Publisher
    failures: int = 0
    failed: list[str] = field(default_factory=list)

    @property
    def target(self) -> str:
        return self.inner.target

    def publish(self, name: str, data: bytes, *, content_type: str) -> PublishedObject:
        if self.failures > 0:
            self.failures -= 1
            self.failed.append(name)
            raise PublishFailed(f"cannot publish {name}: simulated outage", target=self.target)
        return self.inner.publish(name, data, content_type=content_type)

    def replace_if(self, name: str, data: bytes, *, content_type: str, replaces):
        if self.failures > 0:
            self.failures -= 1
            self.failed.append(name)
            raise PublishFailed(f"cannot publish {name}: simulated outage", target=self.target)
        return self.inner.replace_if(name, data, content_type=content_type, replaces=replaces)

    def read(self, name: str, version_id: str | None = None) -> bytes:
        return self.inner.read(name, version_id)


def maintenance_over(
    authority: Authority, publisher: Publisher, sink: NoticeSink, **policy: Any
) -> Maintenance:
    """Maintenance publishing to ``publisher`` (no trust stores) and telling ``sink``."""
    return Maintenance(
        authority=authority,
        publisher=publisher,
        sync=lambda: RevocationSync(
            authority=authority, publisher=publisher, trust_stores=None, include_roots=True
        ),
        sinks=[sink],
        policy=MaintenancePolicy(**policy),
    )
