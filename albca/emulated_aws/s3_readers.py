"""Whether the trust store's reader may read the bundle and CRLs in another account's bucket,
in front of a real boto3 ELBv2 client (beside the trust store fake, which it does not touch).

moto runs every call as one identity of one account, so a bucket policy that does not let
the load balancer's side read the objects goes unnoticed. AWS: across accounts, S3 needs
the bucket owner's policy to allow the requester (S3 User Guide, "Bucket owner granting
cross-account bucket permissions"); within the bucket's own account, IAM policies alone can
allow it (not modelled: allowed). Who reads is not settled (AWS_NOTES, "Trust stores"): the
CloudFormation schemas of ``AWS::ElasticLoadBalancingV2::TrustStore`` and
``::TrustStoreRevocation`` list ``s3:GetObject`` and ``s3:GetObjectVersion`` among the
caller's permissions; the seed article grants the load balancer account's
``AWSServiceRoleForElasticLoadBalancing``. ``reader`` chooses: ``caller``,
``service-role``, or ``both`` (each must be allowed).

The rule, on CreateTrustStore/ModifyTrustStore (the bundle) and AddTrustStoreRevocations
(each CRL): each reader must be allowed ``s3:GetObject`` and ``s3:GetObjectVersion`` (a
trust store loads a pinned version) on the object by an Allow statement of the bucket
policy, and denied by none. A statement applies when its ``Principal`` is ``*`` or names
the reader's ARN or its account (``arn:aws:iam::ACCOUNT:root`` or ``ACCOUNT``), its
``Action`` and ``Resource`` match with IAM's ``*``/``?`` wildcards, and its ``Condition``
holds; the conditions understood are ``ArnEquals``/``ArnLike``/``StringEquals`` on
``aws:PrincipalArn`` and ``Bool`` on ``aws:SecureTransport`` (ELB reads over TLS: true);
any other condition is taken as not met (IAM User Guide, "Policy evaluation logic"; "IAM
JSON policy elements"). A refused read answers ``CaCertificatesBundleNotFound`` or
``RevocationContentNotFound``: S3 answers 403 to a reader that may not read, which the
caller cannot tell from a missing object, and these are the errors botocore's model gives.
"""

from __future__ import annotations

import copy
import fnmatch
import json
from collections.abc import Iterable
from typing import Any, Literal

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from albca.emulated_aws.responses import error_response

__all__ = ["CrossAccountReads", "install_cross_account_reads", "elb_service_role"]

_SERVICE = "elastic-load-balancing-v2"
_PARAMS = "albca_s3_readers_params"
Reader = Literal["caller", "service-role", "both"]
Answer = tuple[AWSResponse, dict[str, Any]] | None
_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")


def elb_service_role(account: str) -> str:
    return (
        f"arn:aws:iam::{account}:role/aws-service-role/elasticloadbalancing.amazonaws.com/"
        "AWSServiceRoleForElasticLoadBalancing"
    )


class CrossAccountReads:
    """The bucket is in ``bucket_account``; ``caller_arn`` calls ELBv2 from its own."""

    def __init__(
        self, s3_client: Any, *, bucket_account: str, caller_arn: str, reader: Reader = "both"
    ) -> None:
        if reader not in ("caller", "service-role", "both"):
            raise ValueError(f"reader must be caller, service-role or both, not {reader!r}")
        self._s3 = s3_client
        self.bucket_account = bucket_account
        self.caller_arn = caller_arn
        self.reader = reader

    @property
    def readers(self) -> list[str]:
        account = self.caller_arn.split(":")[4]
        found = []
        if self.reader in ("caller", "both"):
            found.append(self.caller_arn)
        if self.reader in ("service-role", "both"):
            found.append(elb_service_role(account))
        return found

    def refusal(self, bucket: str, key: str) -> str | None:
        """Why a reader may not read ``s3://bucket/key``, or None."""
        if self.caller_arn.split(":")[4] == self.bucket_account:
            return None  # same account: IAM policies decide (not modelled)
        try:
            policy = json.loads(self._s3.get_bucket_policy(Bucket=bucket)["Policy"])
        except ClientError:
            policy = {"Statement": []}
        statements = policy.get("Statement", [])
        if isinstance(statements, dict):
            statements = [statements]
        resource = f"arn:aws:s3:::{bucket}/{key}"
        for reader in self.readers:
            for action in _ACTIONS:
                if not _allowed(statements, reader, action, resource):
                    return f"{reader} may not {action} on {resource}"
        return None


def install_cross_account_reads(elbv2_client: Any, reads: CrossAccountReads) -> None:
    """Check the reads of the bundle and CRLs before the trust store fake answers (its
    hooks are registered first, so these go in front of them)."""
    events = elbv2_client.meta.events
    events.register_first(f"before-parameter-build.{_SERVICE}", _remember_params)
    for operation in ("CreateTrustStore", "ModifyTrustStore"):
        events.register_first(f"before-call.{_SERVICE}.{operation}", _BundleRead(reads))
    events.register_first(
        f"before-call.{_SERVICE}.AddTrustStoreRevocations", _RevocationRead(reads)
    )


def _remember_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context[_PARAMS] = copy.deepcopy(params)


class _BundleRead:
    def __init__(self, reads: CrossAccountReads) -> None:
        self._reads = reads

    def __call__(self, context: dict[str, Any], **_: Any) -> Answer:
        params = context.get(_PARAMS, {})
        bucket = params.get("CaCertificatesBundleS3Bucket")
        key = params.get("CaCertificatesBundleS3Key")
        if not bucket or not key:
            return None
        refusal = self._reads.refusal(bucket, key)
        if refusal is None:
            return None
        return error_response("CaCertificatesBundleNotFound", f"Access denied: {refusal}")


class _RevocationRead:
    def __init__(self, reads: CrossAccountReads) -> None:
        self._reads = reads

    def __call__(self, context: dict[str, Any], **_: Any) -> Answer:
        for content in context.get(_PARAMS, {}).get("RevocationContents", []):
            if content.get("S3Bucket") and content.get("S3Key"):
                refusal = self._reads.refusal(content["S3Bucket"], content["S3Key"])
                if refusal is not None:
                    return error_response("RevocationContentNotFound", f"Access denied: {refusal}")
        return None


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _matches(patterns: Iterable[str], value: str) -> bool:
    # IAM's wildcards: * any run of characters, ? one character; case-sensitive.
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


def _principal_matches(principal: Any, reader: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    account = reader.split(":")[4]
    named = _listed(principal.get("AWS"))
    return (
        "*" in named
        or reader in named
        or any(n in (account, f"arn:aws:iam::{account}:root") for n in named)
    )


def _condition_holds(condition: Any, reader: str) -> bool:
    for operator, tests in (condition or {}).items():
        for key, values in tests.items():
            wanted = _listed(values)
            if key == "aws:PrincipalArn" and operator in ("ArnEquals", "StringEquals"):
                if reader not in wanted:
                    return False
            elif key == "aws:PrincipalArn" and operator == "ArnLike":
                if not _matches(wanted, reader):
                    return False
            elif key == "aws:SecureTransport" and operator == "Bool":
                if "true" not in [w.lower() for w in wanted]:
                    return False
            else:
                return False  # not understood: not met
    return True


def _applies(statement: dict[str, Any], reader: str, action: str, resource: str) -> bool:
    return (
        _principal_matches(statement.get("Principal"), reader)
        and _matches(_listed(statement.get("Action")), action)
        and _matches(_listed(statement.get("Resource")), resource)
        and _condition_holds(statement.get("Condition"), reader)
    )


def _allowed(statements: list[dict[str, Any]], reader: str, action: str, resource: str) -> bool:
    applying = [s for s in statements if _applies(s, reader, action, resource)]
    if any(s.get("Effect") == "Deny" for s in applying):
        return False
    return any(s.get("Effect") == "Allow" for s in applying)
