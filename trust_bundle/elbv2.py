"""ALB trust stores through a boto3 ELBv2 client: the one place their AWS errors are mapped.

Which trust stores this CA feeds is read from the trust stores themselves, as tags, so no
local state is needed and every place albca runs (a laptop, a Lambda function, CI) sees
the same answer; a trust store deleted in the console simply stops being fed::

    albca:ca                    the CA's identity (``ca.hierarchy.ca_identity``)
    albca:bundle                s3://BUCKET/KEY of the bundle the store was last given
    albca:bundle-version        that object's S3 VersionId
    albca:crl:<issuer key id>   "<RevocationId>:<CRL number>" of that CA's CRL in the store

The ``albca:crl:`` tags say which revocation entry holds which CA's CRL (ELBv2 itself only
lists ids and entry counts), so a sync can replace each CA's CRL one at a time: add the new
one, retag, and only then remove the old one.

ELBv2 errors (``botocore.exceptions.ClientError``/``BotoCoreError``) become
``TrustStoreError``s in ``_aws`` and nowhere else. botocore is imported lazily: publishing
to ``file://`` needs no AWS libraries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from albca.ca.aws_errors import AwsFailure, aws_errors
from albca.ca.progress import NO_PROGRESS, Progress
from albca.trust_bundle.artefacts import S3Location
from albca.trust_bundle.errors import (
    TrustStoreError,
    TrustStoreInUse,
    TrustStoreNotFound,
    TrustStoreNotReady,
)

__all__ = [
    "TAG_CA",
    "TAG_BUNDLE",
    "TAG_BUNDLE_VERSION",
    "TAG_CRL_PREFIX",
    "CrlTag",
    "crl_tags_of",
    "TrustStore",
    "Revocation",
    "ListenerUse",
    "TrustStoreApi",
    "create_params",
    "modify_params",
    "add_revocation_params",
    "remove_revocations_params",
    "add_tags_params",
    "remove_tags_params",
]

TAG_CA = "albca:ca"
TAG_BUNDLE = "albca:bundle"
TAG_BUNDLE_VERSION = "albca:bundle-version"
TAG_CRL_PREFIX = "albca:crl:"
_PAGE_SIZE = 400  # the largest page DescribeTrustStores and friends return
_TAGS_PER_CALL = 20  # DescribeTags takes "up to 20 resources in a single call"


@dataclass(frozen=True)
class CrlTag:
    revocation_id: int
    number: int

    @classmethod
    def parse(cls, value: str) -> CrlTag | None:
        revocation_id, _, number = value.partition(":")
        if not (revocation_id.isdigit() and number.isdigit()):
            return None  # edited by hand: treat as unknown, the sync replaces it
        return cls(int(revocation_id), int(number))

    def __str__(self) -> str:
        return f"{self.revocation_id}:{self.number}"


@dataclass(frozen=True)
class TrustStore:
    """A trust store as DescribeTrustStores (and DescribeTags, where read) tell it."""

    name: str
    arn: str
    status: str  # CREATING or ACTIVE
    ca_certificates: int = 0
    revoked_entries: int = 0
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_description(
        cls, described: Mapping[str, Any], tags: Mapping[str, str] | None = None
    ) -> TrustStore:
        """From one ``TrustStores`` item of DescribeTrustStores."""
        return cls(
            name=described.get("Name", ""),
            arn=described["TrustStoreArn"],
            status=described.get("Status", ""),
            ca_certificates=int(described.get("NumberOfCaCertificates", 0)),
            revoked_entries=int(described.get("TotalRevokedEntries", 0)),
            tags=dict(tags or {}),
        )

    @property
    def ca_id(self) -> str | None:
        return self.tags.get(TAG_CA)

    @property
    def bundle(self) -> S3Location | None:
        """The bundle object version albca last gave this store (from its tags)."""
        url, version = self.tags.get(TAG_BUNDLE), self.tags.get(TAG_BUNDLE_VERSION)
        if not url or not version or not url.startswith("s3://"):
            return None
        bucket, _, key = url.removeprefix("s3://").partition("/")
        return S3Location(bucket, key, version) if bucket and key else None

    @property
    def crls(self) -> dict[str, CrlTag]:
        """By issuer key id: the revocation entry that holds that CA's CRL (from its tags)."""
        return crl_tags_of(self.tags)


def crl_tags_of(tags: Mapping[str, str]) -> dict[str, CrlTag]:
    """The ``albca:crl:<issuer>`` tags among ``tags``, by issuer key id."""
    found = {}
    for key, value in tags.items():
        if key.startswith(TAG_CRL_PREFIX):
            parsed = CrlTag.parse(value)
            if parsed is not None:
                found[key.removeprefix(TAG_CRL_PREFIX)] = parsed
    return found


@dataclass(frozen=True)
class Revocation:
    revocation_id: int
    entries: int


@dataclass(frozen=True)
class ListenerUse:
    listener_arn: str
    load_balancer_arn: str
    advertises_ca_names: bool


class TrustStoreApi:
    """The ELBv2 trust store calls albca makes, over a boto3 ``elbv2`` client.

    ``sleep`` and ``monotonic`` are injected so tests wait for nothing; ``progress`` is
    told what a wait for ACTIVE is waiting for (a status line on a terminal).
    """

    def __init__(
        self,
        client: Any,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        progress: Progress = NO_PROGRESS,
    ) -> None:
        self._client = client
        self._sleep = sleep
        self._monotonic = monotonic
        self._progress = progress

    # -- reading -----------------------------------------------------------------------
    def all(self) -> list[TrustStore]:
        """Every trust store of the client's region, with its tags."""
        described: list[dict[str, Any]] = []
        arguments: dict[str, Any] = {"PageSize": _PAGE_SIZE}
        with _aws("DescribeTrustStores"):
            while True:
                page = self._client.describe_trust_stores(**arguments)
                described += page.get("TrustStores", [])
                if not page.get("NextMarker"):
                    break
                arguments["Marker"] = page["NextMarker"]
        return self._with_tags(described)

    def get(self, name: str) -> TrustStore:
        with _aws("DescribeTrustStores", name):
            described = self._client.describe_trust_stores(Names=[name])["TrustStores"]
        if not described:
            raise TrustStoreNotFound(f"no trust store named {name}", trust_store=name)
        return self._with_tags(described)[0]

    def by_arn(self, arn: str) -> TrustStore:
        with _aws("DescribeTrustStores", arn):
            described = self._client.describe_trust_stores(TrustStoreArns=[arn])["TrustStores"]
        return self._with_tags(described)[0]

    def crl_tags(self, arn: str) -> dict[str, CrlTag]:
        """The store's ``albca:crl:`` tags as they are now: one DescribeTags call."""
        with _aws("DescribeTags", arn):
            answer = self._client.describe_tags(ResourceArns=[arn])
        tags = {
            tag["Key"]: tag.get("Value", "")
            for description in answer.get("TagDescriptions", [])
            for tag in description.get("Tags", [])
        }
        return crl_tags_of(tags)

    def _with_tags(self, described: Sequence[Mapping[str, Any]]) -> list[TrustStore]:
        tags: dict[str, dict[str, str]] = {}
        arns = [store["TrustStoreArn"] for store in described]
        for start in range(0, len(arns), _TAGS_PER_CALL):
            with _aws("DescribeTags"):
                answer = self._client.describe_tags(
                    ResourceArns=arns[start : start + _TAGS_PER_CALL]
                )
            for description in answer.get("TagDescriptions", []):
                tags[description["ResourceArn"]] = {
                    tag["Key"]: tag.get("Value", "") for tag in description.get("Tags", [])
                }
        return [
            TrustStore.from_description(store, tags.get(store["TrustStoreArn"], {}))
            for store in described
        ]

    def revocations(self, arn: str) -> list[Revocation]:
        found: list[Revocation] = []
        arguments: dict[str, Any] = {"TrustStoreArn": arn, "PageSize": _PAGE_SIZE}
        with _aws("DescribeTrustStoreRevocations", arn):
            while True:
                page = self._client.describe_trust_store_revocations(**arguments)
                found += [
                    Revocation(r["RevocationId"], r.get("NumberOfRevokedEntries", 0))
                    for r in page.get("TrustStoreRevocations", [])
                ]
                if not page.get("NextMarker"):
                    break
                arguments["Marker"] = page["NextMarker"]
        return found

    def listeners_using(self, arn: str) -> list[ListenerUse]:
        """The listeners that verify clients with this trust store.

        DescribeTrustStoreAssociations returns "the Amazon Resource Name (ARN) of the
        resource" (ELBv2 API reference, TrustStoreAssociation) without saying which kind:
        a load balancer's or a listener's (AWS_NOTES.md, "Trust stores"). Both are read:
        a load balancer's listeners are all looked at, a listener is looked at itself."""
        resources: list[str] = []
        arguments: dict[str, Any] = {"TrustStoreArn": arn, "PageSize": _PAGE_SIZE}
        with _aws("DescribeTrustStoreAssociations", arn):
            while True:
                page = self._client.describe_trust_store_associations(**arguments)
                resources += [a["ResourceArn"] for a in page.get("TrustStoreAssociations", [])]
                if not page.get("NextMarker"):
                    break
                arguments["Marker"] = page["NextMarker"]
        listeners: dict[str, Mapping[str, Any]] = {}
        for resource in dict.fromkeys(resources):
            for listener in self._listeners_of(resource, arn):
                listeners.setdefault(listener["ListenerArn"], listener)
        uses = []
        for listener in listeners.values():
            mutual = listener.get("MutualAuthentication") or {}
            if mutual.get("Mode") == "verify" and mutual.get("TrustStoreArn") == arn:
                uses.append(
                    ListenerUse(
                        listener_arn=listener["ListenerArn"],
                        load_balancer_arn=listener["LoadBalancerArn"],
                        advertises_ca_names=mutual.get("AdvertiseTrustStoreCaNames") == "on",
                    )
                )
        return uses

    def _listeners_of(self, resource: str, trust_store: str) -> list[Mapping[str, Any]]:
        """The listeners an association names: the listener itself, or a load balancer's."""
        # arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener/app/NAME/ID/ID, or
        # ...:loadbalancer/app/NAME/ID (ELBv2 resource types, Service Authorization Reference)
        is_listener = resource.split(":", 5)[-1].startswith("listener/")
        with _aws("DescribeListeners", trust_store):
            if is_listener:
                found: list[Mapping[str, Any]] = self._client.describe_listeners(
                    ListenerArns=[resource]
                )["Listeners"]
                return found
            pages = self._client.get_paginator("describe_listeners").paginate(
                LoadBalancerArn=resource
            )
            return [listener for page in pages for listener in page["Listeners"]]

    # -- changing ----------------------------------------------------------------------
    def create(self, name: str, bundle: S3Location, tags: Mapping[str, str]) -> TrustStore:
        with _aws("CreateTrustStore", name):
            created = self._client.create_trust_store(**create_params(name, bundle, tags))[
                "TrustStores"
            ][0]
        return self._with_tags([created])[0]

    def modify(self, arn: str, bundle: S3Location) -> None:
        with _aws("ModifyTrustStore", arn):
            self._client.modify_trust_store(**modify_params(arn, bundle))

    def delete(self, arn: str) -> None:
        with _aws("DeleteTrustStore", arn):
            self._client.delete_trust_store(TrustStoreArn=arn)

    def wait_active(self, arn: str, *, timeout: float, interval: float = 5.0) -> TrustStore:
        """Poll until the store is ACTIVE (ELBv2 has no waiter for trust stores)."""
        deadline = self._monotonic() + timeout
        while True:
            store = self.by_arn(arn)
            if store.status == "ACTIVE":
                return store
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                raise TrustStoreNotReady(
                    f"trust store {store.name} is still {store.status} after {timeout:g} s; "
                    "check it with `albca truststore show` and rerun the command",
                    trust_store=store.name,
                )
            self._progress.update(
                f"trust store {store.name} is {store.status}, not yet ACTIVE; waiting up to "
                f"{timeout:g} s"
            )
            self._sleep(min(interval, remaining))

    def add_revocation(self, arn: str, crl: S3Location) -> Revocation:
        with _aws("AddTrustStoreRevocations", arn, crl.url):
            added = self._client.add_trust_store_revocations(**add_revocation_params(arn, crl))[
                "TrustStoreRevocations"
            ][0]
        return Revocation(added["RevocationId"], added.get("NumberOfRevokedEntries", 0))

    def remove_revocations(self, arn: str, revocation_ids: Sequence[int]) -> None:
        if not revocation_ids:
            return
        with _aws("RemoveTrustStoreRevocations", arn):
            self._client.remove_trust_store_revocations(
                **remove_revocations_params(arn, revocation_ids)
            )

    def tag(self, arn: str, tags: Mapping[str, str]) -> None:
        if not tags:
            return
        with _aws("AddTags", arn):
            self._client.add_tags(**add_tags_params(arn, tags))

    def untag(self, arn: str, keys: Sequence[str]) -> None:
        if not keys:
            return
        with _aws("RemoveTags", arn):
            self._client.remove_tags(**remove_tags_params(arn, keys))


# -- the parameters of each change: shared with the plans a dry run prints ---------------
def create_params(name: str, bundle: S3Location, tags: Mapping[str, str]) -> dict[str, Any]:
    return {
        "Name": name,
        "CaCertificatesBundleS3Bucket": bundle.bucket,
        "CaCertificatesBundleS3Key": bundle.key,
        "CaCertificatesBundleS3ObjectVersion": bundle.version_id,
        "Tags": [{"Key": key, "Value": value} for key, value in tags.items()],
    }


def modify_params(arn: str, bundle: S3Location) -> dict[str, Any]:
    return {
        "TrustStoreArn": arn,
        "CaCertificatesBundleS3Bucket": bundle.bucket,
        "CaCertificatesBundleS3Key": bundle.key,
        "CaCertificatesBundleS3ObjectVersion": bundle.version_id,
    }


def add_revocation_params(arn: str, crl: S3Location) -> dict[str, Any]:
    return {
        "TrustStoreArn": arn,
        "RevocationContents": [
            {
                "S3Bucket": crl.bucket,
                "S3Key": crl.key,
                "S3ObjectVersion": crl.version_id,
                "RevocationType": "CRL",
            }
        ],
    }


def remove_revocations_params(arn: str, revocation_ids: Sequence[int]) -> dict[str, Any]:
    return {"TrustStoreArn": arn, "RevocationIds": list(revocation_ids)}


def add_tags_params(arn: str, tags: Mapping[str, str]) -> dict[str, Any]:
    return {"ResourceArns": [arn], "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}


def remove_tags_params(arn: str, keys: Sequence[str]) -> dict[str, Any]:
    return {"ResourceArns": [arn], "TagKeys": list(keys)}


# What each AWS error means for an operator, by error code.
_EXPLAINED = {
    "DuplicateTrustStoreName": "a trust store with that name already exists in this region",
    "TooManyTrustStores": (
        "this account already has as many trust stores as its quota allows in this region "
        "(20 by default; set ALBCA_TRUST_STORE_QUOTAS after raising it)"
    ),
    "InvalidCaCertificatesBundle": (
        "ELBv2 refused the CA bundle (InvalidCaCertificatesBundle) although it passed "
        "albca's checks of every documented rule"
    ),
    "CaCertificatesBundleNotFound": (
        "the load balancing service cannot read the bundle object: check the bucket, the "
        "version and the bucket policy"
    ),
    "InvalidRevocationContent": (
        "ELBv2 refused the CRL (InvalidRevocationContent): its issuer may be missing from the "
        "trust store's bundle; run `albca truststore update` first"
    ),
    "RevocationContentNotFound": (
        "the load balancing service cannot read the CRL object: check the bucket policy"
    ),
    "TooManyTrustStoreRevocationEntries": (
        "the trust store would hold more revoked entries or CRLs than its quotas allow "
        "(500,000 and 30 by default)"
    ),
    "RevocationIdNotFound": "that revocation entry is no longer in the trust store",
    "TooManyTags": "the trust store would carry more than 50 tags",
}


def _aws(
    operation: str, trust_store: str | None = None, what: str | None = None
) -> AbstractContextManager[None]:
    """ELBv2's failures as ``TrustStoreError``s naming the call and the store (read by
    ``ca.aws_errors``)."""
    where = f" for {trust_store}" if trust_store else ""

    def translate(failure: AwsFailure) -> TrustStoreError:
        if not failure.answered:
            return TrustStoreError(
                f"cannot reach ELBv2 ({operation}{where}): {failure.message}",
                trust_store=trust_store,
            )
        code = failure.code
        explained = _EXPLAINED.get(code, failure.describe())
        text = f"ELBv2 {operation}{where}{f' ({what})' if what else ''}: {explained}"
        if code == "TrustStoreNotFound":
            return TrustStoreNotFound(text, trust_store=trust_store, aws_code=code)
        if code == "TrustStoreInUse":
            return TrustStoreInUse(text, trust_store=trust_store or "", listeners=())
        return TrustStoreError(text, trust_store=trust_store, aws_code=code)

    return aws_errors(translate)
