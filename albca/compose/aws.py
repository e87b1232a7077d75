"""The one place albca makes its boto3 clients: ``aws_clients`` (a caching factory per
region, ``infra.clients.AwsClients``: standard retries, bounded timeouts, an endpoint for
emulation).

Every entry point comes through here: the CLI's AWS commands (``--region``), the trust
bundle and trust store services (S3, ELBv2), the revocation sync the HTTP API runs, KMS
for CA keys (``albca init``, rotation, every signature), and ``albca aws bootstrap``. The
tests and ``albca demo --aws-emulated`` replace ``aws_clients`` to point all of them at
moto with the faithful fakes installed. (The DynamoDB store is the exception: pynamodb
makes its own connection from the table's region.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_kms.client import KMSClient

    from albca.infra.clients import AwsClients

__all__ = ["aws_clients", "use_profile", "ClientFactory", "client_factory", "kms_client"]

ClientFactory = Callable[[str], Any]
"""Makes the boto3 client of a service (``s3``, ``elbv2``) in a region fixed beforehand:
what ``trust_bundle`` is given (it never sees settings or regions)."""


_profile: list[str | None] = [None]


def use_profile(name: str | None) -> None:
    """Make every later client from the AWS config files' profile ``name`` (``albca
    --aws-profile``; None: the AWS SDK's default)."""
    _profile[0] = name


def aws_clients(region: str | None) -> AwsClients:
    """The client factory of ``region`` (None: the AWS SDK's default region), with the
    profile ``use_profile`` chose."""
    from albca.infra.clients import AwsClients

    return AwsClients(region=region, profile=_profile[0])


def client_factory(region: str | None) -> ClientFactory:
    """``aws_clients(region)``'s clients, made when first asked for."""
    made: list[AwsClients] = []

    def client(service: str) -> Any:
        if not made:
            made.append(aws_clients(region))
        return made[0].client(service)

    return client


def kms_client(region: str | None) -> KMSClient:
    """A KMS client for CA keys in ``region``."""
    client: KMSClient = aws_clients(region).client("kms")
    return client
