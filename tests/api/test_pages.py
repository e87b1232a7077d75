"""The pages a person opens: / links the docs, the CA bundle and the CRL; /docs and /redoc
load every script and style from this server (no CDN)."""

from __future__ import annotations

import re

import pytest


def test_the_home_page_links_the_docs_the_bundle_and_the_crl(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    links = set(re.findall(r'href="([^"]+)"', response.text))
    assert {"/docs", "/redoc", "/openapi.json", "/v1/ca/bundle", "/v1/ca/crl"} <= links
    for link in links:
        assert client.get(link).status_code == 200, link


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_their_assets_from_this_server(client, page):
    html = client.get(page).text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets
    for asset in assets:
        assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 1000 or asset.endswith(".png"), asset


def test_the_pages_are_not_operations_of_the_api(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert not {"/", "/docs", "/redoc"} & set(paths)
