"""Settings in, a ``Maintenance`` out: the one maintenance every caller runs.

``albca maintain`` (cron, systemd), the Lambda handler on a schedule and, later, the
schedule ``albca aws deploy`` makes all call ``run_maintenance``; none of them builds the
jobs itself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from albca.compose import aws as compose_aws
from albca.compose.aws import ClientFactory, client_factory
from albca.compose.services import Services
from albca.compose.trust import publisher_from, trust_services

if TYPE_CHECKING:
    from cryptography import x509

    from albca.trust_bundle.acm_renewals import RenewManaged
    from albca.trust_bundle.maintenance import (
        Maintenance,
        MaintenanceReport,
        ManagedCertificate,
    )
    from albca.trust_bundle.notices import NoticeSink
    from albca.trust_bundle.publish import Publisher
    from albca.trust_bundle.revocation_sync import RevocationSync

__all__ = ["maintenance_for", "run_maintenance", "notice_sinks", "acm_renewer"]

_ACTOR = "maintenance"  # who asked for a renewal's certificate, in the audit trail

# CloudFront takes origin client certificates from ACM in us-east-1 only (AWS_NOTES).
_CLOUDFRONT_ACM_REGION = "us-east-1"


def notice_sinks(services: Services, *, client: ClientFactory | None = None) -> list[NoticeSink]:
    """The configured destinations: ALBCA_NOTIFY_SNS_TOPIC, ALBCA_NOTIFY_WEBHOOK_URL."""
    from albca.trust_bundle.notices import SnsSink, WebhookSink

    settings = services.settings
    sinks: list[NoticeSink] = []
    if settings.notify_sns_topic is not None:
        # The topic's ARN names its region; the client must be made there.
        region = settings.notify_sns_topic.split(":")[3]
        make = client or client_factory(region)
        sinks.append(SnsSink(make("sns"), settings.notify_sns_topic))
    if settings.notify_webhook_url is not None:
        sinks.append(WebhookSink(settings.notify_webhook_url))
    return sinks


def _acm_wanted(services: Services) -> bool:
    settings = services.settings
    if settings.maintain_acm != "auto":
        return settings.maintain_acm == "on"
    on_aws = settings.publish_to is not None and settings.publish_to.startswith("s3://")
    return on_aws or settings.store_kind == "dynamodb"


def maintenance_for(
    services: Services,
    *,
    client: ClientFactory | None = None,
    sinks: list[NoticeSink] | None = None,
) -> Maintenance:
    from albca.trust_bundle.maintenance import Maintenance, MaintenancePolicy

    settings = services.settings
    publisher: Publisher | None = None
    sync: Callable[[], RevocationSync] | None = None
    if settings.publish_to is not None:
        publisher = publisher_from(settings.publish_to, settings.aws_region, client=client)

        def sync() -> RevocationSync:
            manager = trust_services(services, client=client).manager
            return manager.revocation_sync(include_roots=True)

    managed: Callable[[], list[ManagedCertificate]] | None = None
    renew: RenewManaged | None = None
    if _acm_wanted(services):

        def managed() -> list[ManagedCertificate]:
            from albca.infra.acm_inventory import managed_certificates
            from albca.infra.calls import Aws

            aws = Aws(compose_aws.aws_clients(settings.aws_region), dry_run=True)
            return managed_certificates(aws, [settings.aws_region, _CLOUDFRONT_ACM_REGION])

        renew = acm_renewer(services, renew_at=settings.maintain_acm_renew)

    policy = MaintenancePolicy(
        crl_refresh_at=settings.maintain_crl_refresh,
        acm_renew_at=settings.maintain_acm_renew,
        expiry_thresholds=tuple(timedelta(days=d) for d in settings.expiry_notice_days),
        events=settings.notify_event_kinds,
    )
    return Maintenance(
        authority=services.authority,
        publisher=publisher,
        sync=sync,
        sinks=notice_sinks(services, client=client) if sinks is None else sinks,
        policy=policy,
        managed_certificates=managed,
        renew_managed=renew,
    )


def acm_renewer(services: Services, *, renew_at: float) -> RenewManaged:
    """Renews one certificate albca manages in ACM, in place, through the issue-and-import
    path of ``alb server-cert`` and ``cloudfront origin-mtls`` (``infra.acm_renewal``)."""

    def renew(certificate: ManagedCertificate) -> x509.Certificate | None:
        from albca.compose.infra import cloudfront_client_ca, server_certificate_issuer
        from albca.infra.acm_renewal import RenewalCa, renew_in_place
        from albca.infra.calls import Aws
        from albca.infra.clients import region_of_arn
        from albca.trust_bundle.acm_renewals import renewal_due_at

        authority = services.authority
        ca = RenewalCa(
            client=cloudfront_client_ca(authority, key_spec=None, actor=_ACTOR),
            issue_server=server_certificate_issuer(authority, actor=_ACTOR),
        )
        now = authority.now()

        def due(current: x509.Certificate) -> bool:
            start, end = current.not_valid_before_utc, current.not_valid_after_utc
            return now >= renewal_due_at(start, end, renew_at)

        # Looked up at each call: the one factory, which the tests replace with moto's.
        aws = Aws(compose_aws.aws_clients(region_of_arn(certificate.arn)), dry_run=False)
        return renew_in_place(
            aws, certificate.arn, purpose=certificate.purpose, ca=ca, due=due, now=now
        )

    return renew


def run_maintenance(
    services: Services, *, dry_run: bool = False, client: ClientFactory | None = None
) -> MaintenanceReport:
    """One run of every due job (``dry_run``: what is due, nothing changed or sent)."""
    return maintenance_for(services, client=client).run(dry_run=dry_run)
