"""Settings of the serverless backends: what is accepted, what is refused and why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from albca.settings import Settings


@pytest.fixture(autouse=True)
def no_albca_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("ALBCA_"):
            monkeypatch.delenv(name)


def test_dynamodb_store_names_its_table():
    settings = Settings(store="dynamodb://albca-prod")
    assert settings.store_kind == "dynamodb"
    assert settings.dynamodb_table == "albca-prod"


def test_sqlite_remains_the_default_store(tmp_path):
    settings = Settings(home=tmp_path)
    assert settings.store_kind == "sqlite"
    assert settings.dynamodb_table is None
    assert settings.sqlite_path == tmp_path / "albca.db"


def test_the_api_keeps_its_state_with_the_certificates(tmp_path):
    assert Settings(store="dynamodb://albca-prod").api_dynamodb_table == "albca-prod"
    local = Settings(home=tmp_path)
    assert local.api_dynamodb_table is None
    assert local.api_store_path == tmp_path / "albca-api.db"
    pinned = Settings(store="dynamodb://albca-prod", api_store=f"sqlite:///{tmp_path}/api.db")
    assert pinned.api_dynamodb_table is None
    assert pinned.api_store_path == tmp_path / "api.db"


def test_a_dynamodb_api_store_of_its_own_is_refused():
    with pytest.raises(ValidationError, match=r"ALBCA_API_STORE: .* is not sqlite:///PATH"):
        Settings(store="dynamodb://albca-prod", api_store="dynamodb://other")


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ("dynamodb://a", "is not a DynamoDB table name"),
        ("dynamodb://bad name", "is not a DynamoDB table name"),
        ("postgres://db/albca", "use sqlite:///PATH or dynamodb://TABLE"),
    ],
)
def test_unknown_or_malformed_stores_are_refused(store, message):
    with pytest.raises(ValidationError, match=message):
        Settings(store=store)


def test_s3_publish_target_splits_into_bucket_and_prefix():
    settings = Settings(publish_to="s3://my-pki/albca/prod/")
    assert settings.publish_s3_location == ("my-pki", "albca/prod")
    assert Settings(publish_to="s3://my-pki").publish_s3_location == ("my-pki", "")
    assert Settings(publish_to="file:///srv/pki").publish_s3_location is None


@pytest.mark.parametrize("target", ["s3://Not_A_Bucket/x", "https://example.com/pki", "/srv"])
def test_bad_publish_targets_are_refused(target):
    with pytest.raises(ValidationError, match="ALBCA_PUBLISH_TO"):
        Settings(publish_to=target)


@pytest.mark.parametrize(
    "key",
    [
        "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:eu-west-1:111122223333:alias/albca/root",
        "alias/albca/root",
        "1234abcd-12ab-34cd-56ef-1234567890ab",
    ],
)
def test_kms_keys_may_be_named_by_arn_alias_or_id(key):
    assert Settings(root_kms_key=key).root_kms_key == key


def test_a_kms_key_that_is_not_one_is_refused():
    with pytest.raises(ValidationError, match="is not a KMS key"):
        Settings(issuing_kms_key="my-root-key")


def test_negative_retention_is_refused():
    with pytest.raises(ValidationError):
        Settings(record_retention_days=-1)


def test_config_file_path_expands_the_user(monkeypatch):
    monkeypatch.setenv("HOME", "/home/operator")
    assert Settings(config_file=Path("~/albca.toml")).config_file == Path(
        "/home/operator/albca.toml"
    )
