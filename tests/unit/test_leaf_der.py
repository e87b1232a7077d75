"""``ca.der.leaf`` makes byte for byte the TBSCertificate cryptography's builder makes.

``certificates.build_leaf_certificate`` (cryptography's ``CertificateBuilder``) is the
reference: for every issuing key type, leaf key type, kind and shape of names, the direct
encoder must produce the same to-be-signed bytes, and a signature that verifies.
"""

from __future__ import annotations

import ssl
import string
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from albca.ca.authority import AuthorityConfig
from albca.ca.certificates import (
    build_leaf_certificate,
    leaf_subject,
    leaf_subject_text,
    random_serial,
)
from albca.ca.der import leaf
from albca.ca.der.leaf import LeafTemplate, encode_leaf_der, pem_of_certificate
from albca.ca.errors import InvalidName
from albca.ca.keys import KeySpec
from albca.ca.names import RequestedNames
from albca.ca.profiles import CertificateKind, default_profiles

ALL_SPECS = list(KeySpec)
NOT_BEFORE = datetime(2026, 11, 23, 8, 30, 15, 123456, tzinfo=UTC)


def both(issuer, **fields):
    reference = build_leaf_certificate(issuer=issuer, **fields)
    encoded = x509.load_der_x509_certificate(encode_leaf_der(LeafTemplate.of(issuer), **fields))
    return reference, encoded


def assert_same_certificate(reference: x509.Certificate, encoded: x509.Certificate, issuer):
    assert encoded.tbs_certificate_bytes == reference.tbs_certificate_bytes
    assert encoded.signature_algorithm_oid == reference.signature_algorithm_oid
    encoded.verify_directly_issued_by(issuer.certificate)


@pytest.mark.parametrize("ca_spec", ALL_SPECS, ids=str)
@pytest.mark.parametrize("leaf_spec", ALL_SPECS, ids=str)
@pytest.mark.parametrize("kind", list(CertificateKind), ids=str)
def test_every_key_type_and_kind_encodes_as_the_builder_does(
    make_authority, key_pool, ca_spec, leaf_spec, kind
):
    issuer = make_authority(ca_spec).issuer()
    reference, encoded = both(
        issuer,
        kind=kind,
        public_key=key_pool.leaf(leaf_spec).public_key(),
        names=RequestedNames.of(
            common_name="svc.internal", dns_names=["svc.internal"], ip_addresses=["10.0.0.7"]
        ),
        serial=random_serial(),
        not_before=NOT_BEFORE,
        not_after=NOT_BEFORE + timedelta(days=90),
    )
    assert_same_certificate(reference, encoded, issuer)


@pytest.mark.parametrize(
    "names",
    [
        RequestedNames.of(common_name="only-a-cn"),
        RequestedNames.of(dns_names=["san-only.example.com"]),  # empty subject, critical SAN
        RequestedNames.of(ip_addresses=["192.0.2.1", "2001:db8::1"]),
        RequestedNames.of(common_name="Zoë's büro ☃", dns_names=["a.example"]),  # UTF8String
        RequestedNames.of(
            common_name="x" * 64,
            dns_names=[f"host-{i}.{'l' * 40}.example.com" for i in range(60)],  # long lengths
        ),
    ],
    ids=["cn", "san-only", "ips", "unicode-cn", "many-sans"],
)
def test_name_shapes_encode_as_the_builder_does(make_authority, key_pool, names):
    issuer = make_authority().issuer()
    reference, encoded = both(
        issuer,
        kind=CertificateKind.SERVER,
        public_key=key_pool.leaf(KeySpec.EC_P256).public_key(),
        names=names,
        serial=random_serial(),
        not_before=NOT_BEFORE,
        not_after=NOT_BEFORE + timedelta(days=30),
    )
    assert_same_certificate(reference, encoded, issuer)


@pytest.mark.parametrize("serial", [1, 127, 128, 255, 256, (1 << 159) - 1], ids=str)
@pytest.mark.parametrize(
    "not_after",
    [datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(2050, 1, 1, tzinfo=UTC)],
    ids=["utctime", "generalizedtime"],
)
def test_serials_and_times_at_their_encoding_edges(make_authority, key_pool, serial, not_after):
    issuer = make_authority().issuer()
    reference, encoded = both(
        issuer,
        kind=CertificateKind.CLIENT,
        public_key=key_pool.leaf(KeySpec.EC_P256).public_key(),
        names=RequestedNames.of(common_name="edge"),
        serial=serial,
        not_before=NOT_BEFORE,
        not_after=not_after,
    )
    assert_same_certificate(reference, encoded, issuer)


def test_crl_distribution_points_and_aia_come_from_the_template(make_authority, key_pool):
    config = AuthorityConfig(
        profiles=default_profiles(),
        crl_urls=("http://crl.example.com/issuing.crl", "http://crl2.example.com/i.crl"),
        ca_issuers_urls=("http://ca.example.com/issuing.cer",),
    )
    issuer = make_authority(config=config).issuer()
    reference, encoded = both(
        issuer,
        kind=CertificateKind.SERVER,
        public_key=key_pool.leaf(KeySpec.RSA_2048).public_key(),
        names=RequestedNames.of(common_name="svc", dns_names=["svc.internal"]),
        serial=random_serial(),
        not_before=NOT_BEFORE,
        not_after=NOT_BEFORE + timedelta(days=7),
    )
    assert_same_certificate(reference, encoded, issuer)
    points = encoded.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [name.value for name in points[0].full_name] == list(config.crl_urls)


_LABEL = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=20)
_DNS = st.lists(_LABEL, min_size=2, max_size=4).map(".".join)
_CN = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=64
).filter(lambda text: text.strip() == text)
_IPV4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda parts: ".".join(map(str, parts)))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    common_name=st.none() | _CN,
    dns_names=st.lists(_DNS, max_size=5),
    ips=st.lists(_IPV4, max_size=3),
    kind=st.sampled_from(list(CertificateKind)),
    serial=st.integers(1, (1 << 159) - 1),
    seconds=st.integers(0, 40 * 365 * 86_400),
)
def test_any_valid_names_encode_as_the_builder_does(
    make_authority, key_pool, common_name, dns_names, ips, kind, serial, seconds
):
    try:
        names = RequestedNames.of(common_name=common_name, dns_names=dns_names, ip_addresses=ips)
    except InvalidName:
        return  # not a request the CA would accept; RequestedNames' own tests cover those
    if names.is_empty:
        return
    issuer = make_authority().issuer()
    reference, encoded = both(
        issuer,
        kind=kind,
        public_key=key_pool.leaf(KeySpec.EC_P256).public_key(),
        names=names,
        serial=serial,
        not_before=NOT_BEFORE,
        not_after=NOT_BEFORE + timedelta(seconds=seconds + 1),
    )
    assert_same_certificate(reference, encoded, issuer)


@settings(max_examples=300, deadline=None)
@given(
    common_name=st.text(min_size=1, max_size=30)
    | st.text(alphabet='#, +"\\;<>=ab ', min_size=1, max_size=12)
)
def test_the_record_subject_text_is_what_cryptography_writes(common_name):
    try:
        names = RequestedNames.of(common_name=common_name)
    except InvalidName:
        return
    assert leaf_subject_text(names) == leaf_subject(names).rfc4514_string()
    assert leaf_subject_text(RequestedNames.of(dns_names=["a.example"])) == ""


@pytest.mark.parametrize("ca_spec", ALL_SPECS, ids=str)
def test_the_pem_made_from_the_der_is_cryptographys(make_authority, key_pool, ca_spec):
    issuer = make_authority(ca_spec).issuer()
    for leaf_spec in ALL_SPECS:  # certificates of many lengths
        der = encode_leaf_der(
            LeafTemplate.of(issuer),
            kind=CertificateKind.SERVER,
            public_key=key_pool.leaf(leaf_spec).public_key(),
            names=RequestedNames.of(dns_names=["svc.internal"]),
            serial=random_serial(),
            not_before=NOT_BEFORE,
            not_after=NOT_BEFORE + timedelta(days=90),
        )
        certificate = x509.load_der_x509_certificate(der)
        expected = certificate.public_bytes(serialization.Encoding.PEM).decode()
        assert pem_of_certificate(der) == expected


@given(st.binary(max_size=300))
def test_pem_lines_are_64_characters_as_rfc_7468_says(der):
    # ssl's own encoder (textwrap into 64-character lines) is the independent reference.
    assert pem_of_certificate(der) == ssl.DER_cert_to_PEM_cert(der)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=str)
def test_the_key_identifier_is_cryptographys(key_pool, spec):
    public_key = key_pool.leaf(spec).public_key()
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    expected = x509.SubjectKeyIdentifier.from_public_key(public_key).digest
    assert leaf._key_identifier(spki) == expected
