"""The OpenAPI document is honest: summaries for people, and every error the server
really answers is documented for its operation (400 with albca's error body, not 422)."""

from __future__ import annotations

import re

import pytest

from albca.api.tokens import Scope
from tests.api.helpers import auth


@pytest.fixture
def document(client):
    return client.get("/openapi.json").json()


def operations(document):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_every_operation_has_a_summary_written_for_people_and_a_short_id(document):
    ids = []
    for path, method, operation in operations(document):
        operation_id = operation["operationId"]
        ids.append(operation_id)
        generated = operation_id.replace("_", " ").title()  # what FastAPI would write
        assert operation["summary"] != generated, (method, path)
        assert re.fullmatch(r"[a-z_]+", operation_id), operation_id
    assert len(ids) == len(set(ids))
    assert "crl_pem" in ids


def test_no_operation_documents_fastapis_422_validation_error(document):
    assert "HTTPValidationError" not in str(document)
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorOut"
                }, (method, path, status)


def documented(document, method: str, url: str) -> dict:
    path = url.split("?")[0]
    for template, methods in document["paths"].items():
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)
        if re.fullmatch(pattern, path) and method in methods:
            if template.endswith("}") and path.endswith(("/renew", "/generate")):
                continue  # /v1/certificates/renew is its own operation, not a serial
            return methods[method]["responses"]
    raise AssertionError(f"{method} {url} is not in the document")


def test_every_refusal_the_server_sends_is_documented(ca, client, document):
    token = auth(ca.token(scopes={Scope.READ, Scope.ISSUE, Scope.REVOKE}))
    requests = [
        ("get", "/v1/certificates?limit=abc", token, None, 400),
        ("get", "/v1/certificates?status=bogus", token, None, 400),
        ("get", "/v1/certificates/not-hex", token, None, 400),
        ("get", "/v1/certificates/abcdef0123", token, None, 404),
        ("get", "/v1/certificates", {}, None, 401),
        ("post", "/v1/certificates/abcdef0123/revoke", token, {"reason": []}, 400),
        ("post", "/v1/certificates", token, {}, 400),
        ("post", "/v1/certificates/generate", token, {"profile": 7}, 400),
        ("post", "/v1/certificates/renew", {}, None, 401),
        ("post", "/v1/certificates/abcdef0123/renew", token, None, 403),
    ]
    for method, url, headers, body, expected in requests:
        response = client.request(method, url, headers=headers, json=body)
        assert response.status_code == expected, (method, url, response.text)
        assert str(expected) in documented(document, method, url), (method, url)
        assert set(response.json()["error"]) == {"code", "message", "field"}
