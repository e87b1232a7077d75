"""The errors of what relying parties trust: bundles and CRLs breaking a rule of ALB trust
stores, and artefacts that could not be published.

All are ``CAError``: the CLI prints them on one line, the HTTP API maps them to a status::

    CAError
    ├── BundleRejected            a CA bundle breaks an ALB trust store rule
    ├── RevocationRejected        a CRL (or the set of CRLs) breaks a trust store rule
    ├── PublishFailed             an artefact could not be written; the previous one stands
    └── TrustStoreError           an ALB trust store call was refused or could not be made
        ├── TrustStoreNotFound    no trust store of that name (or not one this CA feeds)
        ├── TrustStoreInUse       delete refused: listeners verify clients with it
        ├── TrustStoreNotReady    not ACTIVE within the bound albca waits
        └── SyncIncomplete        a sync, update or rotation stopped part-way: what to rerun

AWS answers a bad bundle with a bare ``InvalidCaCertificatesBundle``; these errors exist so
that albca can say, before anything is uploaded, which certificate broke which rule.
"""

from __future__ import annotations

import enum

from albca.ca.errors import CAError

__all__ = [
    "BundleRule",
    "BundleRejected",
    "RevocationRule",
    "RevocationRejected",
    "PublishFailed",
    "TrustStoreError",
    "TrustStoreNotFound",
    "TrustStoreInUse",
    "TrustStoreNotReady",
    "SyncIncomplete",
]


class BundleRule(enum.StrEnum):
    """The documented rules a CA bundle for an ALB trust store must meet (AWS_NOTES.md,
    "Trust stores"; ALB user guide, "Mutual authentication" and "Quotas")."""

    NOT_EMPTY = "bundle holds at least one certificate"
    NO_BLANK_LINES = "the bundle file has no blank lines"
    COMMENT_LINES = (
        "a line outside a PEM certificate is a comment: it starts with '#' and contains no '-'"
    )
    PARSEABLE = "every PEM block is a parseable X.509 certificate"
    MAX_CERTIFICATES = "at most the quota of CA certificates per trust store (25 by default)"
    CERTIFICATE_SIZE = "at most the quota of bytes per CA certificate (16 KB by default)"
    X509_V3 = "X.509 version 3 only"
    KEY = "key is RSA 2048-8192 bits or ECDSA P-256, P-384 or P-521"
    SIGNATURE = "signature is SHA-256/384/512 with RSA, ECDSA or RSASSA-PSS"
    CA_BASIC_CONSTRAINTS = "CA certificate has basicConstraints CA:TRUE"
    CA_KEY_USAGE = "CA certificate has keyUsage keyCertSign"
    CHAIN_DEPTH = "certificate chain depth at most the quota (4 by default)"
    CA_NAMES_SIZE = (
        "CA subject names at most the quota of bytes when advertised (10,000 by default)"
    )


class BundleRejected(CAError):
    """A CA bundle breaks ``rule``.

    ``position`` is the 1-based place of the offending certificate in the bundle and
    ``subject`` its subject (RFC 4514); both are ``None`` for a rule about the bundle as a
    whole (empty, too many certificates, CA names too large).
    """

    code = "bundle_rejected"

    def __init__(
        self,
        rule: BundleRule,
        detail: str,
        *,
        position: int | None = None,
        subject: str | None = None,
    ) -> None:
        where = "CA bundle"
        if position is not None:
            where = f"CA bundle certificate #{position}"
            if subject is not None:
                where += f" ({subject or 'empty subject'})"
        super().__init__(f"{where} breaks the ALB trust store rule '{rule.value}': {detail}")
        self.rule = rule
        self.detail = detail
        self.position = position
        self.subject = subject


class RevocationRule(enum.StrEnum):
    """The documented rules for the CRLs of an ALB trust store (AWS_NOTES.md, "Trust
    stores"; ALB user guide, "Quotas": revocation entries, CRL file size, CRLs per store)."""

    PEM = "CRL is supplied as PEM"
    PARSEABLE = "CRL is a parseable X.509 CRL"
    FILE_SIZE = "CRL file at most the quota (50 MB by default)"
    ISSUER_IN_BUNDLE = "CRL is issued by a CA in the trust store's bundle"
    SIGNATURE = "CRL signature verifies with its issuer's key"
    MAX_ENTRIES = "at most the quota of revoked entries per trust store (500,000 by default)"
    MAX_CRLS = "at most the quota of CRLs per trust store (30 by default)"


class RevocationRejected(CAError):
    """A CRL, or the set of CRLs a trust store would hold, breaks ``rule``.

    ``issuer`` is the CRL's issuer (RFC 4514) when the CRL could be read.
    """

    code = "revocation_rejected"

    def __init__(self, rule: RevocationRule, detail: str, *, issuer: str | None = None) -> None:
        where = f"CRL of {issuer}" if issuer is not None else "CRL"
        super().__init__(f"{where} breaks the ALB trust store rule '{rule.value}': {detail}")
        self.rule = rule
        self.detail = detail
        self.issuer = issuer


class PublishFailed(CAError):
    """An artefact could not be written (or read back); the previous one is untouched.
    ``aws_code`` is S3's error code when S3 answered (``NoSuchKey``, ...)."""

    code = "publish_failed"

    def __init__(self, message: str, *, target: str, aws_code: str | None = None) -> None:
        super().__init__(message)
        self.target = target
        self.aws_code = aws_code


class TrustStoreError(CAError):
    """An ALB trust store call failed. ``aws_code`` is the AWS error code when AWS answered
    (``InvalidRevocationContent``, ...), ``None`` when it could not be reached."""

    code = "trust_store_error"

    def __init__(
        self, message: str, *, trust_store: str | None = None, aws_code: str | None = None
    ) -> None:
        super().__init__(message)
        self.trust_store = trust_store
        self.aws_code = aws_code


class TrustStoreNotFound(TrustStoreError):
    code = "trust_store_not_found"


class TrustStoreInUse(TrustStoreError):
    """Deleting the trust store was refused: ``listeners`` (ARNs) verify clients with it."""

    code = "trust_store_in_use"

    def __init__(self, message: str, *, trust_store: str, listeners: tuple[str, ...]) -> None:
        super().__init__(message, trust_store=trust_store, aws_code="TrustStoreInUse")
        self.listeners = listeners


class TrustStoreNotReady(TrustStoreError):
    """The trust store did not become ACTIVE within the time albca waits for it."""

    code = "trust_store_not_ready"


class SyncIncomplete(TrustStoreError):
    """A sync (or an update, a rotation, a rollback) stopped part-way.

    Every trust store still holds a complete, earlier state: its previous bundle, and for
    each CA a CRL (the previous one or the new one, never none). ``rerun`` is the command
    that finishes the work; ``failures`` maps each trust store that was not brought up to
    date to the reason.
    """

    code = "sync_incomplete"

    def __init__(self, message: str, *, rerun: str, failures: dict[str, str] | None = None) -> None:
        super().__init__(f"{message}; rerun `{rerun}` to finish")
        self.rerun = rerun
        self.failures = dict(failures or {})
