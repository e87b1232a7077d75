"""moto for every test in this folder: no request ever leaves the machine."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch):
    # Fake credentials and region, so that boto3 never finds real ones on a developer's
    # machine and no test can touch a real account.
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def mocked_aws(aws_credentials):
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def s3(mocked_aws):
    import boto3

    return boto3.client("s3", region_name="eu-west-1")


@pytest.fixture
def versioned_bucket(s3):
    s3.create_bucket(
        Bucket="albca-pki", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    s3.put_bucket_versioning(Bucket="albca-pki", VersioningConfiguration={"Status": "Enabled"})
    return "albca-pki"
