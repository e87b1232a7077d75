"""The routes, one module per resource; ``api_router`` mounts them under ``/v1``."""

from fastapi import APIRouter

from albca.api.routes import authority, certificates, health, renewal

__all__ = ["api_router"]

api_router = APIRouter(prefix="/v1")
api_router.include_router(health.router)
api_router.include_router(authority.router)
# Renewal first: /certificates/renew must not be read as /certificates/{serial}.
api_router.include_router(renewal.router)
api_router.include_router(certificates.router)
