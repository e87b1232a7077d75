"""albca on AWS Lambda: the API (behind an ALB or API Gateway, via Mangum) and the
scheduled maintenance, in one handler.

Handler: ``albca.lambda_handler.handler``. What it is given decides what it does:

- a scheduled invocation runs ``albca maintain`` (``albca.compose.maintenance``):
  an EventBridge Scheduler schedule whose Lambda target has the Input
  ``{"albca": "maintain"}`` (Scheduler passes a templated target's Input to the function
  as the event, unchanged: EventBridge Scheduler User Guide, "Templated targets"), or an
  EventBridge rule's ``"detail-type": "Scheduled Event"`` (``"source": "aws.events"``,
  EventBridge User Guide, "Creating a rule that runs on a schedule"). It returns the
  run's report, and raises ``MaintenanceFailed`` when a job failed, so the invocation
  counts as an error in the function's metrics (and Lambda's asynchronous retries run it
  again: a run is idempotent);
- anything else is an HTTP event for the API. The app is built on the first such
  invocation (a cold start), from the same ALBCA_* settings ``albca serve`` reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI
    from mangum import Mangum

__all__ = ["handler", "make_handler", "is_maintenance_event", "MaintenanceFailed"]

MAINTENANCE_INPUT = {"albca": "maintain"}

_handler: Mangum | None = None


class MaintenanceFailed(Exception):
    """A scheduled maintenance run had a failed job (the message lists them)."""


def make_handler(app: FastAPI) -> Mangum:
    from mangum import Mangum

    # No lifespan: the app opens its stores when it is built, not on startup events.
    return Mangum(app, lifespan="off")


def is_maintenance_event(event: Any) -> bool:
    if not isinstance(event, dict):
        return False
    if event.get("albca") == MAINTENANCE_INPUT["albca"]:
        return True
    return event.get("detail-type") == "Scheduled Event" and event.get("source") in (
        "aws.events",
        "aws.scheduler",
    )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if is_maintenance_event(event):
        return maintain()
    global _handler
    if _handler is None:
        from albca.server import app_from_environment

        _handler = make_handler(app_from_environment(on_lambda=True))
    result: dict[str, Any] = _handler(event, context)
    return result


def maintain() -> dict[str, Any]:
    """One maintenance run with the settings in the environment."""
    from albca.compose.maintenance import run_maintenance
    from albca.compose.passphrase import passphrase_source
    from albca.compose.services import open_services
    from albca.settings import Settings

    settings = Settings()
    services = open_services(settings, passphrase_source(settings, interactive=False))
    try:
        report = run_maintenance(services)
    finally:
        services.close()
    if not report.ok:
        raise MaintenanceFailed("; ".join(report.failures))
    return report.to_json()
