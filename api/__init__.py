"""The HTTP API: ``create_app(services) -> FastAPI``, routes, schemas and authentication."""

__all__: list[str] = []
