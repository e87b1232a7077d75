"""The ACM fake (``albca.emulated_aws.acm_rules``) in front of moto: each rule AWS documents
is refused, what AWS allows still goes through to moto. moto alone accepts all of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from albca.emulated_aws import install_acm_propagation
from tests.aws.conftest import REGION
from tests.trust_factories import make_ca

pytestmark = pytest.mark.usefixtures("aws")


@pytest.fixture(scope="module")
def ec_ca():
    return make_ca("ACM Test EC CA")


@pytest.fixture(scope="module")
def rsa_ca():
    return make_ca("ACM Test RSA CA", key=rsa.generate_private_key(65537, 2048))


def leaf(ca, key, *, eku=(ExtendedKeyUsageOID.SERVER_AUTH,), name="svc.example"):
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def material(ca, key, **kwargs) -> dict:
    return {
        "Certificate": leaf(ca, key, **kwargs).public_bytes(serialization.Encoding.PEM),
        "PrivateKey": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        "CertificateChain": ca.certificate.public_bytes(serialization.Encoding.PEM),
    }


def p256():
    return ec.generate_private_key(ec.SECP256R1())


def refused(call, **params) -> str:
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    return str(error["Message"])


def test_a_leaf_of_another_algorithm_than_its_ca_is_refused(acm, rsa_ca, ec_ca):
    message = refused(acm.import_certificate, **material(rsa_ca, p256()))
    assert "key algorithm (EC)" in message
    assert "(RSA)" in message
    acm.import_certificate(**material(rsa_ca, rsa.generate_private_key(65537, 2048)))
    acm.import_certificate(**material(ec_ca, ec.generate_private_key(ec.SECP384R1())))
    # moto alone takes it
    boto3.client("acm", region_name=REGION).import_certificate(**material(rsa_ca, p256()))


def test_a_reimport_keeps_the_key_type_and_size(acm, ec_ca):
    arn = acm.import_certificate(**material(ec_ca, p256()))["CertificateArn"]
    message = refused(
        acm.import_certificate,
        CertificateArn=arn,
        **material(ec_ca, ec.generate_private_key(ec.SECP384R1())),
    )
    assert "EC_secp256r1 to EC_secp384r1" in message
    acm.import_certificate(CertificateArn=arn, **material(ec_ca, p256()))


def test_a_reimport_keeps_every_eku_but_client_auth(acm, ec_ca):
    both = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)
    arn = acm.import_certificate(**material(ec_ca, p256(), eku=both))["CertificateArn"]
    only_client = (ExtendedKeyUsageOID.CLIENT_AUTH,)
    message = refused(
        acm.import_certificate, CertificateArn=arn, **material(ec_ca, p256(), eku=only_client)
    )
    assert "Extended Key Usage values cannot be removed" in message
    # The guide's exception: clientAuth may go.
    server = (ExtendedKeyUsageOID.SERVER_AUTH,)
    acm.import_certificate(CertificateArn=arn, **material(ec_ca, p256(), eku=server))


def test_a_reimport_cannot_add_an_eku_extension_or_take_tags(acm, ec_ca):
    arn = acm.import_certificate(**material(ec_ca, p256(), eku=None))["CertificateArn"]
    message = refused(acm.import_certificate, CertificateArn=arn, **material(ec_ca, p256()))
    assert "cannot be added" in message
    message = refused(
        acm.import_certificate,
        CertificateArn=arn,
        Tags=[{"Key": "owner", "Value": "albca"}],
        **material(ec_ca, p256(), eku=None),
    )
    assert "tags" in message


@pytest.mark.parametrize("value", ["*.example.com", "a#b", "x(y)", "100%", "ab|c"])
def test_tag_values_outside_acm_s_pattern_are_refused(acm, ec_ca, value):
    tags = [{"Key": "albca:managed-by", "Value": value}]
    message = refused(acm.import_certificate, Tags=tags, **material(ec_ca, p256()))
    assert "regular expression pattern" in message
    arn = acm.import_certificate(**material(ec_ca, p256()))["CertificateArn"]
    refused(acm.add_tags_to_certificate, CertificateArn=arn, Tags=tags)


def test_letters_separators_and_numbers_of_any_script_are_tag_characters(acm, ec_ca):
    value = "Zürich 東京 ٣ _.:/=+-@"
    tags = [{"Key": "albca:managed-by", "Value": value}]
    arn = acm.import_certificate(Tags=tags, **material(ec_ca, p256()))["CertificateArn"]
    assert acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == tags


def test_a_new_certificate_is_unseen_for_the_first_uses(acm, acm_fake, elbv2, alb, ec_ca):
    install_acm_propagation(elbv2, fake=acm_fake)
    acm_fake.unseen_uses = 2
    server = leaf(ec_ca, key := p256(), name="alb.internal.example")
    arn = acm.import_certificate(
        Certificate=server.public_bytes(serialization.Encoding.PEM),
        PrivateKey=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )["CertificateArn"]
    for _ in range(2):
        with pytest.raises(elbv2.exceptions.CertificateNotFoundException):
            elbv2.modify_listener(
                ListenerArn=alb.listener_arn, Certificates=[{"CertificateArn": arn}]
            )
    elbv2.modify_listener(ListenerArn=alb.listener_arn, Certificates=[{"CertificateArn": arn}])
