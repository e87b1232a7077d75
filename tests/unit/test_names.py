"""Name syntax (what may ever appear in a certificate) and DNS/CN patterns."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from albca.ca.errors import InvalidName
from albca.ca.names import (
    CommonNamePattern,
    DnsPattern,
    RequestedNames,
    normalize_common_name,
    normalize_dns_name,
    parse_ip_address,
)
from tests.unit.assertions import assert_error_names_field

# -- DNS patterns -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        # '*' is a glob inside one label
        ("*.svc.internal", "a.svc.internal", True),
        ("*.svc.internal", "a.b.svc.internal", False),
        ("*.svc.internal", "svc.internal", False),
        ("web-*.internal", "web-1.internal", True),
        ("web-*.internal", "web-.internal", True),
        ("web-*.internal", "db-1.internal", False),
        ("web-*.internal", "web-1.eu.internal", False),
        ("*-api.example.com", "orders-api.example.com", True),
        # a leading '**' is one or more labels
        ("**.svc.internal", "a.svc.internal", True),
        ("**.svc.internal", "a.b.c.svc.internal", True),
        ("**.svc.internal", "svc.internal", False),
        ("**.svc.internal", "a.svc.internal.evil.com", False),
        ("**.svc.internal", "asvc.internal", False),
        # '**' alone is every name
        ("**", "localhost", True),
        ("**", "a.b.c.d.e", True),
        # an exact name is only itself
        ("api.example.com", "api.example.com", True),
        ("api.example.com", "api.example.com.evil", False),
        ("api.example.com", "x.api.example.com", False),
        # case does not matter on either side
        ("*.Example.COM", "API.example.com", True),
    ],
)
def test_dns_pattern_semantics(pattern, name, matches):
    assert DnsPattern(pattern).matches(name) is matches


@pytest.mark.parametrize(
    "pattern", ["", "a..example.com", "a_b.example.com", "-a.example.com", "a.example.com."]
)
def test_dns_pattern_refuses_what_is_not_a_host_name_glob(pattern):
    with pytest.raises(ValueError, match="DNS pattern"):
        DnsPattern(pattern)


def test_dns_pattern_is_stored_lower_case():
    assert DnsPattern("*.EXAMPLE.com").pattern == "*.example.com"


# -- DNS names --------------------------------------------------------------------------


def test_dns_names_are_lower_cased():
    assert normalize_dns_name("API.Example.COM") == "api.example.com"


def test_a_label_idn_names_are_accepted():
    assert normalize_dns_name("xn--bcher-kva.example") == "xn--bcher-kva.example"


def test_u_label_idn_names_are_refused_with_a_hint():
    with pytest.raises(InvalidName, match=r"give internationalised names as A-labels") as caught:
        normalize_dns_name("bücher.example")
    assert_error_names_field(caught, "dns_names")


@pytest.mark.parametrize(
    "name",
    [
        "\u212aey.example",  # KELVIN SIGN: lower() makes it an ASCII "k"
        "\u0130nternal.example",  # I WITH DOT ABOVE: lower() makes it "i" + a combining dot
    ],
)
def test_a_name_that_lower_cases_to_ascii_is_refused_not_rewritten(name):
    # Before: lower-casing came first, so the Kelvin sign passed as "key.example" and the
    # certificate carried a name the caller never sent.
    with pytest.raises(InvalidName, match=r"is not ASCII"):
        normalize_dns_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "a" * 63 + ".example",  # longest label
        "*.example.com",  # a wildcard as the whole left-most label
        "a-b.example",
        "0.example",
    ],
)
def test_valid_dns_names_are_accepted(name):
    assert normalize_dns_name(name) == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a" * 64 + ".example", "not a valid host name label"),
        ("", "cannot be empty"),
        ("example.com.", "ends with a dot"),
        ("-a.example.com", "not a valid host name label"),
        ("a-.example.com", "not a valid host name label"),
        ("a..example.com", "not a valid host name label"),
        ("a_b.example.com", "not a valid host name label"),
        ("a b.example.com", "not a valid host name label"),
        ("*", "a wildcard needs a parent domain"),
        ("a.*.example.com", "a wildcard may only be the whole left-most label"),
        ("w*.example.com", "a wildcard may only be the whole left-most label"),
        ("a\x00.example.com", "NUL byte"),
        ("a\x7f.example.com", "control character"),
    ],
)
def test_invalid_dns_names_are_refused_saying_why(name, message):
    with pytest.raises(InvalidName, match=message.replace("*", r"\*")) as caught:
        normalize_dns_name(name)
    assert_error_names_field(caught, "dns_names")


def test_dns_names_may_be_253_characters_and_no_more():
    longest = ".".join(["a" * 61] * 4) + ".abcde"
    assert len(longest) == 253
    assert normalize_dns_name(longest) == longest
    with pytest.raises(InvalidName, match="longer than 253 characters") as caught:
        normalize_dns_name(longest + "f")
    assert_error_names_field(caught, "dns_names")


# -- IP addresses -----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["10.0.0.1", "2001:db8::1", "::1", "  192.168.0.1 "])
def test_ip_addresses_are_parsed(text):
    assert parse_ip_address(text) == ipaddress.ip_address(text.strip())


@pytest.mark.parametrize("text", ["10.0.0.256", "10.0.0.0/8", "example.com", "", "1.2.3"])
def test_malformed_ip_addresses_are_refused(text):
    with pytest.raises(InvalidName, match="is not an IPv4 or IPv6 address") as caught:
        parse_ip_address(text)
    assert_error_names_field(caught, "ip_addresses")


def test_an_ipv6_zone_is_refused():
    with pytest.raises(InvalidName):
        parse_ip_address("fe80::1%eth0")


# -- common names -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["alice", "Alice Smith", "svc-billing@prod", "é" * 32, "x" * 64])
def test_common_names_are_kept_as_given(name):
    assert normalize_common_name(name) == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "cannot be blank"),
        ("   ", "cannot be blank"),
        (" alice", "leading or trailing white space"),
        ("alice\n", "control character"),
        ("x" * 65, "longer than 64 characters"),
        ("ü" * 33, "longer than 64 bytes in UTF-8"),
        ("a\ud800b", "unpaired surrogate"),
        ("a\x00b", "NUL byte"),
        ("a\x1fb", "control character"),
    ],
)
def test_invalid_common_names_are_refused_saying_why(name, message):
    with pytest.raises(InvalidName, match=message) as caught:
        normalize_common_name(name)
    assert_error_names_field(caught, "common_name")


@pytest.mark.parametrize("name", ["a\x85b", "a\x9b31mred"])
def test_c1_control_characters_in_a_common_name_are_refused(name):
    with pytest.raises(InvalidName, match="control character"):
        normalize_common_name(name)


def test_a_name_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="common_name must be a string"):
        normalize_common_name(b"alice")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dns_names must hold strings"):
        normalize_dns_name(None)  # type: ignore[arg-type]


# -- common name patterns ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("svc-*", "svc-billing", True),
        ("svc-*", "SVC-Billing", True),
        ("SVC-*", "svc-billing", True),
        ("svc-*", "web-1", False),
        ("*@example.com", "alice@example.com", True),
        ("*@example.com", "alice@example.com.evil", False),
        ("alice", "alice", True),
        ("alice", "alice2", False),
        # Label by label, as DNS patterns: '*' never crosses a dot.
        ("*.svc.internal", "web.svc.internal", True),
        ("*.svc.internal", "admin.evil.svc.internal", False),
        ("**.svc.internal", "admin.evil.svc.internal", True),
        ("**.svc.internal", "svc.internal", False),
        ("svc-*", "svc-a.evil.example", False),
        ("web-*.svc.internal", "web-1.svc.internal", True),
        # fnmatch's '?' and '[...]' are literal characters here.
        ("svc-?", "svc-a", False),
        ("svc-[ab]", "svc-a", False),
        ("*", "anything.at.all", True),
    ],
)
def test_common_name_patterns_are_case_insensitive_globs(pattern, name, matches):
    assert CommonNamePattern(pattern).matches(name) is matches


def test_an_empty_common_name_pattern_is_refused():
    with pytest.raises(ValueError, match="cannot be empty"):
        CommonNamePattern("")


# -- requested names --------------------------------------------------------------------


def test_requested_names_are_normalised_and_deduplicated_in_order():
    names = RequestedNames.of(
        common_name="api",
        dns_names=["B.example.com", "a.example.com", "b.example.com"],
        ip_addresses=["10.0.0.2", "10.0.0.1", "10.0.0.2"],
    )
    assert names.dns_names == ("b.example.com", "a.example.com")
    assert [str(ip) for ip in names.ip_addresses] == ["10.0.0.2", "10.0.0.1"]
    assert names.describe() == (
        "CN=api, DNS:b.example.com, DNS:a.example.com, IP:10.0.0.2, IP:10.0.0.1"
    )


def test_no_names_is_empty():
    assert RequestedNames.of().is_empty
    assert RequestedNames.of().describe() == "(no names)"
    assert not RequestedNames.of(ip_addresses=["::1"]).is_empty


@pytest.mark.parametrize("pattern", ["a.**.example", "web**.example", "**x.example"])
def test_double_star_is_only_a_whole_leftmost_label(pattern):
    with pytest.raises(ValueError, match="left-most label"):
        DnsPattern(pattern)


# -- common names that pass for others (UTS #39) ------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("web\u202egpj.exe", "U\\+202E"),  # RIGHT-TO-LEFT OVERRIDE
        ("ad\u200bmin", "U\\+200B"),  # ZERO WIDTH SPACE
        ("ad\u200dmin", "U\\+200D"),  # ZERO WIDTH JOINER
        ("\ufeffadmin", "U\\+FEFF"),  # ZERO WIDTH NO-BREAK SPACE
        ("admin\u2028x", "U\\+2028"),  # LINE SEPARATOR
        ("\u0430dmin.svc.internal", "Cyrillic, Latin"),  # Cyrillic a among Latin letters
        ("p\u0430ypal", "Cyrillic, Latin"),
        ("\uff41dmin", "NFKC"),  # FULLWIDTH LATIN SMALL LETTER A
        ("admin\u00a0x", "NFKC"),  # NO-BREAK SPACE
    ],
)
def test_common_names_that_can_disguise_another_name_are_refused(name, message):
    with pytest.raises(InvalidName, match=message) as caught:
        normalize_common_name(name)
    assert_error_names_field(caught, "common_name")


@pytest.mark.parametrize(
    "name", ["Müller GmbH", "Ελλάδα", "Москва", "東京タワー ltd", "서울 Seoul"]
)
def test_common_names_in_one_script_or_an_allowed_mix_pass(name):
    assert normalize_common_name(name) == name


# -- the compiled forms agree with the rules they stand for -------------------------------
# Patterns are matched as one compiled regex, and a well-formed DNS name is accepted by one
# regex before the label-by-label checks run: these compare both with the rules written out
# label by label (RFC 1123 labels, RFC 6125 section 6.4.3 wildcards, the glob semantics
# ``DnsPattern`` documents).


def _glob_label_matches(glob: str, label: str) -> bool:
    parts = glob.split("*")
    if len(parts) == 1:
        return glob == label
    if not (label.startswith(parts[0]) and label.endswith(parts[-1])):
        return False
    position, end = len(parts[0]), len(label) - len(parts[-1])
    if position > end:
        return False
    for part in parts[1:-1]:
        found = label.find(part, position, end)
        if found < 0:
            return False
        position = found + len(part)
    return True


def _matches_label_by_label(pattern: str, name: str) -> bool:
    pattern_labels, name_labels = pattern.split("."), name.split(".")
    if pattern_labels[0] == "**":
        suffix = pattern_labels[1:]
        if len(name_labels) <= len(suffix) and suffix:
            return False
        name_labels, pattern_labels = name_labels[len(name_labels) - len(suffix) :], suffix
    return len(pattern_labels) == len(name_labels) and all(
        _glob_label_matches(glob, label)
        for glob, label in zip(pattern_labels, name_labels, strict=True)
    )


_NAME_TEXT = st.text(alphabet="ab1-.*\n", max_size=12)
_PATTERN_TEXT = st.one_of(
    st.sampled_from(["**", "**.a", "*.a", "a*.b", "**.*.a", "*-1.a*", "a.b", "*.*"]),
    st.text(alphabet="ab1-*.", min_size=1, max_size=8).filter(
        lambda text: "**" not in text.removeprefix("**.")
    ),
)


@settings(max_examples=2000, deadline=None)
@given(pattern=_PATTERN_TEXT, name=_NAME_TEXT)
def test_pattern_matching_is_label_by_label(pattern, name):
    expected = _matches_label_by_label(pattern, name)
    try:
        dns_pattern = DnsPattern(pattern)
    except ValueError:
        dns_pattern = None
    if dns_pattern is not None:
        assert dns_pattern.matches(name) is expected
    if "" not in pattern.split("."):
        assert CommonNamePattern(pattern).matches(name) is (expected or pattern in ("*", "**"))


def _is_host_name(name: str) -> bool:
    labels = name.split(".")
    if labels[0] == "*":
        labels = labels[1:]
        if not labels:
            return False
    return all(
        0 < len(label) <= 63
        and label[0] != "-"
        and label[-1] != "-"
        and all(char in "abcdefghijklmnopqrstuvwxyz0123456789-" for char in label)
        for label in labels
    )


@settings(max_examples=2000, deadline=None)
@given(name=st.text(alphabet="aZ9-.*", max_size=70) | st.text(alphabet="a.", max_size=140))
@example(name="*.*.a")
@example(name="a.*.b")
@example(name="*")
@example(name="*.a")
@example(name="a*.b")
@example(name="-a.b")
@example(name="a-.b")
@example(name="a..b")
@example(name="a" * 63 + ".b")
@example(name="a" * 64 + ".b")
def test_dns_names_are_accepted_exactly_when_every_label_is_a_host_name_label(name):
    lowered = name.lower()
    acceptable = (
        bool(lowered)
        and not lowered.endswith(".")
        and len(lowered) <= 253
        and _is_host_name(lowered)
    )
    try:
        assert normalize_dns_name(name) == lowered
    except InvalidName:
        assert not acceptable
    else:
        assert acceptable


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1f", "\x7f", "\x80", "\x9f"])
def test_every_control_character_is_refused_wherever_it_stands(char):
    for name in (f"{char}a", f"a{char}", f"a{char}b"):
        with pytest.raises(InvalidName, match="NUL byte" if char == "\x00" else "control"):
            normalize_common_name(name)
    assert normalize_common_name("a\xe9b") == "a\xe9b"  # U+00E9 is past C1
