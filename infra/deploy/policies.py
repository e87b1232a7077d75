"""Least-privilege IAM policies, computed from what albca calls and what is configured.

Each statement names the resources albca uses: the table and its indexes, the CA's KMS
keys, the bucket prefix the bundle and CRLs go to, the trust stores this CA feeds (by
their ``albca:ca`` tag), the notices topic, the function's own log group. No statement
has ``"Action": "*"``. ``"Resource": "*"`` appears only where the Service Authorization
Reference lists no resource type for an action, so nothing narrower exists:

- ELBv2 ``DescribeTrustStores``, ``DescribeTrustStoreRevocations``,
  ``DescribeTrustStoreAssociations``, ``DescribeTags``, ``DescribeListeners``
  (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awselasticloadbalancingv2.html:
  the Describe* actions have no resource type);
- ``acm:ListCertificates`` (maintenance, to find albca's certificates by their tag:
  list_awscertificatemanager.html gives it no resource type);
- ``sts:GetCallerIdentity`` (operator only; list_awssecuritytokenservice.html: no resource
  type, and it needs no permission at all);
- ``apigateway`` GET/POST on ``/apis`` is a resource (``arn:aws:apigateway:REGION::/apis``),
  so even that is named.

Trust store writes are conditioned on ``aws:ResourceTag/albca:ca`` (ModifyTrustStore,
AddTrustStoreRevocations and RemoveTrustStoreRevocations support it: same page).
"""

from __future__ import annotations

from typing import Any

from albca.infra.deploy.spec import Account, DeploySpec, FunctionRole

__all__ = [
    "api_policy",
    "maintenance_policy",
    "operator_policy",
    "policy_for",
    "lambda_trust_policy",
    "scheduler_trust_policy",
    "scheduler_policy",
]

Policy = dict[str, Any]
_TRUST_STORE_TAG = "albca:ca"  # trust_bundle.elbv2.TAG_CA
_CLOUDFRONT_ACM_REGION = "us-east-1"  # CloudFront takes ACM certificates from here only


def _policy(*statements: dict[str, Any] | None) -> Policy:
    return {"Version": "2012-10-17", "Statement": [s for s in statements if s is not None]}


def _allow(
    sid: str, actions: list[str], resources: list[str], condition: dict[str, Any] | None = None
) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": resources,
    }
    if condition:
        statement["Condition"] = condition
    return statement


def _table(spec: DeploySpec, account: Account) -> list[str]:
    table = account.arn("dynamodb", f"table/{spec.table}")
    return [table, f"{table}/index/*"]


def _store_statements(spec: DeploySpec, account: Account) -> list[dict[str, Any] | None]:
    """The certificate store, the CA keys, publishing and trust store syncs: what both the
    API (issue, revoke, sync after a revocation) and the maintenance run need."""
    objects = f"{spec.object_prefix}/*" if spec.object_prefix else "*"
    store_condition = (
        {"StringEquals": {f"aws:ResourceTag/{_TRUST_STORE_TAG}": spec.ca_id}}
        if spec.ca_id
        else {"Null": {f"aws:ResourceTag/{_TRUST_STORE_TAG}": "false"}}
    )
    return [
        # A transaction needs the permissions of the writes it holds (DynamoDB developer
        # guide, "IAM with transactions").
        _allow(
            "CertificateStore",
            [
                "dynamodb:DescribeTable",
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:Query",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:ConditionCheckItem",
            ],
            _table(spec, account),
        ),
        _allow("CaKeys", ["kms:Sign", "kms:GetPublicKey", "kms:DescribeKey"], list(spec.kms_keys))
        if spec.kms_keys
        else None,
        _allow(
            "PublishedObjects",
            ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
            [f"arn:{account.partition}:s3:::{spec.bucket}/{objects}"],
        )
        if spec.bucket
        else None,
        _allow(
            "PublishedListing",
            ["s3:ListBucket", "s3:ListBucketVersions"],
            [f"arn:{account.partition}:s3:::{spec.bucket}"],
            {"StringLike": {"s3:prefix": [objects]}},
        )
        if spec.bucket
        else None,
        _allow(
            "FedTrustStores",
            [
                "elasticloadbalancing:ModifyTrustStore",
                "elasticloadbalancing:AddTrustStoreRevocations",
                "elasticloadbalancing:RemoveTrustStoreRevocations",
            ],
            [account.arn("elasticloadbalancing", "truststore/*")],
            store_condition,
        )
        if spec.bucket
        else None,
        _allow(
            "ReadTrustStores",
            [
                "elasticloadbalancing:DescribeTrustStores",
                "elasticloadbalancing:DescribeTrustStoreRevocations",
                "elasticloadbalancing:DescribeTrustStoreAssociations",
                "elasticloadbalancing:DescribeTags",
            ],
            ["*"],
        )
        if spec.bucket
        else None,
    ]


def _in_region(arn: str, region: str) -> str:
    parts = arn.split(":")
    parts[3] = region
    return ":".join(parts)


def _logs(spec: DeploySpec, account: Account, role: FunctionRole) -> dict[str, Any]:
    # What AWSLambdaBasicExecutionRole grants, narrowed to the function's own log group.
    group = account.arn("logs", f"log-group:/aws/lambda/{spec.function_name(role)}")
    return _allow(
        "OwnLogs",
        ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        [group, f"{group}:*"],
    )


def api_policy(spec: DeploySpec, account: Account) -> Policy:
    return _policy(*_store_statements(spec, account), _logs(spec, account, "api"))


def maintenance_policy(spec: DeploySpec, account: Account) -> Policy:
    topic = spec.topic_arn(account)
    # The listener certificates in the deployment's region, CloudFront's in us-east-1.
    certificates = sorted(
        {
            account.arn("acm", "certificate/*"),
            _in_region(account.arn("acm", "certificate/*"), _CLOUDFRONT_ACM_REGION),
        }
    )
    return _policy(
        *_store_statements(spec, account),
        # Re-imports the ACM certificates albca manages (listener and origin certificates,
        # trust_bundle.acm_renewals). ImportCertificate has no resource-tag condition key
        # for a re-import (Service Authorization Reference, list_awscertificatemanager.html),
        # so: this account's.
        _allow(
            "ManagedCertificates",
            [
                "acm:DescribeCertificate",
                "acm:GetCertificate",
                "acm:ImportCertificate",
                "acm:ListTagsForCertificate",
            ],
            certificates,
        ),
        # ListCertificates has no resource type (same page): nothing narrower exists.
        _allow("FindManagedCertificates", ["acm:ListCertificates"], ["*"]),
        _allow("Notices", ["sns:Publish"], [topic]) if topic else None,
        _logs(spec, account, "maintenance"),
    )


def operator_policy(spec: DeploySpec, account: Account) -> Policy:
    """What the person running ``albca aws deploy``, ``status`` and ``undeploy`` (with
    ``--delete-data`` too) needs for the deployment's own resources (not the CA's table
    and keys as ``albca init`` and the other commands use them)."""
    prefix = f"albca-{spec.name}-"
    roles = account.arn("iam", f"role/{prefix}*", regional=False)
    functions = account.arn("lambda", f"function:{prefix}*")
    apis = account.arn("apigateway", "/apis", owned=False)
    return _policy(
        _allow("WhoAmI", ["sts:GetCallerIdentity"], ["*"]),
        _allow(
            "Roles",
            [
                "iam:CreateRole",
                "iam:GetRole",
                "iam:DeleteRole",
                "iam:TagRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:GetRolePolicy",
                "iam:PutRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:ListRolePolicies",
            ],
            [roles],
        ),
        # Lambda and EventBridge Scheduler take the roles; only those of this deployment.
        _allow(
            "PassRoles",
            ["iam:PassRole"],
            [roles],
            {
                "StringEquals": {
                    "iam:PassedToService": ["lambda.amazonaws.com", "scheduler.amazonaws.com"]
                }
            },
        ),
        _allow(
            "Functions",
            [
                "lambda:CreateFunction",
                "lambda:GetFunction",
                # GetFunction returns a function's tags (how albca recognises its own)
                # only to a caller allowed lambda:ListTags (Lambda API reference).
                "lambda:ListTags",
                "lambda:GetFunctionConfiguration",
                "lambda:UpdateFunctionCode",
                "lambda:UpdateFunctionConfiguration",
                "lambda:DeleteFunction",
                "lambda:TagResource",
                "lambda:GetPolicy",
                "lambda:AddPermission",
                "lambda:GetFunctionUrlConfig",
                "lambda:CreateFunctionUrlConfig",
                # A switch of --front-door takes the old door down (infra.deploy.doors).
                "lambda:DeleteFunctionUrlConfig",
                "lambda:RemovePermission",
            ],
            [functions],
        ),
        _allow(
            "Schedule",
            [
                "scheduler:GetScheduleGroup",
                "scheduler:CreateScheduleGroup",
                "scheduler:DeleteScheduleGroup",
                "scheduler:TagResource",
                "scheduler:ListTagsForResource",
                "scheduler:GetSchedule",
                "scheduler:CreateSchedule",
                "scheduler:UpdateSchedule",
                "scheduler:DeleteSchedule",
            ],
            [
                account.arn("scheduler", f"schedule-group/albca-{spec.name}"),
                account.arn("scheduler", f"schedule/albca-{spec.name}/*"),
            ],
        ),
        _allow(
            "Notices",
            [
                "sns:CreateTopic",
                "sns:GetTopicAttributes",
                "sns:DeleteTopic",
                "sns:TagResource",
                "sns:ListTagsForResource",
                "sns:Subscribe",
                "sns:ListSubscriptionsByTopic",
            ],
            [account.arn("sns", spec.topic_name)],
        ),
        # status and undeploy look for every kind of front door, whichever was asked for.
        _allow(
            "HttpApi",
            ["apigateway:GET", "apigateway:DELETE"]
            + (["apigateway:POST"] if spec.front_door == "http-api" else []),
            [apis, f"{apis}/*", account.arn("apigateway", "/tags/*", owned=False)],
        ),
        _allow(
            "AlbTarget",
            [
                "elasticloadbalancing:DeleteTargetGroup",
                "elasticloadbalancing:DeleteRule",
            ]
            + (
                [
                    "elasticloadbalancing:CreateTargetGroup",
                    "elasticloadbalancing:RegisterTargets",
                    "elasticloadbalancing:CreateRule",
                    "elasticloadbalancing:AddTags",
                ]
                if spec.front_door == "alb"
                else []
            ),
            [
                account.arn("elasticloadbalancing", f"targetgroup/{spec.target_group_name}/*"),
                account.arn("elasticloadbalancing", "listener-rule/app/*"),
                account.arn("elasticloadbalancing", "listener/app/*"),
            ],
        ),
        _allow(
            "ReadLoadBalancers",
            [
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetHealth",
                "elasticloadbalancing:DescribeListeners",
                "elasticloadbalancing:DescribeRules",
                "elasticloadbalancing:DescribeTags",
            ],
            ["*"],
        ),
        *_delete_data_statements(spec, account),
        # A package over 50 MB goes to Lambda through the bucket (infra.deploy.apply._code).
        _allow(
            "PackageUpload",
            ["s3:GetObject", "s3:PutObject"],
            [
                f"arn:{account.partition}:s3:::{spec.bucket}/"
                + "/".join(filter(None, [spec.object_prefix, "lambda", "*"]))
            ],
        )
        if spec.bucket
        else None,
    )


def _delete_data_statements(spec: DeploySpec, account: Account) -> list[dict[str, Any] | None]:
    """What ``albca aws undeploy --delete-data --yes`` calls (``infra.deploy.remove``), on
    this CA's table, bucket and keys only. A team that wants the data out of the
    operator's reach drops the three ``DeleteData*`` statements: undeploy without
    --delete-data needs none of them."""
    bucket = f"arn:{account.partition}:s3:::{spec.bucket}"
    return [
        # Deletion protection, which albca aws bootstrap turns on, must go first.
        _allow(
            "DeleteDataTable",
            ["dynamodb:DescribeTable", "dynamodb:UpdateTable", "dynamodb:DeleteTable"],
            [account.arn("dynamodb", f"table/{spec.table}")],
        ),
        # HeadBucket is allowed by s3:ListBucket; ListObjectVersions is
        # s3:ListBucketVersions; DeleteObjects of versions needs s3:DeleteObject and
        # s3:DeleteObjectVersion (Service Authorization Reference, list_amazons3.html).
        _allow(
            "DeleteDataBucket",
            [
                "s3:ListBucket",
                "s3:ListBucketVersions",
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
                "s3:DeleteBucket",
            ],
            [bucket, f"{bucket}/*"],
        )
        if spec.bucket
        else None,
        _allow("DeleteDataKeys", ["kms:ScheduleKeyDeletion"], list(spec.kms_keys))
        if spec.kms_keys
        else None,
    ]


def policy_for(who: str, spec: DeploySpec, account: Account) -> Policy:
    if who == "api":
        return api_policy(spec, account)
    if who == "maintenance":
        return maintenance_policy(spec, account)
    if who == "operator":
        return operator_policy(spec, account)
    raise ValueError(f"--for {who!r}: api, maintenance or operator")


def lambda_trust_policy() -> Policy:
    return _policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    )


def scheduler_trust_policy(account: Account) -> Policy:
    # EventBridge Scheduler user guide, "Set up the execution role": the confused-deputy
    # condition on the account that owns the schedule.
    return _policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": "scheduler.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account.account_id}},
        }
    )


def scheduler_policy(function_arn: str) -> Policy:
    return _policy(_allow("InvokeMaintenance", ["lambda:InvokeFunction"], [function_arn]))
