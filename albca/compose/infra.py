"""The CA meets ``infra``: what the AWS set-up commands take from the authority.

``infra`` receives plain values and callables, never ``Services``: the CA certificates
that make a certificate "albca's", a function that issues a server or client
certificate, the revoked serials to compare trust stores with, and the trust store
source a verify-mode listener gets.

``trust_store_source`` is where the trust bundle service plugs in: with an ``s3://``
publish target (ALBCA_PUBLISH_TO), the trust store named on the command line is fed by
it (bundle published, store created or updated from that exact version, CRLs in step,
ACTIVE: ``infra.published_trust_store``), its S3 and ELBv2 calls recorded on the command's
``Aws`` (``infra.recording``); without one, it must exist already and is waited for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from albca.ca.authority import Authority, IssueRequest
from albca.ca.hierarchy import ca_identity
from albca.ca.issued import IssuedCertificate
from albca.ca.keys import KeySpec
from albca.ca.names import RequestedNames
from albca.ca.progress import NO_PROGRESS, Progress
from albca.infra.calls import Aws
from albca.infra.cloudfront_origin import ClientCertificateAuthority
from albca.infra.listener_status import CaView
from albca.infra.published_trust_store import ManagerFactory, PublishedTrustStore
from albca.infra.recording import RecordingClient
from albca.infra.trust_store_ready import ExistingTrustStore, TrustStoreSource
from albca.infra.waiting import Wait
from albca.trust_bundle.alb_rules import ALB_LIMITS, TrustStoreLimits
from albca.trust_bundle.crl_freshness import CrlStanding, store_standing
from albca.trust_bundle.elbv2 import TrustStoreApi
from albca.trust_bundle.errors import TrustStoreError
from albca.trust_bundle.publish import S3Publisher
from albca.trust_bundle.sync_trail import sync_state
from albca.trust_bundle.trust_stores import TrustStoreManager

__all__ = [
    "publishes_trust_stores",
    "trust_store_source",
    "trust_store_manager_for",
    "FeedView",
    "trust_store_feed",
    "server_certificate_issuer",
    "client_certificate_issuer",
    "server_certificate_for_key",
    "signing_certificate",
    "cloudfront_client_ca",
    "ca_view",
]


def publishes_trust_stores(publish_to: str | None) -> bool:
    """Whether ALBCA_PUBLISH_TO is a target ALB trust stores can load from (S3)."""
    return publish_to is not None and publish_to.startswith("s3://")


def trust_store_source(
    name_or_arn: str | None,
    *,
    wait_seconds: float,
    publish_to: str | None = None,
    authority: Authority | None = None,
    actor: str = "",
    advertise_ca_names: bool = False,
    limits: TrustStoreLimits = ALB_LIMITS,
    progress: Progress = NO_PROGRESS,
) -> TrustStoreSource | None:
    """The trust store a verify-mode listener will use; None keeps the listener's own.

    With an ``s3://`` ``publish_to`` (and the ``authority`` whose bundle it holds), the
    store is fed by albca: created or updated as needed, its bundle and CRLs checked
    against ``limits`` (the account's quotas, ALBCA_TRUST_STORE_QUOTAS). Otherwise it must
    exist, and the error when it does not says how to have albca create it.
    """
    if name_or_arn is None:
        return None
    wait = Wait.up_to(wait_seconds, progress=progress)
    if publish_to is not None and publishes_trust_stores(publish_to):
        if authority is None:
            raise ValueError("an s3:// publish target needs the authority whose bundle it holds")
        bucket, _, prefix = publish_to.removeprefix("s3://").partition("/")
        return PublishedTrustStore(
            name_or_arn,
            manager=trust_store_manager_for(
                authority, bucket=bucket, prefix=prefix, wait=wait, limits=limits
            ),
            actor=actor,
            target=publish_to,
            advertise_ca_names=advertise_ca_names,
        )
    return ExistingTrustStore(name_or_arn, wait, missing=_how_to_publish(publish_to))


def trust_store_manager_for(
    authority: Authority,
    *,
    bucket: str,
    prefix: str,
    wait: Wait,
    limits: TrustStoreLimits = ALB_LIMITS,
) -> ManagerFactory:
    """The trust store manager of ``authority`` publishing to ``s3://bucket/prefix``, made
    per run on that run's ``Aws``: each S3 and ELBv2 change it makes goes on the record."""

    def manager(aws: Aws) -> TrustStoreManager:
        return TrustStoreManager(
            authority=authority,
            publisher=S3Publisher(RecordingClient(aws, "s3"), bucket, prefix),
            api=TrustStoreApi(
                RecordingClient(aws, "elbv2"), sleep=wait.sleep, progress=wait.progress
            ),
            wait_seconds=wait.seconds,
            poll_seconds=wait.interval,
            limits=limits,
        )

    return manager


def _how_to_publish(publish_to: str | None) -> str:
    create = (
        "s3://BUCKET/PREFIX (a versioned bucket: `albca aws bootstrap` makes one) and albca "
        "creates the trust store from its published bundle, or create it first with `albca "
        "truststore create NAME --publish-to s3://BUCKET/PREFIX`"
    )
    if publish_to is None:
        return f"no publish target is configured: set ALBCA_PUBLISH_TO={create}"
    return (
        f"ALBCA_PUBLISH_TO is {publish_to}, but trust stores load their bundle from S3: set "
        f"it to {create}"
    )


def server_certificate_issuer(
    authority: Authority, *, actor: str, profile: str = "server"
) -> Callable[[str, KeySpec], IssuedCertificate]:
    def issue(domain: str, key_spec: KeySpec) -> IssuedCertificate:
        return authority.issue_with_new_key(
            profile=profile,
            names=RequestedNames.of(dns_names=[domain]),
            requested_by=actor,
            key_spec=key_spec,
        )

    return issue


def client_certificate_issuer(
    authority: Authority, *, actor: str, profile: str = "client"
) -> Callable[[str, KeySpec], IssuedCertificate]:
    def issue(common_name: str, key_spec: KeySpec) -> IssuedCertificate:
        return authority.issue_with_new_key(
            profile=profile,
            names=RequestedNames.of(common_name=common_name),
            requested_by=actor,
            key_spec=key_spec,
        )

    return issue


def ca_view(authority: Authority, now: datetime) -> CaView:
    """The CA certificates relying parties must trust now and, per issuing CA, the serials
    of its unexpired revoked certificates."""
    revoked: dict[x509.Name, frozenset[int]] = {}
    for key_id in authority.issuing_key_ids():
        (certificate,) = authority.chain_for(key_id)
        entries = authority.store.revoked_entries(key_id, now)
        revoked[certificate.subject] = frozenset(entry.serial for entry in entries)
    return CaView(certificates=tuple(authority.trusted_certificates()), revoked=revoked)


def server_certificate_for_key(
    authority: Authority, *, actor: str, lifetime: timedelta | None, profile: str = "server"
) -> Callable[[CertificatePublicKeyTypes, RequestedNames], IssuedCertificate]:
    """Issues a server certificate for a key the caller keeps (a backend's own key)."""

    def issue(public_key: CertificatePublicKeyTypes, names: RequestedNames) -> IssuedCertificate:
        return authority.issue(
            IssueRequest(
                profile=profile,
                public_key=public_key,
                names=names,
                requested_by=actor,
                lifetime=lifetime,
            )
        )

    return issue


def signing_certificate(authority: Authority) -> x509.Certificate:
    """The certificate of the issuing CA that signs now."""
    return x509.load_pem_x509_certificate(authority.active_issuer_record().certificate_pem.encode())


def cloudfront_client_ca(
    authority: Authority, *, key_spec: KeySpec | None, actor: str
) -> ClientCertificateAuthority:
    """The active issuing CA, its chain up to the root, and a client certificate issuer,
    for CloudFront origin mTLS."""
    record = authority.active_issuer_record()
    issuing = x509.load_pem_x509_certificate(record.certificate_pem.encode())
    by_key_id = {r.key_id: r for r in authority.authorities()}
    above: list[x509.Certificate] = []
    parent = record.parent_key_id
    while parent is not None and parent in by_key_id:
        parent_record = by_key_id[parent]
        above.append(x509.load_pem_x509_certificate(parent_record.certificate_pem.encode()))
        parent = parent_record.parent_key_id
    return ClientCertificateAuthority(
        issue=client_certificate_issuer(authority, actor=actor),
        key_spec=key_spec,
        issuing_ca=issuing,
        above=tuple(above),
        authorities=authority.trusted_certificates(),
    )


@dataclass(frozen=True)
class FeedView:
    """What albca knows of a trust store (``albca alb status``): whether this CA feeds it
    (its ``albca:ca`` tag), the standing of its CRLs (``trust_bundle.crl_freshness``; None
    without an S3 publish target to read them back from) and the syncs the audit trail
    says are pending. ``error``: why none of it could be read."""

    name: str
    ca_id: str | None
    fed: bool
    standing: CrlStanding | None
    pending_syncs: int
    error: str | None = None

    def line(self) -> str:
        if self.error is not None:
            return f"unknown ({self.error})"
        if self.ca_id is None:
            return (
                "not fed by this CA (no albca:ca tag); take it on with `albca truststore "
                f"update {self.name} --adopt`"
            )
        if not self.fed:
            return f"fed by another CA (albca:ca={self.ca_id})"
        text = "fed by this CA"
        if self.standing is None:
            text += "; its CRLs are tracked with ALBCA_PUBLISH_TO=s3://BUCKET/PREFIX"
        else:
            text += f"; CRLs {self.standing.summary()}"
        if self.pending_syncs:
            text += f"; {self.pending_syncs} pending sync(s) (albca truststore status)"
        if self.standing is not None and not self.standing.in_step:
            text += "; run albca truststore sync"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "ca_id": self.ca_id,
            "fed_by_this_ca": self.fed,
            "crls": self.standing.to_json() if self.standing else None,
            "pending_syncs": self.pending_syncs,
            "error": self.error,
        }


def trust_store_feed(
    aws: Aws, trust_store_arn: str, *, authority: Authority, publish_to: str | None
) -> FeedView:
    """Reads only (the trust store's tags and revocations, the published CRLs). A store
    whose tags cannot be read (another account's, or no DescribeTags permission) is
    reported as unknown rather than failing the whole status."""
    api = TrustStoreApi(RecordingClient(aws, "elbv2"))
    try:
        store = api.by_arn(trust_store_arn)
    except TrustStoreError as exc:
        return FeedView(trust_store_arn, None, False, None, 0, error=exc.message)
    identity = ca_identity(authority.store.list_authorities())
    pending = len(sync_state(authority.store).pending)
    if store.ca_id != identity:
        return FeedView(store.name, store.ca_id, False, None, pending)
    if publish_to is None or not publishes_trust_stores(publish_to):
        return FeedView(store.name, store.ca_id, True, None, pending)
    bucket, _, prefix = publish_to.removeprefix("s3://").partition("/")
    publisher = S3Publisher(RecordingClient(aws, "s3"), bucket, prefix)
    try:
        standing = store_standing(
            store, authority=authority, api=api, publisher=publisher, now=authority.now()
        )
    except TrustStoreError as exc:
        return FeedView(store.name, store.ca_id, True, None, pending, error=exc.message)
    return FeedView(store.name, store.ca_id, True, standing, pending)
