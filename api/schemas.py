"""Request and response bodies. Requests forbid unknown fields and bound every size, so a
request is fully validated before the authority sees it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from albca.ca.names import MAX_NAMES_PER_KIND
from albca.ca.records import CertificateRecord

__all__ = [
    "IssueFromCsrRequest",
    "IssueWithKeyRequest",
    "RenewRequest",
    "RevokeRequest",
    "CertificateOut",
    "IssuedOut",
    "CertificatePageOut",
    "HealthOut",
    "ErrorOut",
    "ErrorBody",
]

_MAX_CSR_TEXT = 96 * 1024  # base64 of a 64 KiB DER CSR, with PEM lines
_MAX_LIFETIME_SECONDS = 10 * 366 * 86400
_Name = Field(min_length=1, max_length=253)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IssueFromCsrRequest(_Request):
    profile: str = Field(min_length=1, max_length=64, examples=["client"])
    csr: str = Field(
        min_length=1,
        max_length=_MAX_CSR_TEXT,
        description="PKCS#10 request in PEM. Its public key and names are used; every "
        "other requested attribute is ignored (the profile decides).",
    )
    lifetime_seconds: int | None = Field(
        default=None, gt=0, le=_MAX_LIFETIME_SECONDS, description="Default: the profile's."
    )


class IssueWithKeyRequest(_Request):
    profile: str = Field(min_length=1, max_length=64, examples=["client"])
    common_name: str | None = Field(default=None, min_length=1, max_length=64)
    dns_names: list[str] = Field(default_factory=list, max_length=MAX_NAMES_PER_KIND)
    ip_addresses: list[str] = Field(default_factory=list, max_length=MAX_NAMES_PER_KIND)
    key_type: Literal["ec-p256", "ec-p384", "ec-p521", "rsa-2048", "rsa-3072", "rsa-4096"] = (
        "ec-p256"
    )
    lifetime_seconds: int | None = Field(default=None, gt=0, le=_MAX_LIFETIME_SECONDS)
    pkcs12_password: str | None = Field(
        default=None,
        min_length=8,
        max_length=1024,
        description="Also return a PKCS#12 file (base64) protected by this password.",
    )


class RenewRequest(_Request):
    csr: str | None = Field(
        default=None,
        min_length=1,
        max_length=_MAX_CSR_TEXT,
        description="Optional: a CSR for a new key. Only its public key is used; the names, "
        "profile and lifetime come from the certificate being renewed.",
    )


class RevokeRequest(_Request):
    reason: str = Field(
        default="unspecified",
        max_length=40,
        description="RFC 5280 reason: unspecified, key-compromise, affiliation-changed, "
        "superseded, cessation-of-operation, privilege-withdrawn, ...",
    )


class CertificateOut(BaseModel):
    serial: str
    status: Literal["active", "expired", "revoked"]
    subject: str
    common_name: str | None
    dns_names: list[str]
    ip_addresses: list[str]
    profile: str
    issuer_key_id: str
    not_before: datetime
    not_after: datetime
    issued_at: datetime
    requested_by: str
    revoked_at: datetime | None
    revocation_reason: str | None
    certificate_pem: str

    @classmethod
    def of(cls, record: CertificateRecord, now: datetime) -> dict[str, Any]:
        """The response dict (FastAPI validates it against this model once)."""
        return {**record.to_json(now), "certificate_pem": record.certificate_pem}


class TrustStoreSyncOut(BaseModel):
    status: Literal["synced", "pending", "queued"] = Field(
        description="synced: every ALB trust store this CA feeds holds the new CRL. queued: "
        "it is being done after this response. pending: it failed; the revocation stands "
        "and `rerun` finishes it."
    )
    error: str | None = None
    rerun: str | None = None


class RevokedOut(CertificateOut):
    trust_store_sync: TrustStoreSyncOut | None = Field(
        default=None, description="Absent when this API feeds no ALB trust store."
    )


class IssuedOut(BaseModel):
    certificate: CertificateOut
    certificate_pem: str
    chain_pem: str = Field(description="The issuing CA certificate(s), leaf excluded.")
    private_key_pem: str | None = Field(
        default=None, description="Only when albca generated the key (PKCS#8, unencrypted)."
    )
    pkcs12: str | None = Field(default=None, description="Base64 PKCS#12, when asked for.")


class CertificatePageOut(BaseModel):
    certificates: list[CertificateOut]
    next_cursor: str | None


class HealthOut(BaseModel):
    status: Literal["ok"]
    issuer_key_id: str
    issuer_not_after: datetime


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None


class ErrorOut(BaseModel):
    error: ErrorBody
