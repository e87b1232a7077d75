"""The names a certificate may carry: syntax checks and the patterns policies are made of.

Syntax first, policy second: a name that is not a well-formed DNS name, IP address or
common name is an ``InvalidName`` whatever the policy says, so that a permissive policy can
never let a NUL byte or a bare ``*`` into a certificate.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from albca.ca.errors import InvalidName

__all__ = [
    "IPAddress",
    "RequestedNames",
    "normalize_dns_name",
    "normalize_common_name",
    "parse_ip_address",
    "DnsPattern",
    "CommonNamePattern",
    "any_of",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_PATTERN_LABEL = re.compile(r"^[a-z0-9*](?:[a-z0-9*-]{0,61}[a-z0-9*])?$")
# A whole name that passes the label checks of ``normalize_dns_name``: labels as ``_LABEL``,
# a "*" only as the whole left-most label and then with a parent. (\Z, not $: "$" would
# let a trailing newline through.)
_HOST_NAME = re.compile(
    r"(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z"
)
_MAX_DNS_LENGTH = 253  # RFC 1035 section 2.3.4, without the trailing dot
_MAX_CN_LENGTH = 64  # ub-common-name, RFC 5280 appendix A.1
# DNS names, and IP addresses, one certificate may carry: the API's generated-key route
# has always allowed 100 of each, and so does a CSR now. Without a bound, a CSR of 2,400
# names inside a policy got a 42 KB certificate that its holder could not renew (the
# renewal token's x5c header is refused over 16 KiB, the ALB's limit per certificate).
# Let's Encrypt sets the same 100 names per certificate.
MAX_NAMES_PER_KIND = 100


# C0, DEL and C1 (U+0080-U+009F: CSI and NEL among them, which terminals obey). One regex
# search instead of a loop over the characters: names are checked on every issuance.
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")


def _reject_control_characters(value: str, field_name: str) -> None:
    found = _CONTROL_CHARACTER.search(value)
    if found is None:
        return
    char = found.group()
    if char == "\x00":
        raise InvalidName(f"{field_name}: {value!r} contains a NUL byte", field=field_name)
    raise InvalidName(
        f"{field_name}: {value!r} contains the control character {char!r}", field=field_name
    )


def normalize_dns_name(value: str, *, field: str = "dns_names") -> str:
    """The name lower-cased, or ``InvalidName`` saying what is wrong with it.

    Accepts RFC 1123 host names and a single ``*`` as the whole left-most label (RFC 6125
    section 6.4.3). Internationalised names must already be A-labels (``xn--...``),
    as RFC 5280 section 7.2 requires in certificates.
    """
    if not isinstance(value, str):
        raise TypeError(f"{field} must hold strings, not {type(value).__name__}")
    name = value.lower()
    # ``value``, not ``name``, is checked for ASCII: lower() turns the Kelvin sign (U+212A)
    # into an ASCII "k", so "\u212aey.example" would pass as "key.example", a name the
    # caller never sent.
    if value.isascii() and len(name) <= _MAX_DNS_LENGTH and _HOST_NAME.match(name):
        # The common case at once: a name _HOST_NAME matches has none of the faults
        # checked below (it is ASCII letters, digits, hyphens, dots and a leading "*.").
        return name
    _reject_control_characters(value, field)
    if not name:
        raise InvalidName(f"{field}: a DNS name cannot be empty", field=field)
    if not value.isascii():
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
    _reject_disguising_characters(value, field)
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


# Unicode categories that have no place in a name a person reads: format characters (Cf:
# bidi overrides such as U+202E, zero-width joiners and spaces, U+FEFF), private use (Co),
# unassigned (Cn), line and paragraph separators (Zl, Zp). UTS #39 section 3.1 (General
# Security Profile) excludes all of them from identifiers.
_HIDDEN_CATEGORIES = frozenset({"Cf", "Co", "Cn", "Zl", "Zp"})
# UTS #39 section 5.2, "Highly Restrictive": one script, or Latin with one of these
# combinations of East Asian scripts, which are written together.
_SCRIPT_SETS_ALLOWED_TOGETHER = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)


def _reject_disguising_characters(value: str, field_name: str) -> None:
    """Refuse characters that make a name look like another one (UTS #39).

    Invisible and reordering characters, compatibility forms (full-width letters,
    ligatures: the name must be in NFKC, as UTS #39 section 5 assumes) and letters of
    more than one script (Cyrillic U+0430 among Latin letters). Python's ``unicodedata``
    has no Script property, so a letter's script is the first word of its Unicode name
    ("LATIN SMALL LETTER A", "CYRILLIC SMALL LETTER A", "CJK UNIFIED IDEOGRAPH-4E00").
    Not covered: a name wholly in another script that looks Latin (UTS #39 "whole-script
    confusables" need the confusables data file).
    """
    if value.isascii():
        # ASCII has no format, private-use, unassigned or separator characters, is its
        # own NFKC form, and its letters are all Latin: nothing below can refuse it.
        return
    for char in value:
        if unicodedata.category(char) in _HIDDEN_CATEGORIES:
            raise InvalidName(
                f"{field_name}: {value!r} contains U+{ord(char):04X} "
                f"({unicodedata.name(char, 'unnamed')}), an invisible or format character "
                "that can disguise a name",
                field=field_name,
            )
    if unicodedata.normalize("NFKC", value) != value:
        raise InvalidName(
            f"{field_name}: {value!r} is not in Unicode NFKC form (compatibility characters "
            "such as full-width letters can pass for others); write "
            f"{unicodedata.normalize('NFKC', value)!r}",
            field=field_name,
        )
    scripts = {_script_of(char) for char in value if unicodedata.category(char)[0] == "L"}
    scripts.discard(None)
    if len(scripts) > 1 and not any(scripts <= ok for ok in _SCRIPT_SETS_ALLOWED_TOGETHER):
        named = ", ".join(sorted(str(script).title() for script in scripts))
        raise InvalidName(
            f"{field_name}: {value!r} mixes letters of several scripts ({named}), which lets "
            "one name pass for another (UTS #39 section 5.2)",
            field=field_name,
        )


def _script_of(char: str) -> str | None:
    word = unicodedata.name(char, "").split(" ", 1)[0]
    if word == "CJK":
        return "HAN"
    if not word or word in ("MODIFIER", "KATAKANA-HIRAGANA"):
        return None  # Common: used with several scripts
    return word


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
        for kind, given in (("dns_names", dns_names), ("ip_addresses", ip_addresses)):
            if len(given) > MAX_NAMES_PER_KIND:
                raise InvalidName(
                    f"{kind}: {len(given)} given; a certificate carries at most "
                    f"{MAX_NAMES_PER_KIND}",
                    field=kind,
                )
        dns = tuple(dict.fromkeys([normalize_dns_name(name) for name in dns_names]))
        # Most requests have no IP address: no generator for them.
        ips = (
            tuple(dict.fromkeys([parse_ip_address(ip) for ip in ip_addresses]))
            if ip_addresses
            else ()
        )
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
        return self.regex.fullmatch(dns_name.lower()) is not None

    @property
    def regex(self) -> re.Pattern[str]:
        """What the pattern matches, as one regex over a lower-cased name."""
        return _pattern_regex(self.pattern)


@dataclass(frozen=True)
class CommonNamePattern:
    """A pattern over the common name, matched label by label like ``DnsPattern``.

    The name and the pattern are split on dots and compared label by label with the same
    matcher as DNS names (``_pattern_regex``): ``*`` stands for any run of characters within
    one label and never crosses a dot, so ``*.svc.internal`` matches ``a.svc.internal`` but
    not ``admin.evil.svc.internal``; a left-most ``**`` label matches one or more labels.
    A CN without dots (``svc-billing``, ``Alice Smith``) is one label. ``*`` alone (or
    ``**``) matches every common name. Case is ignored.
    """

    pattern: str

    def __post_init__(self) -> None:
        if not self.pattern:
            raise ValueError("common name pattern cannot be empty")
        labels = self.pattern.split(".")
        if any(not label for label in labels):
            raise ValueError(f"common name pattern {self.pattern!r} has an empty label")
        if any("**" in label for label in labels[1:]) or ("**" in labels[0] and labels[0] != "**"):
            raise ValueError(
                f"common name pattern {self.pattern!r}: '**' may only be the whole left-most label"
            )

    def matches(self, common_name: str) -> bool:
        return self.regex.fullmatch(common_name.lower()) is not None

    @property
    def regex(self) -> re.Pattern[str]:
        """What the pattern matches, as one regex over a lower-cased common name."""
        if self.pattern in ("*", "**"):
            return _EVERYTHING
        return _pattern_regex(self.pattern.lower())


_EVERYTHING = re.compile(".*", re.DOTALL)
_NOTHING = re.compile("(?!)")


def any_of(regexes: Iterable[re.Pattern[str]]) -> re.Pattern[str]:
    """One regex that fully matches a name when one of ``regexes`` fully matches it.

    A policy checks each name against all its patterns; one search of the alternation
    costs less than one call per pattern (the regexes are those of the patterns' ``regex``,
    all compiled with DOTALL).
    """
    parts = [f"(?:{regex.pattern})" for regex in regexes]
    return re.compile("|".join(parts), re.DOTALL) if parts else _NOTHING


@functools.lru_cache(maxsize=1024)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A pattern as one regex over the whole name, compiled once: what matching it label by
    label means. A label glob's ``*`` is any run of characters other than a dot (so it stays
    within its label); a left-most ``**`` is one or more labels of any content, that is
    anything followed by a dot, before the labels that follow it."""
    labels = pattern.split(".")
    prefix = ""
    if labels[0] == "**":
        labels = labels[1:]
        if not labels:
            return _EVERYTHING  # "**" alone: every name
        prefix = ".*\\."
    globs = ("[^.]*".join(re.escape(part) for part in label.split("*")) for label in labels)
    return re.compile(prefix + "\\.".join(globs), re.DOTALL)
