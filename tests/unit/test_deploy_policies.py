"""The IAM policies ``albca aws deploy`` gives each function and ``albca aws policy``
prints: least privilege, computed from what is configured."""

from __future__ import annotations

import pytest

from albca.infra.deploy.policies import policy_for
from albca.infra.deploy.spec import Account, DeploySpec

ACCOUNT = Account("aws", "111122223333", "eu-west-1")
KEY = "arn:aws:kms:eu-west-1:111122223333:key/0000-key"
# Actions that have no resource type in the Service Authorization Reference.
NO_RESOURCE_TYPE = {
    "elasticloadbalancing:DescribeTrustStores",
    "elasticloadbalancing:DescribeTrustStoreRevocations",
    "elasticloadbalancing:DescribeTrustStoreAssociations",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeRules",
    "sts:GetCallerIdentity",
    "acm:ListCertificates",  # list_awscertificatemanager.html: no resource type
}


def spec(**changes) -> DeploySpec:
    values = {
        "name": "prod",
        "region": "eu-west-1",
        "table": "albca",
        "version": "0.1.0",
        "bucket": "pki",
        "prefix": "ca/",
        "kms_keys": (KEY,),
        "ca_id": "ca-42",
        "notify_emails": ("pki@example.com",),
        **changes,
    }
    return DeploySpec(**values)


def statements(who, **changes):
    return {s["Sid"]: s for s in policy_for(who, spec(**changes), ACCOUNT)["Statement"]}


@pytest.mark.parametrize("who", ["api", "maintenance", "operator"])
@pytest.mark.parametrize("front_door", ["url", "http-api", "alb"])
def test_no_wildcard_action_and_a_wildcard_resource_only_where_aws_has_nothing_narrower(
    who, front_door
):
    listener = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/a/b/c"
    policy = policy_for(
        who,
        spec(front_door=front_door, listener_arn=listener if front_door == "alb" else None),
        ACCOUNT,
    )
    for statement in policy["Statement"]:
        assert all("*" not in action for action in statement["Action"]), statement
        if "*" in statement["Resource"]:
            assert statement["Resource"] == ["*"]
            assert set(statement["Action"]) <= NO_RESOURCE_TYPE, statement


def test_the_api_gets_its_table_indexes_keys_and_prefix_only():
    api = statements("api")
    assert api["CertificateStore"]["Resource"] == [
        "arn:aws:dynamodb:eu-west-1:111122223333:table/albca",
        "arn:aws:dynamodb:eu-west-1:111122223333:table/albca/index/*",
    ]
    assert api["CaKeys"]["Action"] == ["kms:DescribeKey", "kms:GetPublicKey", "kms:Sign"]
    assert api["CaKeys"]["Resource"] == [KEY]
    assert api["PublishedObjects"]["Resource"] == ["arn:aws:s3:::pki/ca/*"]
    assert api["PublishedListing"]["Condition"] == {"StringLike": {"s3:prefix": ["ca/*"]}}
    assert "Notices" not in api  # only maintenance sends notices
    assert not any(a.startswith("dynamodb:Delete") for s in api.values() for a in s["Action"])


def test_trust_store_writes_are_limited_to_the_stores_this_ca_feeds():
    fed = statements("api")["FedTrustStores"]
    assert fed["Condition"] == {"StringEquals": {"aws:ResourceTag/albca:ca": "ca-42"}}
    untagged = statements("api", ca_id=None)["FedTrustStores"]
    assert untagged["Condition"] == {"Null": {"aws:ResourceTag/albca:ca": "false"}}


def test_maintenance_publishes_to_its_topic_only_when_notices_are_asked_for():
    topic = "arn:aws:sns:eu-west-1:111122223333:albca-prod-notices"
    assert statements("maintenance")["Notices"]["Resource"] == [topic]
    assert "Notices" not in statements("maintenance", notify_emails=())


def test_without_a_bucket_nothing_is_granted_on_s3_or_trust_stores():
    api = statements("api", bucket=None)
    assert not [sid for sid in api if sid.startswith(("Published", "FedTrust", "ReadTrust"))]


def test_undeploy_delete_data_is_granted_on_this_cas_table_bucket_and_keys_only():
    operator = statements("operator")
    assert operator["DeleteDataTable"]["Resource"] == [
        "arn:aws:dynamodb:eu-west-1:111122223333:table/albca"
    ]
    assert operator["DeleteDataBucket"]["Resource"] == ["arn:aws:s3:::pki", "arn:aws:s3:::pki/*"]
    assert operator["DeleteDataKeys"]["Resource"] == [KEY]
    assert "DeleteDataBucket" not in statements("operator", bucket=None)


def test_the_operator_may_pass_only_this_deployments_roles():
    passing = statements("operator")["PassRoles"]
    assert passing["Resource"] == ["arn:aws:iam::111122223333:role/albca-prod-*"]
    assert passing["Condition"]["StringEquals"]["iam:PassedToService"] == [
        "lambda.amazonaws.com",
        "scheduler.amazonaws.com",
    ]


@pytest.mark.parametrize("front_door", ["url", "http-api", "alb"])
def test_the_operator_may_read_what_status_and_undeploy_look_for_whatever_the_front_door(
    front_door,
):
    listener = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/a/b/c"
    policy = policy_for(
        "operator",
        spec(front_door=front_door, listener_arn=listener if front_door == "alb" else None),
        ACCOUNT,
    )
    allowed = {action for s in policy["Statement"] for action in s["Action"]}
    assert {
        "lambda:GetFunction",
        "lambda:ListTags",  # without it GetFunction answers no tags
        "scheduler:ListTagsForResource",
        "apigateway:GET",
        "apigateway:DELETE",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DeleteTargetGroup",
    } <= allowed
    assert ("apigateway:POST" in allowed) == (front_door == "http-api")
    assert ("elasticloadbalancing:CreateRule" in allowed) == (front_door == "alb")
