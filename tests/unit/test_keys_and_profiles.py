"""Key types and profiles: the values every request is checked against."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes

from albca.ca.errors import InvalidLifetime, UnknownProfile, UnsupportedKey
from albca.ca.keys import KeySpec, key_spec_of, signature_hash
from albca.ca.policy import NamePolicy
from albca.ca.profiles import CertificateKind, Profile, ProfileSet, default_profiles
from tests.unit.assertions import assert_error_names_field

# -- key types --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spec"),
    [("ec-p256", KeySpec.EC_P256), (" EC-P384 ", KeySpec.EC_P384), ("rsa-4096", KeySpec.RSA_4096)],
)
def test_key_spec_parses_cli_spellings(text, spec):
    assert KeySpec.parse(text) is spec


@pytest.mark.parametrize("text", ["ec-p224", "rsa-1024", "rsa-8192", "ed25519", ""])
def test_key_spec_refuses_unknown_key_types_listing_the_choices(text):
    with pytest.raises(UnsupportedKey, match="unknown key type") as caught:
        KeySpec.parse(text, field="key_type")
    assert_error_names_field(caught, "key_type")
    assert "ec-p256" in str(caught.value)
    assert "rsa-4096" in str(caught.value)


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [
        (KeySpec.EC_P256, hashes.SHA256),
        (KeySpec.EC_P384, hashes.SHA384),
        (KeySpec.EC_P521, hashes.SHA512),
        (KeySpec.RSA_2048, hashes.SHA256),
        (KeySpec.RSA_3072, hashes.SHA256),
        (KeySpec.RSA_4096, hashes.SHA256),
    ],
)
def test_signature_hash_follows_the_ca_key(spec, algorithm):
    assert isinstance(signature_hash(spec), algorithm)


@pytest.mark.parametrize("spec", list(KeySpec), ids=str)
def test_key_spec_of_recognises_every_generated_key(key_pool, spec):
    assert key_spec_of(key_pool.leaf(spec).public_key()) is spec


def test_rsa_bits_is_only_for_rsa_specs():
    assert KeySpec.RSA_3072.rsa_bits == 3072
    with pytest.raises(TypeError, match="not an RSA key spec"):
        _ = KeySpec.EC_P256.rsa_bits


# -- profiles ---------------------------------------------------------------------------


def profile(**changes) -> Profile:
    values = {
        "name": "client",
        "kind": CertificateKind.CLIENT,
        "max_lifetime": timedelta(days=30),
        "default_lifetime": timedelta(days=7),
        "key_specs": frozenset({KeySpec.EC_P256}),
        "names": NamePolicy.allow_any(),
    }
    values.update(changes)
    return Profile(**values)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_lifetime": timedelta(0)}, "max_lifetime must be positive"),
        ({"default_lifetime": timedelta(0)}, "default_lifetime must be positive"),
        ({"default_lifetime": timedelta(days=31)}, "at most max_lifetime"),
        ({"key_specs": frozenset()}, "key_specs cannot be empty"),
    ],
)
def test_profile_refuses_inconsistent_values_naming_them(changes, message):
    with pytest.raises(ValueError, match=message) as caught:
        profile(**changes)
    assert str(caught.value).startswith("profile client:")


def test_profile_kind_must_be_a_certificate_kind():
    with pytest.raises(TypeError, match="kind must be a CertificateKind"):
        profile(kind="client")


def test_profile_resolves_lifetimes():
    assert profile().resolve_lifetime(None) == timedelta(days=7)
    assert profile().resolve_lifetime(timedelta(days=30)) == timedelta(days=30)
    with pytest.raises(InvalidLifetime, match="31 days is above the client profile's maximum"):
        profile().resolve_lifetime(timedelta(days=31))
    with pytest.raises(InvalidLifetime, match="12:00:00"):
        profile().resolve_lifetime(timedelta(days=30, hours=12))


def test_profile_refuses_keys_it_does_not_list():
    profile().check_key(KeySpec.EC_P256)
    with pytest.raises(UnsupportedKey, match="rsa-2048 keys are not allowed") as caught:
        profile().check_key(KeySpec.RSA_2048)
    assert_error_names_field(caught, "public_key")


def test_profile_set_finds_profiles_by_name_and_refuses_unknown_ones():
    profiles = default_profiles()
    assert profiles.names == ("client", "server")
    assert profiles.get("server").kind is CertificateKind.SERVER
    with pytest.raises(UnknownProfile, match="unknown profile 'Client'") as caught:
        profiles.get("Client")
    assert caught.value.profile == "Client"


def test_profile_names_are_unique():
    with pytest.raises(ValueError, match="must be unique"):
        ProfileSet.of([profile(), profile()])


def test_default_profiles_are_what_init_promises():
    client = default_profiles().get("client")
    server = default_profiles().get("server")
    assert (client.kind, server.kind) == (CertificateKind.CLIENT, CertificateKind.SERVER)
    assert client.max_lifetime == timedelta(days=365)
    assert server.max_lifetime == timedelta(days=397)  # CA/B Forum BR 6.3.2
    assert client.default_lifetime == server.default_lifetime == timedelta(days=90)
    assert client.key_specs == server.key_specs == frozenset(KeySpec)
    assert not client.names.allow_wildcards
    assert not server.names.allow_wildcards
