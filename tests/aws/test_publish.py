"""Publishing to S3 (moto) and to a directory: exact versions, atomic replacement."""

from __future__ import annotations

import hashlib
import os

import pytest

from albca.trust_bundle.publish import FilePublisher, PublishFailed, S3Publisher, publisher_for

BUNDLE_V1 = b"-----BEGIN CERTIFICATE-----\nv1\n-----END CERTIFICATE-----\n"
BUNDLE_V2 = b"-----BEGIN CERTIFICATE-----\nv2\n-----END CERTIFICATE-----\n"


def test_s3_publish_returns_the_version_that_keeps_its_content(s3, bucket):
    publisher = S3Publisher(s3, bucket, "prod/pki")
    first = publisher.publish("ca-bundle.pem", BUNDLE_V1, content_type="application/x-pem-file")
    second = publisher.publish("ca-bundle.pem", BUNDLE_V2, content_type="application/x-pem-file")
    assert first.url == f"s3://{bucket}/prod/pki/ca-bundle.pem"
    assert first.version_id
    assert second.version_id
    assert first.version_id != second.version_id
    assert first.sha256 == hashlib.sha256(BUNDLE_V1).hexdigest()
    # The overwrite did not change what the first version holds.
    assert publisher.read("ca-bundle.pem", first.version_id) == BUNDLE_V1
    assert publisher.read("ca-bundle.pem") == BUNDLE_V2
    head = s3.head_object(Bucket=bucket, Key="prod/pki/ca-bundle.pem")
    assert head["ContentType"] == "application/x-pem-file"


def test_s3_publish_refuses_an_unbucket(s3):
    s3.create_bucket(Bucket="plain")
    publisher = S3Publisher(s3, "plain")
    with pytest.raises(PublishFailed, match="does not have versioning enabled"):
        publisher.publish("crl.pem", b"x", content_type="application/pkix-crl")


def test_s3_publish_to_a_missing_bucket_names_it(s3):
    publisher = S3Publisher(s3, "no-such-bucket")
    with pytest.raises(PublishFailed, match="bucket no-such-bucket does not exist"):
        publisher.publish("crl.pem", b"x", content_type="application/pkix-crl")


def test_s3_read_of_an_unknown_version_fails_clearly(s3, bucket):
    publisher = S3Publisher(s3, bucket)
    publisher.publish("crl.pem", b"x", content_type="application/pkix-crl")
    with pytest.raises(PublishFailed, match=r"crl\.pem has no such version"):
        publisher.read("crl.pem", "not-a-version")


def test_failed_s3_publish_leaves_the_previous_object(s3, bucket, monkeypatch):
    publisher = S3Publisher(s3, bucket)
    publisher.publish("ca-bundle.pem", BUNDLE_V1, content_type="application/x-pem-file")

    from botocore.exceptions import EndpointConnectionError

    def broken_put(**_kwargs):
        raise EndpointConnectionError(endpoint_url="https://s3.eu-west-1.amazonaws.com")

    monkeypatch.setattr(s3, "put_object", broken_put)
    with pytest.raises(PublishFailed, match="cannot reach S3"):
        publisher.publish("ca-bundle.pem", BUNDLE_V2, content_type="application/x-pem-file")
    monkeypatch.undo()
    assert publisher.read("ca-bundle.pem") == BUNDLE_V1


def test_file_publish_replaces_atomically_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    publisher = FilePublisher(tmp_path / "pki")
    published = publisher.publish("crl/issuing.pem", BUNDLE_V1, content_type="application/x")
    target = tmp_path / "pki" / "crl" / "issuing.pem"
    assert published.url == target.as_uri()
    assert published.version_id is None
    assert target.read_bytes() == BUNDLE_V1

    def disk_full(_source, _destination):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(PublishFailed, match="No space left on device"):
        publisher.publish("crl/issuing.pem", BUNDLE_V2, content_type="application/x")
    assert target.read_bytes() == BUNDLE_V1
    assert sorted(p.name for p in target.parent.iterdir()) == ["issuing.pem"]


@pytest.mark.parametrize("name", ["", "/etc/passwd", "../escape.pem", "a/../../b"])
def test_artefact_names_cannot_escape_the_target(tmp_path, name):
    with pytest.raises(ValueError, match="relative path"):
        FilePublisher(tmp_path).publish(name, b"x", content_type="x")


def test_publisher_for_parses_targets(tmp_path, s3):
    assert isinstance(publisher_for(tmp_path.as_uri()), FilePublisher)
    publisher = publisher_for("s3://bucket/some/prefix/", s3_client=lambda: s3)
    assert isinstance(publisher, S3Publisher)
    assert publisher.key("ca-bundle.pem") == "some/prefix/ca-bundle.pem"
    with pytest.raises(ValueError, match="file:///DIR or s3://BUCKET"):
        publisher_for("https://example.com/pki")
    with pytest.raises(ValueError, match="needs a bucket"):
        publisher_for("s3:///prefix", s3_client=lambda: s3)


def test_publish_recorded_writes_an_audit_event_with_the_version(s3, bucket, tmp_path):
    from albca.ca.stores.sqlite import SqliteStore
    from albca.trust_bundle.publish import publish_recorded
    from tests.factories import T0

    store = SqliteStore(tmp_path / "albca.db")
    published = publish_recorded(
        S3Publisher(s3, bucket),
        store,
        "ca-bundle.pem",
        BUNDLE_V1,
        content_type="application/x-pem-file",
        actor="cli:ops",
        now=T0,
    )
    (event,) = store.audit_events()
    assert (event.action, event.actor) == ("publish", "cli:ops")
    assert event.detail["version_id"] == published.version_id
    assert event.detail["object"] == f"s3://{bucket}/ca-bundle.pem"
    store.close()


# -- CRLs: never an older one over a newer one (issue 12, point 2) ---------------------------
class _WriterInBetween:
    """An S3 client through which another writer puts ``body`` right after our read of
    the object (the window a conditional write closes), once; counts refused writes."""

    def __init__(self, client, bucket: str, key: str, body: bytes) -> None:
        self._client, self._bucket, self._key, self._body = client, bucket, key, body
        self.refused: list[str] = []
        self._done = False

    def __getattr__(self, name):
        return getattr(self._client, name)

    def _other_writer(self) -> None:
        if not self._done:
            self._done = True
            self._client.put_object(Bucket=self._bucket, Key=self._key, Body=self._body)

    def get_object(self, **kwargs):
        try:
            return self._client.get_object(**kwargs)
        finally:
            self._other_writer()

    def put_object(self, **kwargs):
        from botocore.exceptions import ClientError

        try:
            return self._client.put_object(**kwargs)
        except ClientError as exc:
            self.refused.append(exc.response["Error"]["Code"])
            raise


@pytest.fixture
def signed_crls(tmp_path):
    from tests.authorities import build_authority

    authority = build_authority(tmp_path / "ca")
    return authority, [authority.generate_crl(requested_by="t") for _ in range(3)]


def _publish(authority, document, publisher):
    from albca.trust_bundle.artefacts import publish_crl

    return publish_crl(
        document,
        authority.trusted_certificates(),
        publisher=publisher,
        store=authority.store,
        actor="t",
        now=authority.now(),
    )


@pytest.mark.parametrize("target", ["s3", "file"])
def test_an_older_crl_never_replaces_a_newer_one(s3, bucket, tmp_path, signed_crls, target):
    from albca.trust_bundle.artefacts import crl_name, crl_number_of

    authority, (first, _, third) = signed_crls
    publisher = S3Publisher(s3, bucket, "pki") if target == "s3" else FilePublisher(tmp_path / "d")
    newer = _publish(authority, third, publisher)
    older = _publish(authority, first, publisher)
    assert (newer.number, older.number) == (3, 3)  # what stays published is number 3
    assert older.published == newer.published
    assert crl_number_of(publisher.read(crl_name(third.issuer_key_id))) == 3
    publishes = [e for e in authority.store.audit_events() if e.action == "publish"]
    assert len(publishes) == 1  # nothing was written the second time
    if target == "s3":
        assert len(publisher.versions(crl_name(third.issuer_key_id))) == 1


@pytest.mark.parametrize("existing", [False, True])
def test_a_newer_crl_written_between_the_read_and_the_write_is_kept_on_s3(
    s3, bucket, signed_crls, existing
):
    # S3's conditional writes (If-Match / If-None-Match: *), which moto 5.2.5 enforces.
    from albca.trust_bundle.artefacts import crl_name, crl_number_of

    authority, (first, second, third) = signed_crls
    key = f"pki/{crl_name(first.issuer_key_id)}"
    if existing:
        s3.put_object(Bucket=bucket, Key=key, Body=first.pem)
    racing = _WriterInBetween(s3, bucket, key, third.pem)
    published = _publish(authority, second, S3Publisher(racing, bucket, "pki"))
    assert racing.refused == ["PreconditionFailed"]  # the write over what was read: refused
    assert published.number == 3
    assert crl_number_of(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) == 3
