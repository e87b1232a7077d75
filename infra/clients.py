"""Where boto3 clients come from: made on first use, never at import.

``AwsClients`` is albca's one boto3 client factory (region, retries, timeouts, endpoint):
``infra``'s modules ask it for clients, and the composition root (``albca.compose.aws``)
makes every other client through it too (KMS for CA keys, S3 and ELBv2 for the trust
bundle, the bootstrap's). ``albca demo --aws-emulated`` and the tests make one that points
at moto and installs the faithful fakes on each new client (``configure``).
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable
from typing import Any

from albca.infra.errors import AwsUnavailable

__all__ = ["AwsClients", "ClientHook", "Fetch", "region_of_arn"]

ClientHook = Callable[[str, Any], None]
"""Called with (service name, new client) for every client made: installs emulation."""

Fetch = Callable[[str], bytes]
"""Reads a pre-signed URL (a trust store's bundle or CRL) and returns its body."""

_FETCH_TIMEOUT_SECONDS = 15


def region_of_arn(arn: str) -> str | None:
    """The region field of an ARN (``arn:aws:service:REGION:account:...``), if any."""
    parts = arn.split(":")
    if len(parts) >= 6 and parts[0] == "arn" and parts[3]:
        return parts[3]
    return None


def _urlopen_fetch(url: str) -> bytes:
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"not an http(s) URL: {url[:60]}")
    with urllib.request.urlopen(url, timeout=_FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
        body: bytes = response.read()
    return body


class AwsClients:
    """Makes and caches boto3 clients per (service, region).

    ``region`` is the default region (None: the AWS SDK's own default, from its
    configuration); ``endpoint_url`` and ``credentials`` point every client at an
    emulated endpoint; ``configure`` is called on each new client.
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        credentials: tuple[str, str] | None = None,
        configure: ClientHook | None = None,
        fetch: Fetch | None = None,
        profile: str | None = None,
        max_attempts: int = 8,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
    ) -> None:
        self.default_region = region
        self.profile = profile  # a named profile of the AWS config files (None: the default)
        self._session: Any = None
        self.endpoint_url = endpoint_url
        self._credentials = credentials
        self._configure = configure
        self._fetch = fetch or _urlopen_fetch
        # botocore's "standard" retry mode: exponential backoff with jitter for throttling,
        # 5xx answers and connection errors; bounded timeouts so no call hangs (an API
        # request on Lambda has a deadline).
        self._max_attempts = max_attempts
        self._timeouts = (connect_timeout, read_timeout)
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.RLock()  # configure hooks may ask for other clients

    @property
    def emulated(self) -> bool:
        return self.endpoint_url is not None

    def client(self, service: str, region: str | None = None) -> Any:
        """The boto3 client of ``service`` in ``region`` (default: this factory's)."""
        region = region or self.default_region
        with self._lock:
            cached = self._clients.get((service, region))
            if cached is None:
                cached = self._make(service, region)
                self._clients[(service, region)] = cached
            return cached

    def fetch(self, url: str) -> bytes:
        return self._fetch(url)

    def _make(self, service: str, region: str | None) -> Any:
        try:
            import boto3
            from botocore.exceptions import BotoCoreError
        except ImportError:
            raise AwsUnavailable(
                "talking to AWS needs the AWS libraries: pip install 'albca[aws]'"
            ) from None
        from botocore.config import Config

        config = Config(
            retries={"mode": "standard", "max_attempts": self._max_attempts},
            connect_timeout=self._timeouts[0],
            read_timeout=self._timeouts[1],
        )
        options: dict[str, Any] = {"config": config}
        if region is not None:
            options["region_name"] = region
        if self.endpoint_url is not None:
            options["endpoint_url"] = self.endpoint_url
        if self._credentials is not None:
            options["aws_access_key_id"], options["aws_secret_access_key"] = self._credentials
        try:
            if self._session is None:
                # One session per factory: a named profile's credentials and region come
                # from ~/.aws/config and ~/.aws/credentials (boto3 Session profile_name).
                self._session = boto3.session.Session(profile_name=self.profile)
            client = self._session.client(service, **options)
        except BotoCoreError as exc:
            # NoRegionError and friends: say what to set.
            raise AwsUnavailable(
                f"cannot make an AWS {service} client: {exc}; give --region or "
                "--aws-profile, or configure the AWS SDK (AWS_REGION, AWS_PROFILE)"
            ) from exc
        if self._configure is not None:
            self._configure(service, client)
        return client
