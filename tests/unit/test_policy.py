"""Name policies: which names a profile or a caller may put in a certificate."""

from __future__ import annotations

import ipaddress

import pytest

from albca.ca.errors import PolicyViolation
from albca.ca.names import RequestedNames
from albca.ca.policy import NamePolicy

POLICY = NamePolicy.build(
    dns=["**.svc.example.com", "api.example.com"],
    ip_networks=["10.0.0.0/8", "2001:db8::/32"],
    common_names=["svc-*"],
    name="team policy",
)


@pytest.mark.parametrize(
    "names",
    [
        {"dns_names": ["a.svc.example.com", "api.example.com"]},
        {"ip_addresses": ["10.255.0.1", "2001:db8:ffff::1"]},
        {"common_name": "SVC-Billing"},  # CN globs ignore case
        {
            "common_name": "svc-a",
            "dns_names": ["x.y.svc.example.com"],
            "ip_addresses": ["10.0.0.1"],
        },
    ],
)
def test_names_inside_the_policy_pass(names):
    POLICY.check(RequestedNames.of(**names))  # raises PolicyViolation if refused


@pytest.mark.parametrize(
    ("names", "field", "value", "rule"),
    [
        ({"dns_names": ["svc.example.com"]}, "dns_names", "svc.example.com", "dns"),
        ({"dns_names": ["www.example.com"]}, "dns_names", "www.example.com", "dns"),
        ({"ip_addresses": ["11.0.0.1"]}, "ip_addresses", "11.0.0.1", "ip_networks"),
        ({"ip_addresses": ["2001:db9::1"]}, "ip_addresses", "2001:db9::1", "ip_networks"),
        # An IPv4-mapped IPv6 address is not inside an IPv4 network.
        (
            {"ip_addresses": ["::ffff:10.0.0.1"]},
            "ip_addresses",
            str(ipaddress.ip_address("::ffff:10.0.0.1")),
            "ip_networks",
        ),
        ({"common_name": "web-1"}, "common_name", "web-1", "common_names"),
    ],
)
def test_names_outside_the_policy_are_refused_naming_field_value_and_rule(
    names, field, value, rule
):
    with pytest.raises(PolicyViolation) as caught:
        POLICY.check(RequestedNames.of(**names))
    error = caught.value
    assert (error.field, error.value, error.rule) == (field, value, f"team policy.{rule}")
    assert str(error).startswith(f"{field} ")
    assert "team policy" in str(error)
    assert "allowed:" in str(error)


def test_one_name_outside_the_policy_refuses_the_whole_request():
    with pytest.raises(PolicyViolation, match=r"evil\.example\.org"):
        POLICY.check(RequestedNames.of(dns_names=["a.svc.example.com", "evil.example.org"]))


def test_wildcards_are_refused_unless_allowed_even_where_the_pattern_matches():
    wildcard = RequestedNames.of(dns_names=["*.svc.example.com"])
    with pytest.raises(PolicyViolation, match="wildcard names are not allowed") as caught:
        NamePolicy.allow_any(name="open").check(wildcard)
    assert caught.value.rule == "open.allow_wildcards"
    NamePolicy.allow_any(allow_wildcards=True).check(wildcard)
    NamePolicy.build(dns=["*.svc.example.com"], allow_wildcards=True).check(wildcard)


def test_an_allowed_wildcard_must_still_match_a_pattern():
    policy = NamePolicy.build(dns=["**.svc.example.com"], allow_wildcards=True, name="p")
    with pytest.raises(PolicyViolation) as caught:
        policy.check(RequestedNames.of(dns_names=["*.example.com"]))
    assert caught.value.rule == "p.dns"


def test_an_empty_policy_allows_no_names_at_all():
    empty = NamePolicy(name="empty")
    for names in (
        {"dns_names": ["a.example.com"]},
        {"ip_addresses": ["10.0.0.1"]},
        {"common_name": "alice"},
    ):
        with pytest.raises(PolicyViolation, match=r"allowed: none"):
            empty.check(RequestedNames.of(**names))


def test_allow_any_allows_every_well_formed_name():
    NamePolicy.allow_any().check(
        RequestedNames.of(
            common_name="anything at all",
            dns_names=["a.b.c.example", "localhost"],
            ip_addresses=["0.0.0.0", "255.255.255.255", "::", "ffff::1"],  # noqa: S104
        )
    )


@pytest.mark.parametrize(
    ("cidr", "why"),
    [("10.0.0.1/8", "has host bits set"), ("10.0.0.0/33", ""), ("example.com/8", "")],
)
def test_build_refuses_an_invalid_cidr_naming_it(cidr, why):
    with pytest.raises(ValueError, match="is not a valid CIDR") as caught:
        NamePolicy.build(ip_networks=[cidr], name="the client profile")
    assert cidr in str(caught.value)
    assert str(caught.value).startswith("the client profile:")
    assert why in str(caught.value)


def test_build_refuses_an_invalid_dns_pattern():
    with pytest.raises(ValueError, match=r"DNS pattern 'a\.\.b'"):
        NamePolicy.build(dns=["a..b"])


def test_policies_are_immutable():
    with pytest.raises(AttributeError):
        POLICY.allow_wildcards = True  # type: ignore[misc]


TOKEN_POLICY = NamePolicy.build(
    dns=["*.svc.internal"], common_names=["*.svc.internal"], name="token svc"
)


@pytest.mark.parametrize(
    ("common_name", "rule"),
    [
        # fnmatch let '*' cross dots: a token for *.svc.internal got this one.
        ("admin.evil.svc.internal", "common_names"),
        # A literal wildcard CN, with wildcards off.
        ("*.svc.internal", "allow_wildcards"),
        ("w*b.svc.internal", "allow_wildcards"),
    ],
)
def test_a_common_name_is_checked_label_by_label_and_wildcards_need_allowing(common_name, rule):
    with pytest.raises(PolicyViolation) as caught:
        TOKEN_POLICY.check(RequestedNames.of(common_name=common_name))
    assert (caught.value.field, caught.value.rule) == ("common_name", f"token svc.{rule}")


def test_a_wildcard_common_name_passes_where_wildcards_are_allowed():
    policy = NamePolicy.build(common_names=["*.svc.internal"], allow_wildcards=True)
    policy.check(RequestedNames.of(common_name="*.svc.internal"))
    TOKEN_POLICY.check(RequestedNames.of(common_name="web.svc.internal"))


_PATTERN_SETS = [
    (),
    ("api.example.com",),
    ("*.svc.internal", "api.example.com"),
    ("**.svc.internal", "web-*.internal", "x.y"),
    ("**",),
    ("*", "svc-*"),
]
_NAMES = [
    "api.example.com",
    "a.svc.internal",
    "a.b.svc.internal",
    "svc.internal",
    "web-1.internal",
    "web-.internal",
    "x.y",
    "x.yz",
    "svc-billing",
    "svc-billing.extra",
    "Alice Smith",
]


@pytest.mark.parametrize("patterns", _PATTERN_SETS, ids=repr)
@pytest.mark.parametrize("name", _NAMES)
def test_a_policy_allows_a_name_exactly_when_one_of_its_patterns_matches_it(patterns, name):
    # The policy matches all its patterns in one regex; each pattern alone is the reference.
    dns_patterns = [pattern for pattern in patterns if pattern != "*"]
    policy = NamePolicy.build(
        dns=dns_patterns, common_names=patterns, allow_wildcards=True, name="p"
    )
    cn_expected = any(pattern.matches(name) for pattern in policy.common_names)
    if cn_expected:
        policy.check(RequestedNames(common_name=name))
    else:
        with pytest.raises(PolicyViolation, match="is not allowed by p"):
            policy.check(RequestedNames(common_name=name))
    if " " in name:
        return  # not a DNS name
    dns_expected = any(pattern.matches(name) for pattern in policy.dns)
    if dns_expected:
        policy.check(RequestedNames(dns_names=(name,)))
    else:
        with pytest.raises(PolicyViolation, match="is not allowed by p"):
            policy.check(RequestedNames(dns_names=(name,)))
