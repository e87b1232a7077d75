"""The CA home's ``config.toml``: written by ``albca init``, edited by operators.

Parsed with pydantic so that a mistake is reported with its place in the file
(``profiles.client.max_lifetime_days``), then turned into the plain values ``ca/`` takes.
"""

from __future__ import annotations

import ipaddress
import json
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from albca.ca.authority import AuthorityConfig
from albca.ca.certificates import ISSUER_PLACEHOLDER
from albca.ca.errors import ConfigurationError
from albca.ca.keys import KeySpec
from albca.ca.names import CommonNamePattern, DnsPattern
from albca.ca.policy import NamePolicy
from albca.ca.profiles import CertificateKind, Profile, ProfileSet, default_profiles

__all__ = [
    "check_http_urls",
    "load_authority_config",
    "render_default_config",
    "read_config_file",
    "default_authority_config",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _ProfileModel(_Strict):
    kind: Literal["client", "server"]
    max_lifetime_days: int = Field(gt=0, le=3650)
    default_lifetime_days: int = Field(gt=0, le=3650)
    key_types: list[KeySpec] = Field(min_length=1)
    dns: list[str] = Field(default_factory=list)
    ip_networks: list[str] = Field(default_factory=list)
    common_names: list[str] = Field(default_factory=list)
    allow_wildcards: bool = False

    # Checked here, not later, so that an error names the key that holds the bad value.
    @field_validator("dns")
    @classmethod
    def _dns_patterns_are_valid(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            DnsPattern(pattern)
        return patterns

    @field_validator("ip_networks")
    @classmethod
    def _networks_are_cidrs(cls, networks: list[str]) -> list[str]:
        for network in networks:
            try:
                ipaddress.ip_network(network, strict=True)
            except ValueError as exc:
                raise ValueError(f"{network!r} is not a valid CIDR: {exc}") from None
        return networks

    @field_validator("common_names")
    @classmethod
    def _common_name_patterns_are_valid(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            CommonNamePattern(pattern)
        return patterns


class _CRLModel(_Strict):
    validity_hours: int = Field(default=168, gt=0, le=24 * 365)
    distribution_urls: list[str] = Field(default_factory=list)

    @field_validator("distribution_urls")
    @classmethod
    def _urls_are_http(cls, urls: list[str]) -> list[str]:
        return check_http_urls(urls, issuer_placeholder=True)


class _AIAModel(_Strict):
    ca_issuers_urls: list[str] = Field(default_factory=list)

    @field_validator("ca_issuers_urls")
    @classmethod
    def _urls_are_http(cls, urls: list[str]) -> list[str]:
        return check_http_urls(urls)


class _ConfigModel(_Strict):
    crl: _CRLModel = Field(default_factory=_CRLModel)
    aia: _AIAModel = Field(default_factory=_AIAModel)
    profiles: dict[str, _ProfileModel] = Field(min_length=1)


def check_http_urls(urls: list[str], *, issuer_placeholder: bool = False) -> list[str]:
    """The CRL or AIA URLs, or ``ValueError`` naming the first one a relying party could
    not fetch (``albca init`` checks its --crl-url and --ca-issuers-url with it).
    ``issuer_placeholder``: CRL URLs may hold ``{issuer}``, the issuing CA's key id
    (``ca.certificates.ISSUER_PLACEHOLDER``), checked as the URL it becomes."""
    for url in urls:
        # Relying parties fetch CRLs and CA certificates over plain HTTP (RFC 5280 section
        # 4.2.1.13 recommends it: HTTPS would need the very chain being checked).
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} is not an http:// or https:// URL")
        if issuer_placeholder:
            _check_uri(url.replace(ISSUER_PLACEHOLDER, "0" * 40), shown=url)
        else:
            _check_uri(url)
    return urls


def _check_uri(url: str, *, shown: str | None = None) -> None:
    """Refuse, when the config is loaded, a URL that would be written into every
    certificate and CRL wrong: a URI in a certificate is an IA5String (RFC 5280 section
    4.2.1.6), ASCII only, with the host as A-labels and the rest percent-encoded
    (RFC 3986); cryptography refuses anything else only when it signs. ``shown``: the
    URL as the operator wrote it, when ``url`` is what it becomes."""
    label = repr(url if shown is None else shown)
    if not url.isascii():
        raise ValueError(
            f"{label} is not ASCII: write the host as an A-label (xn--...) and "
            "percent-encode the path (RFC 3986)"
        )
    if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        raise ValueError(f"{label} contains white space or a control character")
    # RFC 3986 section 2: characters a URI never holds unencoded.
    excluded = sorted({char for char in url if char in '"<>\\^`{|}'})
    if excluded:
        raise ValueError(
            f"{label} contains {' '.join(excluded)}, which a URI must percent-encode "
            "(RFC 3986 section 2)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a port that is not a number or out of range
    except ValueError as exc:
        raise ValueError(f"{label} is malformed: {exc}") from None
    if not parts.hostname:
        raise ValueError(f"{label} has no host")
    if port == 0:
        raise ValueError(f"{label}: port 0 is not a port a client can fetch from")


def load_authority_config(raw: dict[str, object], *, source: str) -> AuthorityConfig:
    try:
        model = _ConfigModel.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        place = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        raise ConfigurationError(f"{source}: {place}: {message}", setting=place) from None
    profiles = []
    for name, profile in model.profiles.items():
        try:
            profiles.append(
                Profile(
                    name=name,
                    kind=CertificateKind(profile.kind),
                    max_lifetime=timedelta(days=profile.max_lifetime_days),
                    default_lifetime=timedelta(days=profile.default_lifetime_days),
                    key_specs=frozenset(profile.key_types),
                    names=NamePolicy.build(
                        dns=profile.dns,
                        ip_networks=profile.ip_networks,
                        common_names=profile.common_names,
                        allow_wildcards=profile.allow_wildcards,
                        name=f"the {name} profile",
                    ),
                )
            )
        except ValueError as exc:
            raise ConfigurationError(
                f"{source}: profiles.{name}: {exc}", setting=f"profiles.{name}"
            ) from None
    return AuthorityConfig(
        profiles=ProfileSet.of(profiles),
        crl_validity=timedelta(hours=model.crl.validity_hours),
        crl_urls=tuple(model.crl.distribution_urls),
        ca_issuers_urls=tuple(model.aia.ca_issuers_urls),
    )


def read_config_file(path: Path) -> AuthorityConfig:
    """A config file named by ALBCA_CONFIG_FILE (it need not live in a CA home)."""
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigurationError(
            f"ALBCA_CONFIG_FILE: {path} does not exist", setting="ALBCA_CONFIG_FILE"
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"ALBCA_CONFIG_FILE: cannot read {path}: {exc.strerror}", setting="ALBCA_CONFIG_FILE"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(
            f"{path} is not valid TOML: {exc}", setting="ALBCA_CONFIG_FILE"
        ) from None
    return load_authority_config(raw, source=str(path))


def default_authority_config() -> AuthorityConfig:
    """What a CA with no config file runs with: the file ``albca init`` would write."""
    text = render_default_config(crl_urls=[], ca_issuers_urls=[])
    return load_authority_config(tomllib.loads(text), source="the built-in defaults")


def _toml_list(items: list[str]) -> str:
    # A JSON string is a valid TOML basic string: the same escapes, the same quotes.
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


def render_default_config(*, crl_urls: list[str], ca_issuers_urls: list[str]) -> str:
    """The config.toml a new CA starts with, commented so an operator can edit it."""
    lines = [
        "# albca CA configuration. Restart `albca serve` after editing.",
        "",
        "[crl]",
        "# How long a CRL stays valid (nextUpdate - thisUpdate).",
        "validity_hours = 168",
        "# CRL distribution point URLs written into every certificate issued (optional).",
        f"distribution_urls = {_toml_list(crl_urls)}",
        "",
        "[aia]",
        "# Where relying parties can fetch the issuing CA certificate (optional).",
        f"ca_issuers_urls = {_toml_list(ca_issuers_urls)}",
        "",
        "# Profiles. dns: host name globs, '*' matches within one label, a leading '**'",
        "# matches one or more labels. ip_networks: CIDRs. common_names: globs over the CN.",
        "# key_types: ec-p256 ec-p384 ec-p521 rsa-2048 rsa-3072 rsa-4096.",
    ]
    for profile in default_profiles().profiles:
        lines += [
            "",
            f"[profiles.{profile.name}]",
            f'kind = "{profile.kind.value}"',
            f"max_lifetime_days = {profile.max_lifetime.days}",
            f"default_lifetime_days = {profile.default_lifetime.days}",
            f"key_types = {_toml_list(sorted(spec.value for spec in profile.key_specs))}",
            f"dns = {_toml_list([p.pattern for p in profile.names.dns])}",
            f"ip_networks = {_toml_list([str(n) for n in profile.names.ip_networks])}",
            f"common_names = {_toml_list([p.pattern for p in profile.names.common_names])}",
            f"allow_wildcards = {'true' if profile.names.allow_wildcards else 'false'}",
        ]
    return "\n".join(lines) + "\n"
