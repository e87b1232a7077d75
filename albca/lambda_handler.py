"""The API on AWS Lambda, behind an ALB or API Gateway (REST or HTTP API), via Mangum.

Handler: ``albca.lambda_handler.handler``. The app is built on the first invocation (a
cold start), from the same ALBCA_* settings ``albca serve`` reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI
    from mangum import Mangum

__all__ = ["handler", "make_handler"]

_handler: Mangum | None = None


def make_handler(app: FastAPI) -> Mangum:
    from mangum import Mangum

    # No lifespan: the app opens its stores when it is built, not on startup events.
    return Mangum(app, lifespan="off")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _handler
    if _handler is None:
        from albca.server import app_from_environment

        _handler = make_handler(app_from_environment(on_lambda=True))
    result: dict[str, Any] = _handler(event, context)
    return result
