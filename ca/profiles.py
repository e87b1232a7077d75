"""Certificate profiles: what a client or server certificate may look like.

A profile fixes the certificate's purpose (its extended key usage), how long it may live,
which key types it accepts and which names it may carry. Profiles are immutable values
built from the CA home's config file; ``default_profiles()`` is what a new CA starts with.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from albca.ca.errors import InvalidLifetime, InvalidName, UnknownProfile, UnsupportedKey
from albca.ca.keys import KeySpec
from albca.ca.names import RequestedNames
from albca.ca.policy import NamePolicy

__all__ = ["CertificateKind", "Profile", "ProfileSet", "default_profiles"]


class CertificateKind(enum.StrEnum):
    CLIENT = "client"  # EKU clientAuth: presented to an ALB in mTLS verify mode
    SERVER = "server"  # EKU serverAuth: a backend or an internal listener


@dataclass(frozen=True)
class Profile:
    name: str
    kind: CertificateKind
    max_lifetime: timedelta
    default_lifetime: timedelta
    key_specs: frozenset[KeySpec]
    names: NamePolicy

    def __post_init__(self) -> None:
        if not isinstance(self.kind, CertificateKind):
            raise TypeError(f"profile {self.name}: kind must be a CertificateKind")
        if self.max_lifetime <= timedelta(0):
            raise ValueError(f"profile {self.name}: max_lifetime must be positive")
        if not timedelta(0) < self.default_lifetime <= self.max_lifetime:
            raise ValueError(
                f"profile {self.name}: default_lifetime must be positive and at most max_lifetime"
            )
        if not self.key_specs:
            raise ValueError(f"profile {self.name}: key_specs cannot be empty")

    def resolve_lifetime(self, requested: timedelta | None) -> timedelta:
        if requested is None:
            return self.default_lifetime
        if requested <= timedelta(0):
            raise InvalidLifetime(f"lifetime must be positive, not {requested}")
        if requested > self.max_lifetime:
            raise InvalidLifetime(
                f"lifetime {_days(requested)} is above the {self.name} profile's maximum of "
                f"{_days(self.max_lifetime)}"
            )
        return requested

    def check_key(self, spec: KeySpec) -> None:
        if spec not in self.key_specs:
            allowed = ", ".join(sorted(self.key_specs))
            raise UnsupportedKey(
                f"public_key: {spec} keys are not allowed by the {self.name} profile "
                f"(allowed: {allowed})"
            )

    def check_names(self, names: RequestedNames) -> None:
        if self.kind is CertificateKind.SERVER and not (names.dns_names or names.ip_addresses):
            # TLS clients match the host against SANs only (RFC 6125 section 6.4.4).
            raise InvalidName(
                f"dns_names: a {self.name} certificate needs at least one DNS name or IP address",
                field="dns_names",
            )
        if names.is_empty:
            raise InvalidName(
                f"common_name: a {self.name} certificate needs a common name or at least one "
                "DNS name or IP address",
                field="common_name",
            )
        self.names.check(names)


def _days(value: timedelta) -> str:
    if value % timedelta(days=1) == timedelta(0):
        return f"{value.days} days"
    return str(value)


@dataclass(frozen=True)
class ProfileSet:
    """The profiles of one authority, by name."""

    profiles: tuple[Profile, ...]

    def __post_init__(self) -> None:
        names = [profile.name for profile in self.profiles]
        if len(set(names)) != len(names):
            raise ValueError(f"profile names must be unique: {names}")

    @classmethod
    def of(cls, profiles: Iterable[Profile]) -> ProfileSet:
        return cls(tuple(profiles))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(profile.name for profile in self.profiles)

    def get(self, name: str) -> Profile:
        for profile in self.profiles:
            if profile.name == name:
                return profile
        raise UnknownProfile(name, self.names)

    def as_mapping(self) -> Mapping[str, Profile]:
        return {profile.name: profile for profile in self.profiles}


def default_profiles() -> ProfileSet:
    """What ``albca init`` writes to a new CA's config file.

    Names are open (any syntactically valid name, no wildcards) because the operator running
    the CLI is trusted; API callers are confined by their own token policies on top.
    """
    every_key = frozenset(KeySpec)
    return ProfileSet.of(
        [
            Profile(
                name="client",
                kind=CertificateKind.CLIENT,
                max_lifetime=timedelta(days=365),
                default_lifetime=timedelta(days=90),
                key_specs=every_key,
                names=NamePolicy.allow_any(name="the client profile"),
            ),
            Profile(
                name="server",
                kind=CertificateKind.SERVER,
                # 397 days: the longest validity TLS clients still accept (CA/B BR 6.3.2).
                max_lifetime=timedelta(days=397),
                default_lifetime=timedelta(days=90),
                key_specs=every_key,
                names=NamePolicy.allow_any(name="the server profile"),
            ),
        ]
    )
