"""The CA meets ``infra``: what the AWS set-up commands take from the authority.

``infra`` receives plain values and callables, never ``Services``: the CA certificates
that make a certificate "albca's", a function that issues a server or client
certificate, the revoked serials to compare trust stores with, and the trust store
source a verify-mode listener gets.

``trust_store_source`` is where the trust bundle service (issue 5: publish the bundle,
create or update the trust store, wait for ACTIVE) plugs in: today it returns the
existing trust store named on the command line, polled until ACTIVE.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from ca.authority import Authority, IssueRequest
from ca.issued import IssuedCertificate
from ca.keys import KeySpec
from ca.names import RequestedNames
from infra.cloudfront_origin import ClientCertificateAuthority
from infra.listener_status import CaView
from infra.trust_store_ready import ExistingTrustStore, TrustStoreSource
from infra.waiting import Wait

__all__ = [
    "trust_store_source",
    "server_certificate_issuer",
    "client_certificate_issuer",
    "server_certificate_for_key",
    "cloudfront_client_ca",
    "ca_view",
]


def trust_store_source(name_or_arn: str | None, *, wait_seconds: float) -> TrustStoreSource | None:
    """The trust store a verify-mode listener will use; None keeps the listener's own.

    Issue 5 replaces the body with its service (ensure the bundle is published and the
    store created or updated from it), returning a ``TrustStoreSource``.
    """
    if name_or_arn is None:
        return None
    return ExistingTrustStore(name_or_arn, Wait.up_to(wait_seconds))


def server_certificate_issuer(
    authority: Authority, *, key_spec: KeySpec, actor: str, profile: str = "server"
) -> Callable[[str], IssuedCertificate]:
    def issue(domain: str) -> IssuedCertificate:
        return authority.issue_with_new_key(
            profile=profile,
            names=RequestedNames.of(dns_names=[domain]),
            requested_by=actor,
            key_spec=key_spec,
        )

    return issue


def client_certificate_issuer(
    authority: Authority, *, key_spec: KeySpec, actor: str, profile: str = "client"
) -> Callable[[str], IssuedCertificate]:
    def issue(common_name: str) -> IssuedCertificate:
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


def cloudfront_client_ca(
    authority: Authority, *, key_spec: KeySpec, actor: str
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
        issue=client_certificate_issuer(authority, key_spec=key_spec, actor=actor),
        key_spec=key_spec,
        issuing_ca=issuing,
        above=tuple(above),
        authorities=authority.trusted_certificates(),
    )
