"""Name policies: which names a profile (or a caller) may put in a certificate.

A policy is an immutable value. ``check`` raises ``PolicyViolation`` naming the field, the
value and the rule; it never returns False. The authority checks the profile's policy and
then, when a caller has its own (an API token's), that one too: a name must satisfy both.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from albca.ca.errors import PolicyViolation
from albca.ca.names import CommonNamePattern, DnsPattern, RequestedNames, any_of, is_wildcard

__all__ = ["NamePolicy"]

_ANY_NETWORKS = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class NamePolicy:
    """Allowed names: DNS patterns, IP networks, common name patterns, wildcards or not.

    An empty tuple allows nothing of that kind. ``name`` says whose policy this is, so that
    a refusal can say which policy refused.
    """

    dns: tuple[DnsPattern, ...] = ()
    ip_networks: tuple[Network, ...] = ()
    common_names: tuple[CommonNamePattern, ...] = ()
    allow_wildcards: bool = False
    name: str = "policy"

    @classmethod
    def build(
        cls,
        *,
        dns: Iterable[str] = (),
        ip_networks: Iterable[str] = (),
        common_names: Iterable[str] = (),
        allow_wildcards: bool = False,
        name: str = "policy",
    ) -> NamePolicy:
        """A policy from the strings a config file or a CLI option holds."""
        networks: list[Network] = []
        for text in ip_networks:
            try:
                networks.append(ipaddress.ip_network(text, strict=True))
            except ValueError as exc:
                raise ValueError(
                    f"{name}: IP network {text!r} is not a valid CIDR: {exc}"
                ) from None
        return cls(
            dns=tuple(DnsPattern(pattern) for pattern in dns),
            ip_networks=tuple(networks),
            common_names=tuple(CommonNamePattern(pattern) for pattern in common_names),
            allow_wildcards=allow_wildcards,
            name=name,
        )

    @classmethod
    def allow_any(cls, *, allow_wildcards: bool = False, name: str = "policy") -> NamePolicy:
        return cls(
            dns=(DnsPattern("**"),),
            ip_networks=_ANY_NETWORKS,
            common_names=(CommonNamePattern("*"),),
            allow_wildcards=allow_wildcards,
            name=name,
        )

    def check(self, names: RequestedNames) -> None:
        cn = names.common_name
        # A '*' in the CN is a wildcard to every client that still reads the CN as a host
        # name (RFC 6125 section 6.4.4): the same rule as for DNS names applies.
        if cn is not None and "*" in cn and not (self.allow_wildcards and _is_one_wildcard(cn)):
            raise PolicyViolation(
                f"common_name {cn!r}: wildcard names are not allowed by {self.name}"
                + (" except as the whole left-most label" if self.allow_wildcards else ""),
                field="common_name",
                value=cn,
                rule=f"{self.name}.allow_wildcards",
            )
        if cn is not None and self._common_names_regex.fullmatch(cn.lower()) is None:
            raise PolicyViolation(
                f"common_name {cn!r} is not allowed by {self.name} "
                f"(allowed: {self._describe(p.pattern for p in self.common_names)})",
                field="common_name",
                value=cn,
                rule=f"{self.name}.common_names",
            )
        for dns_name in names.dns_names:
            if is_wildcard(dns_name) and not self.allow_wildcards:
                raise PolicyViolation(
                    f"dns_names {dns_name!r}: wildcard names are not allowed by {self.name}",
                    field="dns_names",
                    value=dns_name,
                    rule=f"{self.name}.allow_wildcards",
                )
            if self._dns_regex.fullmatch(dns_name.lower()) is None:
                raise PolicyViolation(
                    f"dns_names {dns_name!r} is not allowed by {self.name} "
                    f"(allowed: {self._describe(p.pattern for p in self.dns)})",
                    field="dns_names",
                    value=dns_name,
                    rule=f"{self.name}.dns",
                )
        for ip in names.ip_addresses:
            if not any(ip in network for network in self.ip_networks):
                raise PolicyViolation(
                    f"ip_addresses {ip} is not allowed by {self.name} "
                    f"(allowed: {self._describe(str(n) for n in self.ip_networks)})",
                    field="ip_addresses",
                    value=str(ip),
                    rule=f"{self.name}.ip_networks",
                )

    # One regex per policy for all its patterns (``any_of``): the policy's matchers on
    # every issuance cost less as one search than as one call per pattern. Cannot go
    # stale: a policy is immutable and the regex is made from its own patterns only.
    @cached_property
    def _dns_regex(self) -> re.Pattern[str]:
        return any_of(pattern.regex for pattern in self.dns)

    @cached_property
    def _common_names_regex(self) -> re.Pattern[str]:
        return any_of(pattern.regex for pattern in self.common_names)

    @staticmethod
    def _describe(items: Iterable[str]) -> str:
        listed = list(items)
        return ", ".join(listed) if listed else "none"


def _is_one_wildcard(name: str) -> bool:
    return is_wildcard(name) and name.count("*") == 1
