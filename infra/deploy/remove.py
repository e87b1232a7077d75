"""``albca aws undeploy``: removes what ``albca aws deploy`` made, each resource only if it
carries the deployment's ``albca:deployment`` tag; the CA's data (table, bucket, KMS keys)
only when asked (``DataToDelete``). Through ``infra.calls.Aws``, so ``--dry-run`` runs the
same code."""

from __future__ import annotations

from dataclasses import dataclass

from albca.infra.calls import Aws
from albca.infra.clients import region_of_arn
from albca.infra.deploy.doors import remove_alb_target, remove_http_api
from albca.infra.deploy.lookup import account_of, found, tagged
from albca.infra.deploy.spec import DeploySpec

__all__ = ["DataToDelete", "undeploy"]


@dataclass(frozen=True)
class DataToDelete:
    """The CA's data, removed only with ``--delete-data --yes``."""

    table: str | None
    bucket: str | None
    kms_keys: tuple[str, ...]


def undeploy(aws: Aws, spec: DeploySpec, *, data: DataToDelete | None = None) -> None:
    """Removes what ``deploy`` made (each only if it carries this deployment's tag)."""
    group = found(lambda: aws.read("scheduler", "get_schedule_group", Name=spec.schedule_group))
    if group is not None and tagged(
        aws.read("scheduler", "list_tags_for_resource", ResourceArn=group["Arn"])["Tags"], spec
    ):
        if found(
            lambda: aws.read(
                "scheduler", "get_schedule", Name=spec.schedule_name, GroupName=spec.schedule_group
            )
        ):
            aws.change(
                "scheduler",
                "delete_schedule",
                Name=spec.schedule_name,
                GroupName=spec.schedule_group,
            )
        aws.change("scheduler", "delete_schedule_group", Name=spec.schedule_group)
    # The function's permissions and its URL go with the function itself.
    remove_http_api(aws, spec, revoke=False)
    remove_alb_target(aws, spec, revoke=False)
    for role in ("api", "maintenance"):
        name = f"albca-{spec.name}-{role}"
        existing = found(lambda: aws.read("lambda", "get_function", FunctionName=name))  # noqa: B023
        if existing is not None and tagged(existing.get("Tags"), spec):
            # Its function URL and resource-based permissions go with it.
            aws.change("lambda", "delete_function", FunctionName=name)
    for role in ("api", "maintenance", "scheduler"):
        _undeploy_role(aws, spec, f"albca-{spec.name}-{role}")
    account = account_of(aws, spec.region)
    topic_arn = account.arn("sns", spec.topic_name)
    if found(lambda: aws.read("sns", "get_topic_attributes", TopicArn=topic_arn)) is not None:
        tags = aws.read("sns", "list_tags_for_resource", ResourceArn=topic_arn)["Tags"]
        if tagged(tags, spec):
            aws.change("sns", "delete_topic", TopicArn=topic_arn)  # and its subscriptions
    if data is not None:
        _delete_data(aws, data)


def _undeploy_role(aws: Aws, spec: DeploySpec, name: str) -> None:
    existing = found(lambda: aws.read("iam", "get_role", RoleName=name))
    if existing is None or not tagged(existing["Role"].get("Tags"), spec):
        return
    for policy in aws.read("iam", "list_role_policies", RoleName=name)["PolicyNames"]:
        aws.change("iam", "delete_role_policy", RoleName=name, PolicyName=policy)
    aws.change("iam", "delete_role", RoleName=name)


def _delete_data(aws: Aws, data: DataToDelete) -> None:
    if data.table and found(lambda: aws.read("dynamodb", "describe_table", TableName=data.table)):
        # albca aws bootstrap turns deletion protection on; it must be off to delete.
        aws.change(
            "dynamodb",
            "update_table",
            TableName=data.table,
            DeletionProtectionEnabled=False,
            already_done=("ResourceInUseException",),
        )
        aws.change("dynamodb", "delete_table", TableName=data.table)
    bucket = data.bucket
    if bucket and found(lambda: aws.read("s3", "head_bucket", Bucket=bucket)) is not None:
        # A versioned bucket is deleted only once every version and delete marker is gone.
        marker: dict[str, str] = {}
        while True:
            page = aws.read("s3", "list_object_versions", Bucket=data.bucket, **marker)
            objects = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            for start in range(0, len(objects), 1000):  # DeleteObjects takes 1,000 at most
                aws.change(
                    "s3",
                    "delete_objects",
                    Bucket=data.bucket,
                    Delete={"Objects": objects[start : start + 1000], "Quiet": True},
                )
            if not page.get("IsTruncated"):
                break
            marker = {
                "KeyMarker": page["NextKeyMarker"],
                "VersionIdMarker": page["NextVersionIdMarker"],
            }
        aws.change("s3", "delete_bucket", Bucket=data.bucket)
    for key in data.kms_keys:
        # KMS never deletes a key at once: 7 days is the shortest waiting period (KMS
        # developer guide, "Deleting AWS KMS keys"); cancel_key_deletion undoes it.
        # KeyId takes the key id or ARN; the id, in the key's own region (moto 5.2.5
        # takes only the id).
        aws.change(
            "kms",
            "schedule_key_deletion",
            region=region_of_arn(key),
            KeyId=key.rsplit("/", 1)[-1],
            PendingWindowInDays=7,
            already_done=("KMSInvalidStateException",),
        )
