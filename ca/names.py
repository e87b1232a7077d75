"""The names a certificate may carry: syntax checks and the patterns policies are made of.

Syntax first, policy second: a name that is not a well-formed DNS name, IP address or
common name is an ``InvalidName`` whatever the policy says, so that a permissive policy can
never let a NUL byte or a bare ``*`` into a certificate.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from albca.ca.errors import InvalidName

__all__ = [
    "IPAddress",
    "RequestedNames",
    "normalize_dns_name",
    "normalize_common_name",
    "parse_ip_address",
    "DnsPattern",
    "CommonNamePattern",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_PATTERN_LABEL = re.compile(r"^[a-z0-9*](?:[a-z0-9*-]{0,61}[a-z0-9*])?$")
_MAX_DNS_LENGTH = 253  # RFC 1035 section 2.3.4, without the trailing dot
_MAX_CN_LENGTH = 64  # ub-common-name, RFC 5280 appendix A.1


def _reject_control_characters(value: str, field_name: str) -> None:
    for char in value:
        if char == "\x00":
            raise InvalidName(f"{field_name}: {value!r} contains a NUL byte", field=field_name)
        # C0, DEL and C1 (U+0080-U+009F: CSI and NEL among them, which terminals obey).
        if ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F:
            raise InvalidName(
                f"{field_name}: {value!r} contains the control character {char!r}",
                field=field_name,
            )


def normalize_dns_name(value: str, *, field: str = "dns_names") -> str:
    """The name lower-cased, or ``InvalidName`` saying what is wrong with it.

    Accepts RFC 1123 host names and a single ``*`` as the whole left-most label (RFC 6125
    section 6.4.3). Internationalised names must already be A-labels (``xn--...``),
    as RFC 5280 section 7.2 requires in certificates.
    """
    if not isinstance(value, str):
        raise TypeError(f"{field} must hold strings, not {type(value).__name__}")
    _reject_control_characters(value, field)
    name = value.lower()
    if not name:
        raise InvalidName(f"{field}: a DNS name cannot be empty", field=field)
    if not name.isascii():
        raise InvalidName(
            f"{field}: {value!r} is not ASCII; give internationalised names as A-labels (xn--...)",
            field=field,
        )
    if name.endswith("."):
        raise InvalidName(f"{field}: {value!r} ends with a dot; drop it", field=field)
    if len(name) > _MAX_DNS_LENGTH:
        raise InvalidName(
            f"{field}: {value!r} is longer than {_MAX_DNS_LENGTH} characters", field=field
        )
    labels = name.split(".")
    for index, label in enumerate(labels):
        if label == "*" and index == 0:
            if len(labels) < 2:
                raise InvalidName(f"{field}: a wildcard needs a parent domain", field=field)
            continue
        if "*" in label:
            raise InvalidName(
                f"{field}: {value!r}: a wildcard may only be the whole left-most label",
                field=field,
            )
        if not _LABEL.match(label):
            raise InvalidName(
                f"{field}: {value!r}: label {label!r} is not a valid host name label "
                "(letters, digits and inner hyphens, 1-63 characters)",
                field=field,
            )
    return name


def parse_ip_address(value: str, *, field: str = "ip_addresses") -> IPAddress:
    if not isinstance(value, str):
        raise TypeError(f"{field} must hold strings, not {type(value).__name__}")
    _reject_control_characters(value, field)
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        raise InvalidName(
            f"{field}: {value!r} is not an IPv4 or IPv6 address", field=field
        ) from None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        # A zone (fe80::1%eth0) names an interface of one host; a certificate cannot carry it.
        raise InvalidName(f"{field}: {value!r} carries an IPv6 zone; drop the %zone", field=field)
    return address


def normalize_common_name(value: str, *, field: str = "common_name") -> str:
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a string, not {type(value).__name__}")
    _reject_control_characters(value, field)
    if not value.strip():
        raise InvalidName(f"{field}: the common name cannot be blank", field=field)
    if value != value.strip():
        raise InvalidName(f"{field}: {value!r} has leading or trailing white space", field=field)
    if len(value) > _MAX_CN_LENGTH:
        raise InvalidName(
            f"{field}: {value!r} is longer than {_MAX_CN_LENGTH} characters (RFC 5280 "
            "ub-common-name)",
            field=field,
        )
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:
        # A lone UTF-16 surrogate (JSON lets "\ud800" through) is not text.
        raise InvalidName(
            f"{field}: {value!r} holds an unpaired surrogate, which is not text", field=field
        ) from None
    if len(encoded) > _MAX_CN_LENGTH:
        # RFC 5280 counts characters, but cryptography (and what is built on it) counts
        # UTF-8 bytes and refuses to build or re-issue such a name: keep every certificate
        # this CA issues one that common tooling can handle.
        raise InvalidName(
            f"{field}: {value!r} is longer than {_MAX_CN_LENGTH} bytes in UTF-8 (the "
            "ub-common-name limit as common libraries apply it); use fewer non-ASCII "
            "characters",
            field=field,
        )
    return value


def is_wildcard(dns_name: str) -> bool:
    return dns_name.startswith("*.")


@dataclass(frozen=True)
class RequestedNames:
    """The names asked for, already checked for syntax (build with ``RequestedNames.of``)."""

    common_name: str | None = None
    dns_names: tuple[str, ...] = field(default_factory=tuple)
    ip_addresses: tuple[IPAddress, ...] = field(default_factory=tuple)

    @classmethod
    def of(
        cls,
        *,
        common_name: str | None = None,
        dns_names: tuple[str, ...] | list[str] = (),
        ip_addresses: tuple[str, ...] | list[str] = (),
    ) -> RequestedNames:
        dns = tuple(dict.fromkeys(normalize_dns_name(name) for name in dns_names))
        ips = tuple(dict.fromkeys(parse_ip_address(ip) for ip in ip_addresses))
        cn = normalize_common_name(common_name) if common_name is not None else None
        return cls(common_name=cn, dns_names=dns, ip_addresses=ips)

    @property
    def is_empty(self) -> bool:
        return self.common_name is None and not self.dns_names and not self.ip_addresses

    def describe(self) -> str:
        parts = [f"CN={self.common_name}"] if self.common_name else []
        parts += [f"DNS:{name}" for name in self.dns_names]
        parts += [f"IP:{ip}" for ip in self.ip_addresses]
        return ", ".join(parts) or "(no names)"


@dataclass(frozen=True)
class DnsPattern:
    """A DNS name pattern, matched label by label.

    ``*`` inside a label matches any run of characters within that one label
    (``web-*.internal`` matches ``web-1.internal``), so ``*.svc.internal`` matches
    ``a.svc.internal`` but not ``a.b.svc.internal``. A left-most ``**`` label matches one or
    more labels (``**.svc.internal`` matches both). ``**`` alone matches every name.
    """

    pattern: str

    def __post_init__(self) -> None:
        text = self.pattern.lower()
        labels = text.split(".")
        for index, label in enumerate(labels):
            if label == "**" and index == 0:
                continue
            if "**" in label:
                raise ValueError(
                    f"DNS pattern {self.pattern!r}: '**' may only be the whole left-most label"
                )
            if not _PATTERN_LABEL.match(label):
                raise ValueError(
                    f"DNS pattern {self.pattern!r}: label {label!r} is not a host name label "
                    "or a glob over one"
                )
        object.__setattr__(self, "pattern", text)

    def matches(self, dns_name: str) -> bool:
        pattern_labels = self.pattern.split(".")
        name_labels = dns_name.lower().split(".")
        if pattern_labels[0] == "**":
            suffix = pattern_labels[1:]
            if len(name_labels) <= len(suffix):
                return False
            name_labels = name_labels[len(name_labels) - len(suffix) :]
            pattern_labels = suffix
        if len(pattern_labels) != len(name_labels):
            return False
        return all(
            fnmatchcase(name, pattern)
            for name, pattern in zip(name_labels, pattern_labels, strict=True)
        )


@dataclass(frozen=True)
class CommonNamePattern:
    """A shell-style glob over the whole common name, compared without regard to case."""

    pattern: str

    def __post_init__(self) -> None:
        if not self.pattern:
            raise ValueError("common name pattern cannot be empty")

    def matches(self, common_name: str) -> bool:
        return fnmatchcase(common_name.lower(), self.pattern.lower())
