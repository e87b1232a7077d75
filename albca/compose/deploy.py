"""``albca aws deploy``, ``status``, ``undeploy`` and ``policy``: settings and the CA's
store become an ``infra.deploy.spec.DeploySpec``, the installed albca becomes a Lambda
package, and each function gets its ALBCA_* environment.

The functions run the same settings as the operator's CLI: the DynamoDB store, the region,
the publish target; the CA keys are the KMS keys the store's authorities record.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from albca.ca.errors import ConfigurationError
from albca.ca.hierarchy import ca_identity
from albca.ca.progress import NO_PROGRESS, Progress
from albca.compose import aws as compose_aws
from albca.infra.calls import Aws
from albca.infra.deploy.apply import Deployed, deploy
from albca.infra.deploy.lookup import account_of
from albca.infra.deploy.package import LambdaPackage, build_package
from albca.infra.deploy.remove import DataToDelete, undeploy
from albca.infra.deploy.spec import DeploySpec, FrontDoor, FunctionRole
from albca.infra.waiting import Wait

if TYPE_CHECKING:
    from albca.ca.stores.protocol import CertificateStore
    from albca.settings import Settings

__all__ = [
    "ALBCA_EXTRAS",
    "deploy_ca",
    "undeploy_ca",
    "albca_version",
    "build_albca_package",
    "deploy_spec",
    "function_environment",
    "last_maintenance",
]

ALBCA_EXTRAS = "aws,api"  # what the functions import: the DynamoDB store, KMS, the API


def albca_version() -> str:
    return metadata.version("albca")


def default_name(table: str) -> str:
    """A deployment name from the table name (1-20 of [a-z0-9-])."""
    name = re.sub(r"[^a-z0-9-]+", "-", table.lower()).strip("-")[:20].strip("-")
    return name or "albca"


def deploy_spec(
    settings: Settings,
    store: CertificateStore | None,
    *,
    region: str,
    name: str | None = None,
    front_door: FrontDoor = "url",
    listener_arn: str | None = None,
    path_pattern: str = "/v1/*",
    schedule: str = "rate(1 hour)",
    notify_emails: Sequence[str] = (),
    architecture: str = "arm64",
    memory_mb: int = 512,
) -> DeploySpec:
    """The spec of this CA's deployment. ``store`` (None: not readable, e.g. for
    ``undeploy`` of a CA whose table is gone) gives the CA keys and the CA's identity."""
    table = settings.dynamodb_table
    if table is None:
        raise ConfigurationError(
            "albca aws deploy runs the CA on Lambda with its records in DynamoDB: set "
            "ALBCA_STORE=dynamodb://TABLE (albca aws bootstrap makes the table)",
            setting="store",
        )
    location = settings.publish_s3_location
    bucket, prefix = location if location is not None else (None, "")
    keys: tuple[str, ...] = ()
    ca_id = None
    if store is not None:
        authorities = store.list_authorities()
        local = [a.key_location for a in authorities if not a.key_location.startswith("arn:")]
        if local:
            raise ConfigurationError(
                f"the CA key {local[0]} is a local file, which a Lambda function cannot "
                "read: initialise the CA with --key-store kms",
                setting="key_store",
            )
        keys = tuple(sorted({a.key_location for a in authorities}))
        ca_id = ca_identity(authorities) if authorities else None
    if architecture not in ("x86_64", "arm64"):
        raise ConfigurationError(
            f"--architecture {architecture!r}: x86_64 or arm64", setting="architecture"
        )
    try:
        return DeploySpec(
            name=name or default_name(table),
            region=region,
            table=table,
            version=albca_version(),
            bucket=bucket,
            prefix=prefix,
            kms_keys=keys,
            ca_id=ca_id,
            front_door=front_door,
            listener_arn=listener_arn,
            path_pattern=path_pattern,
            schedule=schedule,
            notify_emails=tuple(notify_emails),
            architecture=architecture,  # type: ignore[arg-type]
            memory_mb=memory_mb,
        )
    except ValueError as exc:
        raise ConfigurationError(str(exc), setting="deploy") from exc


def function_environment(
    spec: DeploySpec, *, topic_arn: str | None, behind_alb_mtls: bool
) -> dict[FunctionRole, dict[str, str]]:
    """Each function's ALBCA_* settings: the operator's store, region and publish target."""
    common = {"ALBCA_STORE": f"dynamodb://{spec.table}", "ALBCA_AWS_REGION": spec.region}
    if spec.bucket is not None:
        common["ALBCA_PUBLISH_TO"] = "s3://" + "/".join(
            filter(None, [spec.bucket, spec.object_prefix])
        )
    api = dict(common)
    if behind_alb_mtls:
        api["ALBCA_API_BEHIND_ALB_MTLS"] = "true"
    maintenance = dict(common)
    if topic_arn is not None:
        maintenance["ALBCA_NOTIFY_SNS_TOPIC"] = topic_arn
    return {"api": api, "maintenance": maintenance}


def build_albca_package(
    out: Path,
    *,
    architecture: str,
    find_links: Sequence[Path] = (),
    no_index: bool = False,
    wheel: Path | None = None,
    python_version: str = "3.12",
) -> LambdaPackage:
    """The Lambda package of the installed albca: its wheel (built from the source of an
    editable install, or ``wheel``) and its dependencies, for Lambda's platform."""
    with tempfile.TemporaryDirectory(prefix="albca-wheel-") as scratch:
        if wheel is None:
            wheel = _albca_wheel(Path(scratch))
        requirement = f"albca[{ALBCA_EXTRAS}] @ {wheel.resolve().as_uri()}"
        return build_package(
            [requirement],
            out,
            architecture=architecture,
            find_links=find_links,
            no_index=no_index,
            python_version=python_version,
        )


def _albca_wheel(directory: Path) -> Path:
    source = _installed_source()
    result = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(directory),
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ConfigurationError(f"building albca's wheel failed: {last}", setting="package")
    (built,) = directory.glob("albca-*.whl")
    return built


def _installed_source() -> Path:
    """The project folder albca is imported from (a source checkout or an editable
    install: the folder above the albca package holds its pyproject.toml); an albca
    installed from an index has none: pass --wheel."""
    import albca

    project = Path(albca.__file__).resolve().parent.parent
    pyproject = project / "pyproject.toml"
    if not pyproject.is_file() or 'name = "albca"' not in pyproject.read_text():
        raise ConfigurationError(
            "albca is not imported from its source folder, so its wheel cannot be rebuilt: "
            "pass --wheel albca-VERSION-py3-none-any.whl",
            setting="package",
        )
    return project


def last_maintenance(store: CertificateStore) -> str | None:
    """The newest maintenance run in the audit trail, as one line, if any of the last 200
    events is one."""
    for event in store.audit_events(limit=200):
        if event.action.startswith("maint"):
            outcome = event.detail.get("outcome") or event.detail.get("status") or "done"
            failed = event.detail.get("failed")
            extra = f", failed: {failed}" if failed else ""
            return f"{event.at.isoformat()} ({event.action}: {outcome}{extra})"
    return None


def deploy_ca(
    spec: DeploySpec,
    package: LambdaPackage,
    *,
    dry_run: bool,
    wait_seconds: float = 300,
    progress: Progress = NO_PROGRESS,
) -> tuple[Aws, Deployed]:
    """Deploys (or, with ``dry_run``, plans) ``spec``; the ``Aws`` holds the record and
    tells ``progress`` of each change as it is made."""
    aws = Aws(compose_aws.aws_clients(spec.region), dry_run=dry_run, progress=progress)
    account = account_of(aws, spec.region)
    environment = function_environment(
        spec,
        topic_arn=spec.topic_arn(account),
        behind_alb_mtls=spec.listener_arn is not None and _verifies(aws, spec.listener_arn),
    )
    deployed = deploy(
        aws, spec, package, wait=Wait.up_to(wait_seconds, interval=2), environment=environment
    )
    return aws, deployed


def _verifies(aws: Aws, listener_arn: str) -> bool:
    """Whether the listener checks client certificates (mTLS verify mode): only then may
    the API believe its X-Amzn-Mtls-Clientcert-* headers (AWS_NOTES: headers are only
    trustworthy behind verify mode)."""
    (listener,) = aws.read("elbv2", "describe_listeners", ListenerArns=[listener_arn])["Listeners"]
    mode: str | None = listener.get("MutualAuthentication", {}).get("Mode")
    if mode != "verify":
        aws.note(
            f"the listener's mutual TLS mode is {mode or 'off'}, not verify: renewal by client "
            "certificate headers stays off (albca alb enable-mtls, then deploy again)"
        )
    return bool(mode == "verify")


def undeploy_ca(spec: DeploySpec, *, data: DataToDelete | None, dry_run: bool) -> Aws:
    aws = Aws(compose_aws.aws_clients(spec.region), dry_run=dry_run)
    undeploy(aws, spec, data=data)
    return aws
