"""Listener mutual authentication, which moto drops: the fake records it, returns it, and
refuses what AWS refuses (through a real boto3 client in front of moto's ELBv2)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.aws.conftest import BUCKET, make_alb, put_object
from tests.trust_factories import bundle_pem, make_ca


def error_code(caught) -> str:
    code: str = caught.value.response["Error"]["Code"]
    return code


@pytest.fixture
def store_arn(elbv2, s3, bucket, trust_cas, trust_fake) -> str:
    """An ACTIVE trust store holding the test CAs."""
    version = put_object(s3, "bundle.pem", bundle_pem(trust_cas))
    arn: str = elbv2.create_trust_store(
        Name="albca-store",
        CaCertificatesBundleS3Bucket=BUCKET,
        CaCertificatesBundleS3Key="bundle.pem",
        CaCertificatesBundleS3ObjectVersion=version,
    )["TrustStores"][0]["TrustStoreArn"]
    trust_fake.activate(arn)
    return arn


def verify(store_arn: str, **extra) -> dict:
    return {"Mode": "verify", "TrustStoreArn": store_arn, **extra}


def set_mtls(elbv2, alb, listener_arn, attributes) -> dict:
    """modify_listener the way AWS_NOTES says to: certificate and policy carried along."""
    listener: dict = elbv2.modify_listener(
        ListenerArn=listener_arn,
        Certificates=[{"CertificateArn": alb.certificate_arn}],
        SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
        MutualAuthentication=attributes,
    )["Listeners"][0]
    return listener


def described(elbv2, listener_arn) -> dict:
    (listener,) = elbv2.describe_listeners(ListenerArns=[listener_arn])["Listeners"]
    return listener


def test_https_listener_reports_mode_off_until_set(elbv2, alb):
    assert described(elbv2, alb.listener_arn)["MutualAuthentication"] == {"Mode": "off"}


def test_verify_mode_is_stored_and_returned(elbv2, alb, store_arn):
    returned = set_mtls(elbv2, alb, alb.listener_arn, verify(store_arn))
    expected = {
        "Mode": "verify",
        "TrustStoreArn": store_arn,
        "IgnoreClientCertificateExpiry": False,
        "TrustStoreAssociationStatus": "active",
        "AdvertiseTrustStoreCaNames": "off",
    }
    assert returned["MutualAuthentication"] == expected
    assert described(elbv2, alb.listener_arn)["MutualAuthentication"] == expected
    # The rest of the listener is still moto's.
    assert described(elbv2, alb.listener_arn)["Certificates"][0]["CertificateArn"] == (
        alb.certificate_arn
    )


def test_verify_options_are_kept(elbv2, alb, store_arn):
    attributes = verify(
        store_arn, IgnoreClientCertificateExpiry=True, AdvertiseTrustStoreCaNames="on"
    )
    set_mtls(elbv2, alb, alb.listener_arn, attributes)
    stored = described(elbv2, alb.listener_arn)["MutualAuthentication"]
    assert stored["IgnoreClientCertificateExpiry"] is True
    assert stored["AdvertiseTrustStoreCaNames"] == "on"


def test_passthrough_then_off(elbv2, alb, store_arn):
    set_mtls(elbv2, alb, alb.listener_arn, {"Mode": "passthrough"})
    assert described(elbv2, alb.listener_arn)["MutualAuthentication"] == {"Mode": "passthrough"}
    set_mtls(elbv2, alb, alb.listener_arn, {"Mode": "off"})
    assert described(elbv2, alb.listener_arn)["MutualAuthentication"] == {"Mode": "off"}


def test_create_listener_with_verify_mode(elbv2, alb, store_arn):
    arn = alb.https_listener(elbv2, 8443, MutualAuthentication=verify(store_arn))
    assert described(elbv2, arn)["MutualAuthentication"]["TrustStoreArn"] == store_arn


def test_modify_without_mutual_authentication_keeps_it(elbv2, alb, store_arn):
    set_mtls(elbv2, alb, alb.listener_arn, verify(store_arn))
    elbv2.modify_listener(ListenerArn=alb.listener_arn, SslPolicy="ELBSecurityPolicy-2016-08")
    assert described(elbv2, alb.listener_arn)["MutualAuthentication"]["Mode"] == "verify"


def test_unknown_mode_is_refused(elbv2, alb):
    with pytest.raises(ClientError) as caught:
        set_mtls(elbv2, alb, alb.listener_arn, {"Mode": "strict"})
    assert error_code(caught) == "InvalidConfigurationRequest"


def test_verify_needs_a_trust_store(elbv2, alb):
    with pytest.raises(ClientError) as caught:
        set_mtls(elbv2, alb, alb.listener_arn, {"Mode": "verify"})
    assert error_code(caught) == "InvalidConfigurationRequest"


def test_verify_with_an_unknown_trust_store_is_not_found(elbv2, alb, store_arn):
    with pytest.raises(elbv2.exceptions.TrustStoreNotFoundException):
        set_mtls(elbv2, alb, alb.listener_arn, verify(store_arn + "0"))


def test_verify_with_a_creating_trust_store_is_not_ready(elbv2, s3, bucket, alb, trust_cas):
    version = put_object(s3, "bundle.pem", bundle_pem(trust_cas))
    creating = elbv2.create_trust_store(
        Name="still-creating",
        CaCertificatesBundleS3Bucket=BUCKET,
        CaCertificatesBundleS3Key="bundle.pem",
        CaCertificatesBundleS3ObjectVersion=version,
    )["TrustStores"][0]["TrustStoreArn"]
    with pytest.raises(elbv2.exceptions.TrustStoreNotReadyException):
        set_mtls(elbv2, alb, alb.listener_arn, verify(creating))
    with pytest.raises(elbv2.exceptions.TrustStoreNotReadyException):
        alb.https_listener(elbv2, 8443, MutualAuthentication=verify(creating))
    # Nothing changed, and no listener was created.
    assert described(elbv2, alb.listener_arn)["MutualAuthentication"] == {"Mode": "off"}
    ports = [
        listener["Port"]
        for listener in elbv2.describe_listeners(LoadBalancerArn=alb.load_balancer_arn)["Listeners"]
    ]
    assert ports == [443]


def test_mutual_authentication_needs_an_https_listener(elbv2, alb, store_arn):
    http = elbv2.create_listener(
        LoadBalancerArn=alb.load_balancer_arn,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}],
    )["Listeners"][0]
    assert "MutualAuthentication" not in described(elbv2, http["ListenerArn"])
    for attributes in ({"Mode": "verify", "TrustStoreArn": store_arn}, {"Mode": "passthrough"}):
        with pytest.raises(ClientError) as caught:
            elbv2.modify_listener(ListenerArn=http["ListenerArn"], MutualAuthentication=attributes)
        assert error_code(caught) == "InvalidConfigurationRequest"


@pytest.mark.parametrize(
    "attributes",
    [
        {"Mode": "passthrough", "TrustStoreArn": "arn"},
        {"Mode": "off", "IgnoreClientCertificateExpiry": True},
        {"Mode": "passthrough", "AdvertiseTrustStoreCaNames": "on"},
    ],
    ids=["trust-store", "ignore-expiry", "advertise"],
)
def test_verify_options_outside_verify_mode_are_refused(elbv2, alb, attributes):
    with pytest.raises(ClientError) as caught:
        set_mtls(elbv2, alb, alb.listener_arn, attributes)
    assert error_code(caught) == "InvalidConfigurationRequest"


def test_at_most_two_verify_listeners_per_load_balancer(elbv2, alb, store_arn):
    set_mtls(elbv2, alb, alb.listener_arn, verify(store_arn))
    second = alb.https_listener(elbv2, 8443, MutualAuthentication=verify(store_arn))
    third = alb.https_listener(elbv2, 9443)
    with pytest.raises(ClientError) as caught:
        set_mtls(elbv2, alb, third, verify(store_arn))
    assert error_code(caught) == "InvalidConfigurationRequest"
    with pytest.raises(ClientError):
        alb.https_listener(elbv2, 10443, MutualAuthentication=verify(store_arn))
    # Passthrough does not count, re-setting one of the two is fine, and another load
    # balancer has its own two.
    set_mtls(elbv2, alb, third, {"Mode": "passthrough"})
    set_mtls(elbv2, alb, second, verify(store_arn, IgnoreClientCertificateExpiry=True))
    other = make_alb(elbv2, name="albca-other")
    set_mtls(elbv2, other, other.listener_arn, verify(store_arn))


def test_advertising_too_many_ca_names_is_refused(elbv2, s3, bucket, alb, trust_fake):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    units = [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"{u}" * 64) for u in range(6)]
    cas = [
        make_ca(subject=x509.Name([*units, x509.NameAttribute(NameOID.COMMON_NAME, f"CA {n}")]))
        for n in range(25)
    ]
    version = put_object(s3, "big.pem", bundle_pem(cas))
    arn = elbv2.create_trust_store(
        Name="many-names",
        CaCertificatesBundleS3Bucket=BUCKET,
        CaCertificatesBundleS3Key="big.pem",
        CaCertificatesBundleS3ObjectVersion=version,
    )["TrustStores"][0]["TrustStoreArn"]
    trust_fake.activate(arn)
    set_mtls(elbv2, alb, alb.listener_arn, verify(arn))  # fine without advertising
    with pytest.raises(ClientError) as caught:
        set_mtls(elbv2, alb, alb.listener_arn, verify(arn, AdvertiseTrustStoreCaNames="on"))
    assert error_code(caught) == "InvalidConfigurationRequest"


def test_associations_list_load_balancers_verifying_with_the_store(elbv2, alb, store_arn):
    def associations():
        response = elbv2.describe_trust_store_associations(TrustStoreArn=store_arn)
        return [a["ResourceArn"] for a in response["TrustStoreAssociations"]]

    assert associations() == []
    set_mtls(elbv2, alb, alb.listener_arn, verify(store_arn))
    alb.https_listener(elbv2, 8443, MutualAuthentication=verify(store_arn))
    assert associations() == [alb.load_balancer_arn]
    set_mtls(elbv2, alb, alb.listener_arn, {"Mode": "off"})
    assert associations() == [alb.load_balancer_arn]  # the 8443 listener still uses it


def test_associations_can_name_the_listeners_instead(elbv2, alb, store_arn, trust_fake):
    # AWS documents "the ARN of the resource": a load balancer's or a listener's.
    from albca.emulated_aws import Undocumented

    trust_fake.undocumented = Undocumented(associations="listener")
    set_mtls(elbv2, alb, alb.listener_arn, verify(store_arn))
    other = alb.https_listener(elbv2, 8443, MutualAuthentication=verify(store_arn))
    response = elbv2.describe_trust_store_associations(TrustStoreArn=store_arn)
    assert [a["ResourceArn"] for a in response["TrustStoreAssociations"]] == sorted(
        [alb.listener_arn, other]
    )


def test_store_in_use_cannot_be_deleted_until_detached(elbv2, alb, store_arn):
    set_mtls(elbv2, alb, alb.listener_arn, verify(store_arn))
    with pytest.raises(elbv2.exceptions.TrustStoreInUseException):
        elbv2.delete_trust_store(TrustStoreArn=store_arn)
    set_mtls(elbv2, alb, alb.listener_arn, {"Mode": "off"})
    elbv2.delete_trust_store(TrustStoreArn=store_arn)


def test_deleting_the_listener_or_load_balancer_releases_the_store(elbv2, alb, store_arn):
    set_mtls(elbv2, alb, alb.listener_arn, verify(store_arn))
    elbv2.delete_listener(ListenerArn=alb.listener_arn)
    other = make_alb(elbv2, name="albca-other")
    set_mtls(elbv2, other, other.listener_arn, verify(store_arn))
    elbv2.delete_load_balancer(LoadBalancerArn=other.load_balancer_arn)
    assert (
        elbv2.describe_trust_store_associations(TrustStoreArn=store_arn)["TrustStoreAssociations"]
        == []
    )
    elbv2.delete_trust_store(TrustStoreArn=store_arn)


def test_unknown_listener_is_still_moto_s_answer(elbv2, alb, store_arn):
    with pytest.raises(elbv2.exceptions.ListenerNotFoundException):
        set_mtls(elbv2, alb, alb.listener_arn + "0", verify(store_arn))


def test_trust_store_of_another_region_is_not_found(elbv2, s3, alb, store_arn, trust_fake):
    import boto3

    from albca.emulated_aws import install_trust_store_fake

    elsewhere = boto3.client("elbv2", region_name="eu-west-1")
    install_trust_store_fake(elsewhere, fake=trust_fake)
    foreign = elsewhere.create_trust_store(
        Name="foreign",
        CaCertificatesBundleS3Bucket=BUCKET,
        CaCertificatesBundleS3Key="bundle.pem",
    )["TrustStores"][0]["TrustStoreArn"]
    trust_fake.activate(foreign)
    with pytest.raises(elbv2.exceptions.TrustStoreNotFoundException):
        set_mtls(elbv2, alb, alb.listener_arn, verify(foreign))
