"""What the store keeps: certificates, authorities (CA certificates), audit events."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

from albca.ca.errors import InvalidRequest, InvalidSerial

__all__ = [
    "serial_prefix_ranges",
    "RevocationReason",
    "CertificateStatus",
    "EffectiveStatus",
    "CertificateRecord",
    "KeyClaim",
    "ClaimedKey",
    "RevokedEntry",
    "AuthorityRole",
    "AuthorityStatus",
    "AuthorityRecord",
    "AuditEvent",
    "CertificateQuery",
    "CertificatePage",
    "parse_serial",
    "format_serial",
    "utc_text",
]

_MAX_SERIAL_BITS = 159  # 20 octets, first bit clear: RFC 5280 section 4.1.2.2


def parse_serial(text: str | int) -> int:
    """A serial from hex text as operators paste it: ``1a2b``, ``1A:2B``, ``0x1a2b``."""
    if isinstance(text, int):
        serial = text
    else:
        cleaned = text.strip().lower().removeprefix("0x").replace(":", "")
        if not cleaned:
            raise InvalidSerial("serial: cannot be empty")
        try:
            serial = int(cleaned, 16)
        except ValueError:
            raise InvalidSerial(f"serial: {text!r} is not a hexadecimal serial number") from None
    if serial <= 0 or serial.bit_length() > _MAX_SERIAL_BITS:
        raise InvalidSerial(f"serial: {text!r} is outside the range of serial numbers")
    return serial


def serial_prefix_ranges(prefix: str) -> list[tuple[int, int]]:
    """The serials whose hex form (``f"{serial:x}"``, no leading zeros) starts with
    ``prefix``, as inclusive ranges: one per length of that form, up to 40 digits.

    A store keeping serials as zero-padded hex text (or as numbers) answers each range with
    one index seek, so a prefix lookup costs at most 40 seeks however many certificates
    there are.
    """
    value = int(prefix, 16)
    if not prefix or prefix[0] == "0":
        raise InvalidSerial(f"serial: prefix {prefix!r} must be hex without leading zeros")
    biggest = (1 << _MAX_SERIAL_BITS) - 1
    ranges = []
    for hidden_digits in range(0, 41 - len(prefix)):
        low = value << (4 * hidden_digits)
        if low > biggest:
            break
        ranges.append((low, min(((value + 1) << (4 * hidden_digits)) - 1, biggest)))
    return ranges


def format_serial(serial: int) -> str:
    return f"{serial:x}"


# ``isoformat()`` of the UTC moments seen lately. A certificate's record names three
# moments and its audit event one, shared by every certificate issued in the same second;
# ``isoformat()`` took 2.4 us each inside the issuing loop (7.2 us for a record's three),
# code and data gone cold between requests. Keyed by the moment itself, and only plain
# datetimes in ``UTC``: two equal datetimes with the same tzinfo have the same fields, hence
# the same text, so an answer can never be another moment's (a subclass could write itself
# otherwise, so it is not kept).
_UTC_TEXTS: dict[datetime, str] = {}
_UTC_TEXTS_LIMIT = 64


def utc_text(moment: datetime) -> str:
    """``moment.isoformat()``, faster for the moments a record carries (UTC ones)."""
    if moment.tzinfo is not UTC or type(moment) is not datetime:
        return moment.isoformat()
    text = _UTC_TEXTS.get(moment)
    if text is None:
        if len(_UTC_TEXTS) >= _UTC_TEXTS_LIMIT:
            _UTC_TEXTS.clear()
        text = _UTC_TEXTS[moment] = moment.isoformat()
    return text


class RevocationReason(enum.IntEnum):
    """RFC 5280 section 5.3.1 reason codes a CA may use in a full CRL.

    certificateHold (6) is left out on purpose: revocation here is permanent, and a hold
    would need an un-revoke that could silently re-admit a compromised key. removeFromCRL
    (8) only has meaning in delta CRLs, which albca does not issue.
    """

    UNSPECIFIED = 0
    KEY_COMPROMISE = 1
    CA_COMPROMISE = 2
    AFFILIATION_CHANGED = 3
    SUPERSEDED = 4
    CESSATION_OF_OPERATION = 5
    PRIVILEGE_WITHDRAWN = 9
    AA_COMPROMISE = 10

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")

    @classmethod
    def parse(cls, text: str | int) -> RevocationReason:
        """Accepts ``key-compromise``, ``keyCompromise``, ``KEY_COMPROMISE`` or ``1``."""
        if isinstance(text, int) or (isinstance(text, str) and text.strip().isdigit()):
            try:
                return cls(int(text))
            except ValueError:
                pass
        else:
            wanted = "".join(ch for ch in str(text).lower() if ch.isalnum())
            for reason in cls:
                if reason.name.lower().replace("_", "") == wanted:
                    return reason
        known = ", ".join(reason.label for reason in cls)
        raise InvalidRequest(
            f"reason: {text!r} is not a revocation reason; choose one of {known}",
            field="reason",
        )


class CertificateStatus(enum.StrEnum):
    """What the store records; expiry is derived from ``not_after``, never stored."""

    VALID = "valid"
    REVOKED = "revoked"


class EffectiveStatus(enum.StrEnum):
    """What a user filters by: the stored status with expiry applied."""

    ACTIVE = "active"  # valid and not yet expired
    EXPIRED = "expired"  # valid, but past not_after
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class KeyClaim:
    """An API caller's Idempotency-Key, bound to one request and to the certificate that
    answers it (issue 17).

    Written by the SQLite store in one table for every route (``idempotency_keys``):
    either in the transaction that writes the certificate's record
    (``CertificateRecord.idempotency``: the key is claimed if and only if its certificate
    is on record, one commit per request), or on its own before signing, where the answer
    must be fixed first (``claim_key``: a generated key, sealed for its caller). One table,
    so that of two requests racing one key, whatever their routes, one claims it.
    ``fingerprint`` names the request the key came with (``api.idempotency``): a retry
    must send the same one. A claim no longer counts once ``expires_at`` is past."""

    caller: str
    key: str
    fingerprint: str
    expires_at: datetime
    sealed_private_key: bytes | None = field(default=None, repr=False)


class ClaimedKey(NamedTuple):
    """A claim as the store holds it, and the serial of the certificate that answers it."""

    fingerprint: str
    serial: int
    created_at: datetime
    expires_at: datetime
    sealed_private_key: bytes | None


@dataclass(frozen=True)
class CertificateRecord:
    serial: int
    issuer_key_id: str
    subject: str
    common_name: str | None
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    profile: str
    not_before: datetime
    not_after: datetime
    certificate_pem: str
    requested_by: str
    issued_at: datetime
    status: CertificateStatus = CertificateStatus.VALID
    revoked_at: datetime | None = None
    revocation_reason: RevocationReason | None = None
    # Written with the record and never read back into one: the store keeps the claim in
    # a table of its own (``CertificateStore.find_key_claim``).
    idempotency: KeyClaim | None = field(default=None, compare=False, repr=False)

    def effective_status(self, now: datetime) -> EffectiveStatus:
        if self.status is CertificateStatus.REVOKED:
            return EffectiveStatus.REVOKED
        return EffectiveStatus.EXPIRED if now >= self.not_after else EffectiveStatus.ACTIVE

    def revoked(self, at: datetime, reason: RevocationReason) -> CertificateRecord:
        return replace(
            self, status=CertificateStatus.REVOKED, revoked_at=at, revocation_reason=reason
        )

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "serial": format_serial(self.serial),
            "issuer_key_id": self.issuer_key_id,
            "subject": self.subject,
            "common_name": self.common_name,
            "dns_names": list(self.dns_names),
            "ip_addresses": list(self.ip_addresses),
            "profile": self.profile,
            "not_before": utc_text(self.not_before),
            "not_after": utc_text(self.not_after),
            "status": self.effective_status(now).value,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revocation_reason": self.revocation_reason.label if self.revocation_reason else None,
            "requested_by": self.requested_by,
            "issued_at": utc_text(self.issued_at),
        }


class RevokedEntry(NamedTuple):
    """One CRL entry. A tuple, not a dataclass: a CRL can hold half a million of them."""

    serial: int
    revoked_at: int  # seconds since the epoch, UTC
    reason: int  # RevocationReason value


class AuthorityRole(enum.StrEnum):
    ROOT = "root"
    ISSUING = "issuing"


class AuthorityStatus(enum.StrEnum):
    ACTIVE = "active"  # signs (issuing) or anchors (root) now
    STANDBY = "standby"  # trusted and published, not yet (or no longer) signing
    RETIRED = "retired"  # no longer trusted or published


@dataclass(frozen=True)
class AuthorityRecord:
    """A CA certificate of this authority and where its key lives."""

    key_id: str  # the subject key identifier, hex: what AKI in issued certificates names
    role: AuthorityRole
    status: AuthorityStatus
    certificate_pem: str
    key_location: str
    parent_key_id: str | None  # the root that signed an issuing CA; None for a root
    created_at: datetime


# What ``json.dumps(detail, sort_keys=True, separators=(",", ":"))`` writes, with the encoder
# made once: ``json.dumps`` builds a new one whenever it is given options, once per event.
_DETAIL_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class AuditEvent:
    """One line of the audit trail: who did what to which certificate."""

    at: datetime
    action: str  # init, issue, revoke, crl, ...
    actor: str
    serial: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    id: int | None = None  # assigned by the store

    def detail_json(self) -> str:
        return _DETAIL_ENCODER.encode(self.detail)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "action": self.action,
            "actor": self.actor,
            "serial": format_serial(self.serial) if self.serial is not None else None,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class CertificateQuery:
    """A filter over certificate records; results come ordered by (not_after, serial)."""

    status: EffectiveStatus | None = None
    profile: str | None = None
    expiring_before: datetime | None = None  # not_after strictly before this moment
    issuer_key_id: str | None = None
    limit: int = 100
    cursor: str | None = None  # from the previous page's next_cursor

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= 10_000:
            raise InvalidRequest("limit: must be between 1 and 10000", field="limit")


@dataclass(frozen=True)
class CertificatePage:
    records: tuple[CertificateRecord, ...]
    next_cursor: str | None


def encode_cursor(record: CertificateRecord) -> str:
    return f"{int(record.not_after.timestamp())}.{format_serial(record.serial)}"


def decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        not_after, serial = cursor.split(".", 1)
        return int(not_after), int(serial, 16)
    except ValueError:
        raise InvalidRequest(
            f"cursor: {cursor!r} is not a cursor this store gave out", field="cursor"
        ) from None
