"""Publishing the CA bundle and CRLs where relying parties read them: ``file://`` or ``s3://``.

A publish writes one object and reports exactly what was written (URL, S3 ``VersionId``,
SHA-256), so that a trust store can be pointed at that exact version: a later overwrite
of the key must never change what a load balancer loaded (AWS_NOTES "Trust stores").

Each write is atomic per object: S3 replaces an object whole or not at all, and a file is
written beside its target and renamed over it. A publish that fails leaves the previous
object, and every earlier version, as it was.

``replace_if`` compares before it replaces, for what must never go back (a CRL replaced by
one with a lower number, issue 12 point 2): under a lock file for ``file://``, and with
S3's conditional writes for ``s3://`` (``PutObject`` with ``If-Match`` on the ETag read,
or ``If-None-Match: *`` where there was no object; a 412 ``PreconditionFailed`` or 409
``ConditionalRequestConflict`` means another writer came first: read again and compare
again; S3 User Guide, "Conditional writes").
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import tempfile
import time
from collections.abc import Callable
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
    from albca.ca.stores.protocol import CertificateStore

__all__ = [
    "PublishFailed",
    "PublishedObject",
    "Replacement",
    "ObjectVersion",
    "Publisher",
    "FilePublisher",
    "S3Publisher",
    "publisher_for",
    "publish_recorded",
    "record_publish",
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


@dataclass(frozen=True)
class Replacement:
    """What ``replace_if`` left published: ``data``, or (``kept``) what was there."""

    published: PublishedObject
    kept: bytes | None  # the bytes left in place, when they were not replaced

    @property
    def written(self) -> bool:
        return self.kept is None


# Conditional writes refused because another writer came first, before giving up.
_CONDITIONAL_ATTEMPTS = 8


class Publisher(Protocol):
    """Somewhere artefacts are published: a directory, or a prefix of an S3 bucket."""

    @property
    def target(self) -> str: ...

    def publish(self, name: str, data: bytes, *, content_type: str) -> PublishedObject: ...

    def replace_if(
        self,
        name: str,
        data: bytes,
        *,
        content_type: str,
        replaces: Callable[[bytes], bool],
    ) -> Replacement:
        """Publish ``data`` unless an object is there for which ``replaces(its bytes)`` is
        false; the comparison and the write are one step that no other writer splits."""
        ...

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

    def replace_if(
        self,
        name: str,
        data: bytes,
        *,
        content_type: str,
        replaces: Callable[[bytes], bool],
    ) -> Replacement:
        path = self.directory / _check_name(name)
        lock = path.with_name(f".{path.name}.lock")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise PublishFailed(
                f"cannot lock {lock}: {exc.strerror or exc}", target=self.target
            ) from exc
        try:
            # Every albca process publishing here takes this lock to compare and rename,
            # so none renames an older file over a newer one it did not see.
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                current: bytes | None = path.read_bytes()
            except FileNotFoundError:
                current = None
            except OSError as exc:
                raise PublishFailed(
                    f"cannot read {path}: {exc.strerror or exc}", target=self.target
                ) from exc
            if current is not None and not replaces(current):
                return Replacement(self._object(path, current), kept=current)
            return Replacement(self.publish(name, data, content_type=content_type), kept=None)
        finally:
            os.close(fd)  # releases the lock

    @staticmethod
    def _object(path: Path, data: bytes) -> PublishedObject:
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
        with _s3_errors(f"s3://{self.bucket}/{key}", self.bucket):
            response = self._client.put_object(**self.put_params(name, data, content_type))
        return self._published(name, data, response)

    def replace_if(
        self,
        name: str,
        data: bytes,
        *,
        content_type: str,
        replaces: Callable[[bytes], bool],
    ) -> Replacement:
        url = f"s3://{self.bucket}/{self.key(name)}"
        for attempt in range(_CONDITIONAL_ATTEMPTS):
            current = self._current_with_etag(name)
            if current is not None and not replaces(current[0]):
                body, version_id, _ = current
                return Replacement(self._object(name, body, version_id), kept=body)
            params = self.conditional_put_params(
                name, data, content_type, etag=current[2] if current is not None else None
            )
            try:
                with _s3_errors(url, self.bucket):
                    response = self._client.put_object(**params)
            except PublishFailed as exc:
                if exc.aws_code in _CAME_FIRST:
                    # Another writer replaced (or removed) the object since it was read.
                    time.sleep(secrets.randbelow(1000) / 1000 * 0.05 * (1 << attempt))
                    continue
                raise
            return Replacement(self._published(name, data, response), kept=None)
        raise PublishFailed(
            f"{url} kept changing while it was being replaced ({_CONDITIONAL_ATTEMPTS} "
            "attempts); publish again",
            target=url,
        )

    def _current_with_etag(self, name: str) -> tuple[bytes, str | None, str] | None:
        key = self.key(name)
        try:
            with _s3_errors(f"s3://{self.bucket}/{key}", self.bucket):
                response = self._client.get_object(Bucket=self.bucket, Key=key)
                body: bytes = response["Body"].read()
        except PublishFailed as exc:
            if exc.aws_code in ("NoSuchKey", "404"):
                return None
            raise
        return body, response.get("VersionId"), response["ETag"]

    def _object(self, name: str, data: bytes, version_id: str | None) -> PublishedObject:
        return PublishedObject(
            url=f"s3://{self.bucket}/{self.key(name)}",
            version_id=version_id,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
        )

    def _published(self, name: str, data: bytes, response: dict[str, Any]) -> PublishedObject:
        key = self.key(name)
        digest = hashlib.sha256(data)
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

    def conditional_put_params(
        self, name: str, body: bytes | str, content_type: str, *, etag: str | None
    ) -> dict[str, Any]:
        """``put_params`` of ``replace_if``: written only if the object is still the one
        read (its ``etag``), or, where there was none (``etag`` None), if there still is
        none."""
        condition = {"IfNoneMatch": "*"} if etag is None else {"IfMatch": etag}
        return {**self.put_params(name, body, content_type), **condition}

    def current_etag(self, name: str) -> str | None:
        """The ETag of the latest version of ``name``, or None if there is none (for a plan
        of ``replace_if``: the condition its write will carry)."""
        key = self.key(name)
        try:
            with _s3_errors(f"s3://{self.bucket}/{key}", self.bucket):
                etag: str = self._client.head_object(Bucket=self.bucket, Key=key)["ETag"]
        except PublishFailed as exc:
            if exc.aws_code in ("NoSuchKey", "404"):
                return None
            raise
        return etag

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


# A conditional write refused because another writer came first (S3 API reference,
# PutObject: 412 for a condition that no longer holds, 409 for a conflicting write under
# way; NoSuchKey: the object read was deleted meanwhile).
_CAME_FIRST = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"})


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
    record_publish(store, name, published, actor=actor, now=now)
    return published


def record_publish(
    store: CertificateStore, name: str, published: PublishedObject, *, actor: str, now: datetime
) -> None:
    """Record in the audit trail what was published (URL, version, digest)."""
    store.append_audit(
        AuditEvent(
            at=now,
            action="publish",
            actor=actor,
            detail={"name": name, **published.audit_detail()},
        )
    )
