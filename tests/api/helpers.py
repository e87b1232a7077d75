"""Building blocks for API tests: a CA with its API, tokens, CSRs and renewal tokens."""

from __future__ import annotations

import base64
import secrets
import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import SecretStr

from albca.api.tokens import Scope, new_token
from albca.ca.clock import FixedClock, system_clock
from albca.compose.api import ApiStack, open_api
from albca.compose.new_ca import InitOptions, initialize_ca
from albca.compose.passphrase import passphrase_source
from albca.settings import Settings
from tests.factories import ec_key, make_csr

__all__ = [
    "ApiCA",
    "open_api_ca",
    "renewal_token",
    "csr_pem",
    "auth",
    "AUDIENCE",
    "ALL_SCOPES",
    "LambdaContext",
    "alb_event",
    "http_api_event",
]

AUDIENCE = "https://ca.test/v1/certificates/renew"
ALL_SCOPES = frozenset(Scope)


@dataclass
class ApiCA:
    """A CA home, its API stack, and a clock tests can move."""

    settings: Settings
    stack: ApiStack
    clock: FixedClock

    @property
    def api(self):
        return self.stack.api

    @property
    def authority(self):
        return self.stack.services.authority

    def token(
        self,
        name: str | None = None,
        *,
        scopes=frozenset({Scope.ISSUE}),
        profiles=("client", "server"),
        names=("*.svc.internal", "10.0.0.0/8"),
        common_names=None,
        ttl=timedelta(days=1),
    ) -> str:
        """A new API token's secret (the bearer string)."""
        made = new_token(
            name=name or f"t-{secrets.token_hex(4)}",
            scopes=frozenset(scopes),
            profiles=profiles,
            names=names,
            common_names=common_names,
            allow_wildcards=False,
            ttl=ttl,
            now=self.clock(),
        )
        self.api.tokens.add(made.token)
        return made.secret

    def audit(self, action: str | None = None):
        events = self.authority.audit(limit=1000)
        return [e for e in events if action is None or e.action == action]

    def close(self) -> None:
        self.stack.close()


def open_api_ca(directory: Path, **settings_overrides) -> ApiCA:
    settings = Settings(
        home=directory / "home",
        key_passphrase=SecretStr("test-passphrase-0123"),
        key_passphrase_file=None,
        store=None,
        api_renewal_audience=AUDIENCE,
        **{"sqlite_synchronous": "normal", **settings_overrides},
    )
    clock = FixedClock(system_clock())
    passphrase = passphrase_source(settings)
    if not settings.home.exists():
        initialize_ca(settings, passphrase, InitOptions(), actor="test", clock=clock)
    return ApiCA(settings=settings, stack=open_api(settings, passphrase, clock=clock), clock=clock)


def csr_pem(key=None, *, common_name="a.svc.internal", dns_names=("a.svc.internal",)) -> str:
    return make_csr(key or ec_key(), common_name=common_name, dns_names=dns_names).decode()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def renewal_token(
    certificate: x509.Certificate,
    key,
    *,
    audience: str = AUDIENCE,
    issued_at: datetime,
    lifetime: timedelta = timedelta(minutes=5),
    jti: str | None = None,
    algorithm: str = "ES256",
    extra_headers: dict | None = None,
) -> str:
    """A renewal token as a client makes one: a JWS over the certificate's key, with the
    certificate in x5c (standard base64 DER)."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    headers = {"x5c": [base64.b64encode(der).decode()], **(extra_headers or {})}
    claims = {
        "aud": audience,
        "iat": int(issued_at.timestamp()),
        "exp": int((issued_at + lifetime).timestamp()),
        "jti": jti or str(uuid.uuid4()),
        "sub": f"{certificate.serial_number:x}",
    }
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


class LambdaContext:
    function_name = "albca"
    aws_request_id = "req-1"


def alb_event(method, path, *, headers=None, body=None):
    """What an ALB sends a Lambda target (AWS: "Lambda functions as targets")."""
    return {
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:..."}},
        "httpMethod": method,
        "path": path,
        "queryStringParameters": {},
        "headers": {"host": "ca.internal", **(headers or {})},
        "body": body or "",
        "isBase64Encoded": False,
    }


def http_api_event(method, path, *, headers=None):
    """What an API Gateway HTTP API (payload format 2.0) sends."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "ca.internal", **(headers or {})},
        "requestContext": {
            "http": {"method": method, "path": path, "sourceIp": "10.0.0.1"},
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }


def alb_headers(certificate: x509.Certificate) -> dict[str, str]:
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    # As the ALB sends it: URL-encoded, leaving '+', '=' and '/' as they are.
    return {
        "X-Amzn-Mtls-Clientcert-Leaf": urllib.parse.quote(pem, safe="+=/"),
        "X-Amzn-Mtls-Clientcert-Serial-Number": f"{certificate.serial_number:X}",
        "X-Amzn-Mtls-Clientcert-Subject": certificate.subject.rfc4514_string(),
    }
