"""Publishing the CA bundle and CRLs where relying parties read them: ``file://`` or ``s3://``.

A publish writes one object and reports exactly what was written (URL, S3 ``VersionId``,
SHA-256), so that a trust store can be pointed at that exact version: a later overwrite
of the key must never change what a load balancer loaded (AWS_NOTES "Trust stores").

Each write is atomic per object: S3 replaces an object whole or not at all, and a file is
written beside its target and renamed over it. A publish that fails leaves the previous
object, and every earlier version, as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlparse

from albca.ca.aws_errors import AwsFailure, aws_errors
from albca.ca.records import AuditEvent
from albca.trust_bundle.errors import PublishFailed

if TYPE_CHECKING:
    from collections.abc import Callable

    from albca.ca.stores.protocol import CertificateStore

__all__ = [
    "PublishFailed",
    "PublishedObject",
    "ObjectVersion",
    "Publisher",
    "FilePublisher",
    "S3Publisher",
    "publisher_for",
    "publish_recorded",
]


@dataclass(frozen=True)
class PublishedObject:
    url: str  # s3://bucket/key or file:///path
    version_id: str | None  # the S3 VersionId; None for files
    sha256: str
    size: int

    def audit_detail(self) -> dict[str, Any]:
        return {
            "object": self.url,
            "version_id": self.version_id,
            "sha256": self.sha256,
            "bytes": self.size,
        }


class Publisher(Protocol):
    """Somewhere artefacts are published: a directory, or a prefix of an S3 bucket."""

    @property
    def target(self) -> str: ...

    def publish(self, name: str, data: bytes, *, content_type: str) -> PublishedObject: ...

    def read(self, name: str, version_id: str | None = None) -> bytes: ...


def _check_name(name: str) -> str:
    parts = name.split("/")
    if not name or name.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"artefact name {name!r} must be a relative path without '..'")
    return name


class FilePublisher:
    """Publishes into a local directory (``file:///srv/pki``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def target(self) -> str:
        return self.directory.resolve().as_uri()

    def publish(self, name: str, data: bytes, *, content_type: str) -> PublishedObject:
        path = self.directory / _check_name(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write beside the target, then rename: readers see the old file or the new
            # one, never half of one, and a failure leaves the old file in place.
            fd, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(staging, 0o644)  # public artefacts: CA certificates and CRLs
                os.replace(staging, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(staging)
                raise
        except OSError as exc:
            raise PublishFailed(
                f"cannot publish {name} to {self.directory}: {exc.strerror or exc}",
                target=self.target,
            ) from exc
        return PublishedObject(
            url=path.resolve().as_uri(),
            version_id=None,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
        )

    def read(self, name: str, version_id: str | None = None) -> bytes:
        if version_id is not None:
            raise PublishFailed(
                "file:// targets keep no versions; only the current file can be read",
                target=self.target,
            )
        path = self.directory / _check_name(name)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise PublishFailed(
                f"cannot read {path}: {exc.strerror or exc}", target=self.target
            ) from exc


class S3Publisher:
    """Publishes into ``s3://bucket/prefix``; the bucket must have versioning enabled."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    @property
    def target(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def key(self, name: str) -> str:
        name = _check_name(name)
        return f"{self.prefix}/{name}" if self.prefix else name

    def publish(self, name: str, data: bytes, *, content_type: str) -> PublishedObject:
        key = self.key(name)
        digest = hashlib.sha256(data)
        with _s3_errors(f"s3://{self.bucket}/{key}", self.bucket):
            response = self._client.put_object(**self.put_params(name, data, content_type))
        version_id = response.get("VersionId")
        if not version_id or version_id == "null":
            raise PublishFailed(
                f"bucket {self.bucket} does not have versioning enabled, so a trust store "
                "could not be pinned to this exact object; enable versioning (albca aws "
                "bootstrap does) and publish again",
                target=self.target,
            )
        return PublishedObject(
            url=f"s3://{self.bucket}/{key}",
            version_id=version_id,
            sha256=digest.hexdigest(),
            size=len(data),
        )

    def put_params(self, name: str, body: bytes | str, content_type: str) -> dict[str, Any]:
        """The ``put_object`` parameters of a publish (a plan shows ``body`` as text when
        the bytes are not made yet)."""
        return {
            "Bucket": self.bucket,
            "Key": self.key(name),
            "Body": body,
            "ContentType": content_type,
            # S3 checks the body against this digest and refuses a corrupted upload.
            "ChecksumAlgorithm": "SHA256",
        }

    def read(self, name: str, version_id: str | None = None) -> bytes:
        return self._get(name, version_id)[0]

    def current(self, name: str) -> PublishedObject | None:
        """The latest version of ``name`` (content digest and all), or None if there is none."""
        try:
            data, version_id = self._get(name, None)
        except PublishFailed as exc:
            if exc.aws_code in ("NoSuchKey", "404"):
                return None
            raise
        return PublishedObject(
            url=f"s3://{self.bucket}/{self.key(name)}",
            version_id=version_id,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
        )

    def versions(self, name: str) -> list[ObjectVersion]:
        """Every version of ``name`` the bucket keeps, newest first (delete markers left out)."""
        key = self.key(name)
        found: list[ObjectVersion] = []
        arguments: dict[str, str] = {"Bucket": self.bucket, "Prefix": key}
        with _s3_errors(f"s3://{self.bucket}/{key}", self.bucket):
            while True:
                page = self._client.list_object_versions(**arguments)
                found += [
                    ObjectVersion(version["VersionId"], version["LastModified"])
                    for version in page.get("Versions", [])
                    if version["Key"] == key
                ]
                if not page.get("IsTruncated"):
                    break
                arguments["KeyMarker"] = page["NextKeyMarker"]
                arguments["VersionIdMarker"] = page["NextVersionIdMarker"]
        # S3 lists the versions of a key newest first; sorting keeps that true of any page
        # boundary. Equal timestamps keep S3's order (sorted() is stable).
        return sorted(found, key=lambda version: version.last_modified, reverse=True)

    def name_of(self, url: str) -> str:
        """The artefact name of ``s3://bucket/prefix/name`` under this publisher."""
        start = f"s3://{self.bucket}/{self.prefix + '/' if self.prefix else ''}"
        if not url.startswith(start) or len(url) == len(start):
            raise PublishFailed(f"{url} is not under {self.target}", target=self.target)
        return _check_name(url.removeprefix(start))

    def _get(self, name: str, version_id: str | None) -> tuple[bytes, str | None]:
        key = self.key(name)
        arguments: dict[str, str] = {"Bucket": self.bucket, "Key": key}
        if version_id is not None:
            arguments["VersionId"] = version_id
        with _s3_errors(f"s3://{self.bucket}/{key}", self.bucket):
            response = self._client.get_object(**arguments)
            body: bytes = response["Body"].read()
        return body, response.get("VersionId")


@dataclass(frozen=True)
class ObjectVersion:
    version_id: str
    last_modified: datetime


def _s3_errors(url: str, bucket: str) -> AbstractContextManager[None]:
    """S3's failures as ``PublishFailed`` with a message a person can act on (read by
    ``ca.aws_errors``)."""

    def translate(failure: AwsFailure) -> PublishFailed:
        if not failure.answered:
            return PublishFailed(f"cannot reach S3 for {url}: {failure.message}", target=url)
        message = {
            "NoSuchBucket": f"bucket {bucket} does not exist",
            "NoSuchKey": f"{url} does not exist",
            "NoSuchVersion": f"{url} has no such version",
            "AccessDenied": f"access denied to {url}: check the IAM policy of these credentials",
        }.get(failure.code, f"S3 refused {url}: {failure.code or failure.message}")
        return PublishFailed(message, target=url, aws_code=failure.code)

    return aws_errors(translate)


def publisher_for(url: str, *, s3_client: Callable[[], Any] | None = None) -> Publisher:
    """A publisher for ``file:///dir`` or ``s3://bucket/prefix``."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"{url}: file:// URLs must be local (file:///path)")
        return FilePublisher(Path(unquote(parsed.path)))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"{url}: an s3:// URL needs a bucket (s3://bucket/prefix)")
        if s3_client is None:
            raise ValueError("an s3:// target needs an S3 client factory")
        return S3Publisher(s3_client(), parsed.netloc, parsed.path)
    raise ValueError(f"{url}: publish targets are file:///DIR or s3://BUCKET/PREFIX")


def publish_recorded(
    publisher: Publisher,
    store: CertificateStore,
    name: str,
    data: bytes,
    *,
    content_type: str,
    actor: str,
    now: datetime,
) -> PublishedObject:
    """Publish, then record what was published (URL, version, digest) in the audit trail."""
    published = publisher.publish(name, data, content_type=content_type)
    store.append_audit(
        AuditEvent(
            at=now,
            action="publish",
            actor=actor,
            detail={"name": name, **published.audit_detail()},
        )
    )
    return published
