"""The same app on Lambda: Mangum turns ALB and API Gateway events into requests."""

from __future__ import annotations

import base64
import json

from albca.api.app import create_app
from albca.lambda_handler import make_handler
from tests.api.helpers import LambdaContext as Context
from tests.api.helpers import alb_event, csr_pem, http_api_event


def test_alb_event_reaches_health_and_issue(ca):
    handler = make_handler(create_app(ca.api))
    health = handler(alb_event("GET", "/v1/health"), Context())
    assert health["statusCode"] == 200
    assert json.loads(health["body"])["status"] == "ok"
    token = ca.token("lambda")
    issued = handler(
        alb_event(
            "POST",
            "/v1/certificates",
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
            body=json.dumps({"profile": "server", "csr": csr_pem()}),
        ),
        Context(),
    )
    assert issued["statusCode"] == 201, issued["body"]
    assert json.loads(issued["body"])["certificate"]["requested_by"] == "api:lambda"


def test_api_gateway_http_event_gets_the_der_crl(ca):
    handler = make_handler(create_app(ca.api))
    response = handler(http_api_event("GET", "/v1/ca/crl.der"), Context())
    assert response["statusCode"] == 200
    assert response["isBase64Encoded"] is True
    der = base64.b64decode(response["body"])
    assert der[0] == 0x30  # a DER SEQUENCE: the CRL survived the binary round trip
