"""The CA's HTTP API as the holder calls it (httpx), TLS verified against a saved bundle.

Retries: a request that never got an answer (connection refused, reset, timed out) or got
502/503/504 is sent again after a growing pause, with the SAME body and Idempotency-Key,
so that a response lost on the way back returns the certificate the first attempt issued
instead of a second one (the API's idempotency, README "The HTTP API"). A TLS failure is
never retried: a certificate that does not verify will not verify a second later.

A renewal's proof is the exception: each attempt carries a FRESH renewal token. The API
spends a token's ``jti`` once, even when the attempt's answer is lost or times out (it
may still be running when the retry comes), so the same token again is refused for good
(401 renewal_token_replayed). The API looks the Idempotency-Key up before it spends the
new token (``api/issuing.py``, ``renew_as_holder``), so a retry still gets the first
attempt's certificate back.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from albca.holder.errors import (
    ApiRefused,
    CaUnreachable,
    ClockSkew,
    RenewalRefused,
    VerificationFailed,
)

__all__ = ["CaClient", "IssuedPem", "Retry"]

# A renewal the API will never grant, whatever the retry: the certificate is revoked,
# expired or unknown to it, or the proof is for a certificate it did not issue.
_FINAL_RENEWAL_CODES = frozenset(
    {"not_renewable", "certificate_not_found", "invalid_renewal_proof"}
)
# A renewal token refused for its times: the clocks differ, and clocks get synced. The API
# says so with a code of its own (api/errors.py, RenewalTokenTime); an albca API from
# before that code said it in an invalid_renewal_proof worded so (api/renewal.py).
_CLOCK_CODE = "renewal_token_time"
_CLOCK_REFUSALS = (
    "renewal token's iat is in the future",
    "renewal token is not valid yet",
    "renewal token expired at",
)


@dataclass(frozen=True)
class Retry:
    attempts: int = 4
    first_pause: float = 0.5  # seconds; doubled after each failed attempt
    max_pause: float = 8.0

    def pauses(self) -> list[float]:
        return [min(self.first_pause * 2**i, self.max_pause) for i in range(self.attempts - 1)]


@dataclass(frozen=True)
class IssuedPem:
    serial: str
    certificate_pem: str
    chain_pem: str
    replayed: bool


class CaClient:
    def __init__(
        self,
        ca_url: str,
        *,
        bundle_pem: bytes | None,
        timeout: float = 15.0,
        retry: Retry = Retry(),
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``bundle_pem`` None means an unverified connection: bootstrap's first fetch
        only, whose answer is then checked against the operator's fingerprint."""
        verify: ssl.SSLContext | bool = False
        if bundle_pem is not None:
            verify = ssl.create_default_context(cadata=bundle_pem.decode("ascii"))
        self.ca_url = ca_url.rstrip("/")
        self._retry = retry
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.ca_url, verify=verify, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def bundle(self) -> bytes:
        return self._send("GET", "/v1/ca/bundle").content

    def health(self) -> dict[str, Any]:
        body = self._send("GET", "/v1/health").json()
        return body if isinstance(body, dict) else {}

    def issue(
        self,
        *,
        token: str,
        profile: str,
        csr_pem: str,
        lifetime_seconds: int | None,
        idempotency_key: str,
    ) -> IssuedPem:
        body: dict[str, Any] = {"profile": profile, "csr": csr_pem}
        if lifetime_seconds is not None:
            body["lifetime_seconds"] = lifetime_seconds
        response = self._send(
            "POST",
            "/v1/certificates",
            json=body,
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": idempotency_key},
        )
        return _issued(response)

    def renew(
        self,
        *,
        renewal_token: Callable[[], str],
        csr_pem: str | None,
        idempotency_key: str,
    ) -> IssuedPem:
        """``renewal_token`` makes a new one-time token; it is called for each attempt."""
        try:
            response = self._send(
                "POST",
                "/v1/certificates/renew",
                json={"csr": csr_pem} if csr_pem is not None else None,
                headers=lambda: {
                    "Authorization": f"Bearer {renewal_token()}",
                    "Idempotency-Key": idempotency_key,
                },
            )
        except ApiRefused as exc:
            if exc.code == _CLOCK_CODE or (
                exc.code == "invalid_renewal_proof"
                and any(refusal in exc.message for refusal in _CLOCK_REFUSALS)
            ):
                raise ClockSkew(
                    f"{exc.message} (clock skew: this machine's clock and the CA's differ "
                    "by more than a renewal token allows; check NTP on both)",
                    status=exc.status,
                    code=exc.code,
                ) from None
            if exc.code in _FINAL_RENEWAL_CODES:
                raise RenewalRefused(exc.message, status=exc.status, code=exc.code) from None
            raise
        return _issued(response)

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
    ) -> httpx.Response:
        """``headers`` as a function: called again for each attempt (a fresh token)."""
        url = f"{self.ca_url}{path}"
        pauses = self._retry.pauses()
        last = ""
        for attempt in range(self._retry.attempts):
            sent = headers() if callable(headers) else headers
            try:
                response = self._http.request(method, path, json=json, headers=sent)
            except httpx.TransportError as exc:
                _raise_if_tls(exc, self.ca_url)
                last = _reason(exc)
            else:
                if response.status_code not in (502, 503, 504):
                    if response.is_error:
                        raise _refusal(response, method, path)
                    return response
                last = f"HTTP {response.status_code}"
            if attempt < len(pauses):
                self._sleep(pauses[attempt])
        raise CaUnreachable(
            f"cannot reach {url}: {last} (tried {self._retry.attempts} times); "
            "nothing was changed, try again later"
        )


def _issued(response: httpx.Response) -> IssuedPem:
    body = response.json()
    return IssuedPem(
        serial=str(body["certificate"]["serial"]),
        certificate_pem=str(body["certificate_pem"]),
        chain_pem=str(body["chain_pem"]),
        replayed=response.headers.get("idempotent-replayed") == "true",
    )


def _refusal(response: httpx.Response, method: str, path: str) -> ApiRefused:
    code, message = "http_error", response.reason_phrase or "error"
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        pass
    # One line whatever the server sent.
    flat = " ".join(message.split())
    return ApiRefused(
        f"the CA refused {method} {path} ({response.status_code} {code}): {flat}",
        status=response.status_code,
        code=code,
    )


def _raise_if_tls(exc: httpx.TransportError, ca_url: str) -> None:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            raise VerificationFailed(
                f"{ca_url}: the API's TLS certificate does not verify against the saved CA "
                f"bundle ({cause.verify_message}); run albca bootstrap again if the CA changed"
            ) from None
        cause = cause.__cause__ or cause.__context__


def _reason(exc: httpx.TransportError) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
