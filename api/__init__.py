"""The HTTP API: ``create_app(services) -> FastAPI``, routes, schemas and authentication.

FastAPI is imported only by ``api.app`` and the modules under it; importing ``api`` alone
costs nothing (PEP 562), so the CLI can use ``api.tokens`` without loading a web stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from albca.api.app import create_app
    from albca.api.services import AlbMtlsHeaders, ApiServices, ApiSettings

_HOMES = {
    "create_app": "albca.api.app",
    "ApiServices": "albca.api.services",
    "ApiSettings": "albca.api.services",
    "AlbMtlsHeaders": "albca.api.services",
}

__all__ = ["create_app", "ApiServices", "ApiSettings", "AlbMtlsHeaders"]


def __getattr__(name: str) -> Any:
    module = _HOMES.get(name)
    if module is None:
        raise AttributeError(f"module 'api' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
