"""The CA home's config.toml: the default round-trips, and a mistake names its place."""

from __future__ import annotations

import copy
import tomllib
from datetime import timedelta

import pytest

from albca.ca.errors import ConfigurationError
from albca.ca.profiles import Profile, default_profiles
from albca.config_file import load_authority_config, render_default_config

SOURCE = "/home/ops/.albca/config.toml"


def default_raw(**urls: list[str]) -> dict:
    text = render_default_config(
        crl_urls=urls.get("crl_urls", []), ca_issuers_urls=urls.get("ca_issuers_urls", [])
    )
    return tomllib.loads(text)


def what_a_profile_allows(profile: Profile) -> tuple:
    """Everything about a profile that decides what gets issued."""
    return (
        profile.name,
        profile.kind,
        profile.max_lifetime,
        profile.default_lifetime,
        profile.key_specs,
        tuple(p.pattern for p in profile.names.dns),
        profile.names.ip_networks,
        tuple(p.pattern for p in profile.names.common_names),
        profile.names.allow_wildcards,
    )


def test_the_rendered_default_config_loads_into_the_default_profiles():
    config = load_authority_config(default_raw(), source=SOURCE)
    loaded = [what_a_profile_allows(p) for p in config.profiles.profiles]
    assert loaded == [what_a_profile_allows(p) for p in default_profiles().profiles]
    assert config.crl_validity == timedelta(days=7)
    assert config.crl_urls == ()
    assert config.ca_issuers_urls == ()


def test_the_rendered_default_config_loads_into_equal_profiles():
    config = load_authority_config(default_raw(), source=SOURCE)
    assert config.profiles == default_profiles()


def test_urls_round_trip_through_the_rendered_config():
    crl = ["http://pki.example.com/issuing.crl", "https://pki.example.com/a%20%22quoted%22"]
    aia = ["http://pki.example.com/issuing.crt"]
    config = load_authority_config(default_raw(crl_urls=crl, ca_issuers_urls=aia), source=SOURCE)
    assert config.crl_urls == tuple(crl)
    assert config.ca_issuers_urls == tuple(aia)


@pytest.mark.parametrize("url", ['https://pki.example.com/a"b', "https://pki.example.com/a\\b"])
def test_characters_a_uri_never_holds_are_refused(url):
    with pytest.raises(ConfigurationError, match="RFC 3986"):
        load_authority_config(default_raw(crl_urls=[url], ca_issuers_urls=[]), source=SOURCE)


def test_the_rendered_config_is_commented_for_operators():
    text = render_default_config(crl_urls=[], ca_issuers_urls=[])
    assert text.startswith("# albca CA configuration.")
    assert "[profiles.client]" in text
    assert "[profiles.server]" in text


def test_a_config_can_confine_a_profile():
    raw = default_raw()
    raw["profiles"]["server"].update(
        dns=["**.svc.example.com"], ip_networks=["10.0.0.0/8"], allow_wildcards=True
    )
    raw["crl"]["validity_hours"] = 24
    config = load_authority_config(raw, source=SOURCE)
    server = config.profiles.get("server")
    assert [p.pattern for p in server.names.dns] == ["**.svc.example.com"]
    assert [str(n) for n in server.names.ip_networks] == ["10.0.0.0/8"]
    assert server.names.allow_wildcards
    assert config.crl_validity == timedelta(hours=24)


def set_path(raw: dict, path: str, value) -> dict:
    raw = copy.deepcopy(raw)
    *parents, last = path.split(".")
    node = raw
    for part in parents:
        node = node[part]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return raw


DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "setting", "message"),
    [
        (
            "profiles.client.max_lifetime_days",
            0,
            "profiles.client.max_lifetime_days",
            "greater than 0",
        ),
        (
            "profiles.client.max_lifetime_days",
            3651,
            "profiles.client.max_lifetime_days",
            "less than or equal to 3650",
        ),
        ("profiles.client.max_lifetime_days", "ninety", "profiles.client.max_lifetime_days", ""),
        ("profiles.server.default_lifetime_days", -1, "profiles.server.default_lifetime_days", ""),
        ("profiles.client.key_types", ["ec-p999"], "profiles.client.key_types.0", "ec-p256"),
        ("profiles.client.key_types", [], "profiles.client.key_types", "at least 1"),
        ("profiles.client.kind", "admin", "profiles.client.kind", "'client' or 'server'"),
        ("profiles.client.colour", "blue", "profiles.client.colour", "Extra inputs"),
        ("profiles.client.kind", DELETE, "profiles.client.kind", "Field required"),
        ("crl.validity_hours", 0, "crl.validity_hours", "greater than 0"),
        ("crl.distribution_urls", ["ftp://pki.example.com/c.crl"], "crl.distribution_urls", "http"),
        ("aia.ca_issuers_urls", ["pki.example.com/ca.crt"], "aia.ca_issuers_urls", "http"),
        ("serve", {"port": 8080}, "serve", "Extra inputs"),
        ("profiles", {}, "profiles", "at least 1"),
    ],
)
def test_a_bad_value_is_a_configuration_error_naming_its_place(path, value, setting, message):
    with pytest.raises(ConfigurationError) as caught:
        load_authority_config(set_path(default_raw(), path, value), source=SOURCE)
    assert caught.value.setting == setting
    assert str(caught.value).startswith(f"{SOURCE}: {setting}: ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("profiles.client.default_lifetime_days", 400, "at most max_lifetime"),
        ("profiles.client.dns", ["a..example.com"], "DNS pattern 'a..example.com'"),
        ("profiles.client.ip_networks", ["10.0.0.1/8"], "'10.0.0.1/8' is not a valid CIDR"),
    ],
)
def test_an_inconsistent_profile_is_a_configuration_error_naming_the_profile(path, value, message):
    with pytest.raises(ConfigurationError) as caught:
        load_authority_config(set_path(default_raw(), path, value), source=SOURCE)
    assert caught.value.setting.startswith("profiles.client")
    assert str(caught.value).startswith(f"{SOURCE}: profiles.client")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("key", "value"), [("ip_networks", ["10.0.0.1/8"]), ("dns", ["a..example.com"])]
)
def test_a_bad_cidr_or_pattern_names_the_key_that_holds_it(key, value):
    with pytest.raises(ConfigurationError) as caught:
        load_authority_config(
            set_path(default_raw(), f"profiles.client.{key}", value), source=SOURCE
        )
    assert caught.value.setting == f"profiles.client.{key}"
