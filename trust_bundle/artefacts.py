"""The published artefacts: the CA bundle and one CRL per issuing CA, checked, then written.

Every artefact is checked against the ALB trust store rules on the exact bytes that would
be uploaded, before the upload: a bundle or CRL that breaks a rule is never published.

Names under the publish target (``file:///DIR`` or ``s3://BUCKET/PREFIX``)::

    ca-bundle.pem               the CA bundle (every CA relying parties trust now)
    crl/<issuer key id>.pem     the latest full CRL of each issuing CA, PEM
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlparse

from cryptography import x509

from albca.ca.crl import CRLDocument
from albca.ca.stores.protocol import CertificateStore
from albca.trust_bundle.alb_rules import (
    ALB_LIMITS,
    CheckedBundle,
    CheckedCRL,
    TrustStoreLimits,
    check_bundle,
    check_crl,
)
from albca.trust_bundle.errors import PublishFailed
from albca.trust_bundle.publish import (
    PublishedObject,
    Publisher,
    S3Publisher,
    publish_recorded,
    record_publish,
)

__all__ = [
    "BUNDLE_NAME",
    "PEM_CONTENT_TYPE",
    "crl_name",
    "S3Location",
    "PublishedBundle",
    "PublishedCRL",
    "publish_bundle",
    "publish_crl",
    "publish_checked_crl",
    "check_crl_document",
    "crl_number_of",
]

BUNDLE_NAME = "ca-bundle.pem"
PEM_CONTENT_TYPE = "application/x-pem-file"


def crl_name(issuer_key_id: str) -> str:
    return f"crl/{issuer_key_id}.pem"


@dataclass(frozen=True)
class S3Location:
    """One exact S3 object version: what a trust store is pointed at."""

    bucket: str
    key: str
    version_id: str

    @classmethod
    def of(cls, published: PublishedObject) -> S3Location:
        parsed = urlparse(published.url)
        if parsed.scheme != "s3" or not published.version_id:
            raise PublishFailed(
                f"{published.url} is not a versioned S3 object; ALB trust stores load bundles "
                "and CRLs from S3 only: publish to s3://BUCKET/PREFIX",
                target=published.url,
            )
        return cls(parsed.netloc, parsed.path.lstrip("/"), published.version_id)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class PublishedBundle:
    published: PublishedObject
    checked: CheckedBundle
    reused: bool  # the latest published version already held exactly these bytes

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        return self.checked.certificates


@dataclass(frozen=True)
class PublishedCRL:
    published: PublishedObject
    issuer_key_id: str
    number: int
    entries: int


def publish_bundle(
    pem: bytes,
    *,
    publisher: Publisher,
    store: CertificateStore,
    actor: str,
    now: datetime,
    name: str = BUNDLE_NAME,
    advertise_ca_names: bool = False,
    limits: TrustStoreLimits = ALB_LIMITS,
) -> PublishedBundle:
    """Check ``pem`` against every ALB rule, then publish it and record the version.

    Raises ``BundleRejected`` (nothing is uploaded) if a rule is broken. On S3, when the
    latest version of ``name`` already holds these exact bytes, that version is returned
    instead of writing another: trust stores pointed at it need no change, and the bucket's
    version history stays a list of real changes (what ``albca bundle rollback`` walks).
    """
    checked = check_bundle(pem, advertise_ca_names=advertise_ca_names, limits=limits)
    if isinstance(publisher, S3Publisher):
        current = publisher.current(name)
        if current is not None and current.sha256 == _sha256(pem):
            return PublishedBundle(current, checked, reused=True)
    published = publish_recorded(
        publisher, store, name, pem, content_type=PEM_CONTENT_TYPE, actor=actor, now=now
    )
    return PublishedBundle(published, checked, reused=False)


def check_crl_document(
    document: CRLDocument,
    bundle: Sequence[x509.Certificate],
    *,
    limits: TrustStoreLimits = ALB_LIMITS,
) -> tuple[bytes, CheckedCRL]:
    """The CRL's PEM, checked as a trust store whose CAs are ``bundle`` would check it."""
    pem = document.pem
    return pem, check_crl(pem, bundle, limits=limits)


def publish_crl(
    document: CRLDocument,
    bundle: Sequence[x509.Certificate],
    *,
    publisher: Publisher,
    store: CertificateStore,
    actor: str,
    now: datetime,
) -> PublishedCRL:
    """Check the CRL (PEM, size, issuer in ``bundle``, signature), then publish it."""
    pem, checked = check_crl_document(document, bundle)
    return publish_checked_crl(
        document, pem, checked, publisher=publisher, store=store, actor=actor, now=now
    )


def publish_checked_crl(
    document: CRLDocument,
    pem: bytes,
    checked: CheckedCRL,
    *,
    publisher: Publisher,
    store: CertificateStore,
    actor: str,
    now: datetime,
) -> PublishedCRL:
    """Publish a CRL ``check_crl_document`` already passed (``pem`` is what it checked),
    unless the CRL published there has this number or a higher one: then that one stays
    and is returned (it lists every revocation this one lists, as CRL numbers and
    contents agree; issue 12, point 2). So concurrent publishers (`albca revoke` runs, the
    API, a sync) never put an older CRL over a newer one, and the newest is what stays."""
    name = crl_name(document.issuer_key_id)
    replacement = publisher.replace_if(
        name,
        pem,
        content_type=PEM_CONTENT_TYPE,
        replaces=lambda current: crl_number_of(current) < document.number,
    )
    if replacement.kept is not None:
        number, entries = (
            crl_number_of(replacement.kept),
            len(x509.load_pem_x509_crl(replacement.kept)),
        )
        return PublishedCRL(replacement.published, document.issuer_key_id, number, entries)
    record_publish(store, name, replacement.published, actor=actor, now=now)
    return PublishedCRL(
        replacement.published, document.issuer_key_id, document.number, checked.entries
    )


def crl_number_of(pem: bytes) -> int:
    """The CRL number of a published CRL; -1 for bytes that are not a CRL with one (they
    are replaced)."""
    try:
        crl = x509.load_pem_x509_crl(pem)
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except (ValueError, x509.ExtensionNotFound):
        return -1


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
