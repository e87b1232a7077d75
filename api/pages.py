"""The pages a person opens in a browser: ``/`` (what this is, and links), ``/docs``
(Swagger UI) and ``/redoc`` (ReDoc), with their scripts and styles served by this server.

FastAPI's own /docs loads Swagger UI from a CDN, a blank page on an air-gapped or proxied
network. The assets come from the ``fastapi-offline`` distribution (Swagger UI's
swagger-ui-bundle.js and swagger-ui.css, Apache-2.0; ReDoc's redoc.standalone.js, MIT;
as their projects release them), installed with the ``api`` extra.
"""

from __future__ import annotations

from html import escape
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS_URL", "install_pages"]

ASSETS_URL = "/docs/assets"

_LINKS = (
    ("/docs", "API reference (Swagger UI): try the operations"),
    ("/redoc", "API reference (ReDoc): read it"),
    ("/openapi.json", "The OpenAPI document"),
    ("/v1/ca/bundle", "The CA bundle (PEM): what relying parties trust"),
    ("/v1/ca/crl", "The current CRL (PEM); /v1/ca/crl.der in DER"),
    ("/v1/health", "Health: whether the API has its issuing CA"),
)


def _assets() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


def _home_page(title: str) -> str:
    items = "\n".join(
        f'    <li><a href="{href}">{escape(href)}</a>: {escape(text)}</li>' for href, text in _LINKS
    )
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{escape(title)}</title></head>
<body>
  <h1>{escape(title)}</h1>
  <p>The HTTP API of an albca private certificate authority: request, renew and revoke
  certificates (with an API token from <code>albca token create</code>), and fetch what
  relying parties need.</p>
  <ul>
{items}
  </ul>
</body>
</html>
"""


def install_pages(app: FastAPI) -> None:
    """Routes for ``/``, ``/docs`` and ``/redoc`` (out of the OpenAPI document) and the
    assets they load. The app is created with ``docs_url=None, redoc_url=None``."""
    assert app.openapi_url is not None
    openapi_url = app.openapi_url
    title = app.title
    app.mount(ASSETS_URL, StaticFiles(directory=_assets()), name="docs-assets")
    home = _home_page(title)

    @app.get("/", include_in_schema=False)
    def home_page() -> HTMLResponse:
        return HTMLResponse(home)

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title}: API reference",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            # Operation ids beside each operation: what a client generator names them.
            swagger_ui_parameters={"displayOperationId": True},
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title}: API reference",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,  # a font CDN is as unreachable as a script CDN
        )
