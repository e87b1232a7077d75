"""albca init with KMS keys, through the wiring: keys checked first, undone on failure."""

from __future__ import annotations

import os

import boto3
import pytest

import albca.compose.new_ca as new_ca
from albca.ca.names import RequestedNames
from albca.ca.records import CertificateQuery
from albca.compose.new_ca import InitOptions, initialize_ca
from albca.compose.services import open_services
from albca.settings import Settings
from tests.aws.moto_support import REGION, create_table


@pytest.fixture
def settings(kms_standin, monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("ALBCA_"):
            monkeypatch.delenv(name)
    create_table("albca-init")
    return Settings(home=tmp_path / "home", store="dynamodb://albca-init", aws_region=REGION)


def no_passphrase() -> bytes:
    raise AssertionError("a CA with KMS keys needs no passphrase")


def test_keys_made_by_a_failed_init_are_scheduled_for_deletion(settings, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("the store went away")

    monkeypatch.setattr(new_ca, "create_hierarchy", broken)
    with pytest.raises(RuntimeError, match="went away"):
        initialize_ca(settings, no_passphrase, InitOptions(key_store="kms"), actor="test")
    kms = boto3.client("kms", region_name=REGION)
    keys = [kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"] for k in kms.list_keys()["Keys"]]
    assert len(keys) == 2
    assert {key["KeyState"] for key in keys} == {"PendingDeletion"}


def test_file_keys_with_a_dynamodb_store_keep_keys_and_config_in_the_home(settings):
    local = settings.model_copy(update={"key_store": "file"})
    result = initialize_ca(local, lambda: b"a passphrase long enough", InitOptions(), actor="test")
    assert result.home == settings.home
    assert result.root.key_location.startswith("file:keys/")
    assert (settings.home / "config.toml").exists()
    assert not (settings.home / "albca.db").exists()  # the records are in DynamoDB
    services = open_services(local, lambda: b"a passphrase long enough")
    issued = services.authority.issue_with_new_key(
        profile="client", names=RequestedNames.of(common_name="bob"), requested_by="test"
    )
    assert services.store.get_certificate(issued.serial).common_name == "bob"


def test_a_throttled_kms_signature_is_retried_into_one_certificate(settings, kms_standin):
    kms_settings = settings.model_copy(update={"key_store": "kms"})
    initialize_ca(kms_settings, no_passphrase, InitOptions(key_store="kms"), actor="test")
    services = open_services(kms_settings, no_passphrase)
    services.authority.issuer()  # the issuing CA's key is described once, before signing
    signed_before = len(kms_standin.requests)
    kms_standin.throttle_next(1)
    issued = services.authority.issue_with_new_key(
        profile="client", names=RequestedNames.of(common_name="carol"), requested_by="test"
    )
    assert len(kms_standin.requests) - signed_before == 2  # throttled, then signed
    (issuing,) = services.authority.chain_for(issued.record.issuer_key_id)
    issued.certificate.verify_directly_issued_by(issuing)
    page = services.store.query_certificates(CertificateQuery(), services.authority.now())
    assert [record.serial for record in page.records] == [issued.serial]
    issues = [e for e in services.store.audit_events() if e.action == "issue"]
    assert [e.serial for e in issues] == [issued.serial]
