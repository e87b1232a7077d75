"""Where maintenance notices go: an SNS topic, a webhook taking a Slack-compatible body.

A ``Notice`` is one thing worth telling (a certificate 7 days from expiry, a CA entering
its rotation window, a revocation, a failed sync). A ``NoticeSink`` delivers it or raises
``DeliveryFailed``; maintenance records what each sink was sent (``claim_notice`` in the
store), so a notice reaches each sink once, and a failed delivery is tried again on the
next run. ``RecordingSink`` keeps what it is given (dry runs, tests).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from albca.ca.aws_errors import AwsFailure, aws_errors

__all__ = [
    "Notice",
    "NoticeSink",
    "DeliveryFailed",
    "SnsSink",
    "WebhookSink",
    "RecordingSink",
    "sns_subject",
    "digest_of",
    "DIGEST_NAMED",
    "DIGEST_LISTED",
]

# SNS Publish: "Subject ... must be ASCII text that begins with a letter, number, or
# punctuation mark; must not include line breaks or control characters; and must be less
# than 100 characters long" (Amazon SNS API Reference, Publish).
_SNS_SUBJECT_MAX = 99
DIGEST_NAMED = 10  # labels named in a digest's text
DIGEST_LISTED = 100  # notices listed whole in a digest's detail (about 300 bytes each)


@dataclass(frozen=True)
class Notice:
    key: str  # what makes it once-only: "expiry:<serial>:7d", "event:<audit id>", ...
    kind: str  # expiry, ca-rotation, acm-renewal, revoked, sync-failed, ...
    text: str  # one line a person reads
    detail: dict[str, Any] = field(default_factory=dict)
    # Notices of one run with the same ``digest`` (e.g. "certificates expire within 30
    # day(s)") go to a sink as one message (``digest_of``); ``label`` names this one there.
    digest: str | None = None
    label: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "text": self.text, "detail": self.detail}


def digest_of(notices: Sequence[Notice]) -> Notice:
    """One message for many notices of one digest: a count, the first ``DIGEST_NAMED``
    labels in its text, the first ``DIGEST_LISTED`` notices in its detail and how many
    more there are, so 10,000 certificates crossing a threshold at once make one message
    of bounded size (SNS takes 256 KB: Amazon SNS API Reference, Publish)."""
    if not notices:
        raise ValueError("a digest needs at least one notice")
    if len(notices) == 1:
        return notices[0]
    first = notices[0]
    title = first.digest or first.kind
    named = ", ".join(n.label or n.key for n in notices[:DIGEST_NAMED])
    rest = len(notices) - DIGEST_NAMED
    text = f"{len(notices):,} {title}: {named}" + (f" and {rest:,} more" if rest > 0 else "")
    listed = notices[:DIGEST_LISTED]
    return Notice(
        key=f"digest:{title}",
        kind=first.kind,
        text=text,
        detail={
            "digest": title,
            "count": len(notices),
            "notices": [n.to_json() for n in listed],
            "not_listed": len(notices) - len(listed),
        },
    )


class DeliveryFailed(Exception):
    """A sink could not deliver a notice; maintenance retries it on its next run. Not a
    ``CAError``: it never leaves a maintenance run, which reports it as a failed job."""


class NoticeSink(Protocol):
    @property
    def name(self) -> str: ...

    def deliver(self, notice: Notice) -> None: ...


def sns_subject(text: str) -> str:
    printable = "".join(ch if " " <= ch <= "~" else " " for ch in text).strip()
    subject = printable or "albca notice"
    if len(subject) > _SNS_SUBJECT_MAX:
        subject = subject[: _SNS_SUBJECT_MAX - 3] + "..."
    return subject


class SnsSink:
    """Publishes to an SNS topic (its email, SMS, chat or Lambda subscriptions)."""

    name = "sns"

    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self.topic_arn = topic_arn

    def deliver(self, notice: Notice) -> None:
        def failed(failure: AwsFailure) -> DeliveryFailed:
            return DeliveryFailed(f"SNS topic {self.topic_arn}: {failure.describe() or 'error'}")

        with aws_errors(failed):
            self._client.publish(
                TopicArn=self.topic_arn,
                Subject=sns_subject(f"albca: {notice.text}"),
                Message=json.dumps(notice.to_json(), sort_keys=True),
                # Lets a subscription filter policy pick kinds (SNS: "Message attributes").
                MessageAttributes={"kind": {"DataType": "String", "StringValue": notice.kind}},
            )


class WebhookSink:
    """POSTs ``{"text": ..., "albca": {...}}``: the body a Slack incoming webhook takes
    (Slack: "Sending messages using incoming webhooks": a JSON object with ``text``), and
    the same for Mattermost, Teams workflows or a custom receiver."""

    name = "webhook"

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"webhook URL {url!r} must be http:// or https://")
        self.url = url
        self.timeout = timeout

    def deliver(self, notice: Notice) -> None:
        body = json.dumps({"text": f"albca: {notice.text}", "albca": notice.to_json()})
        request = urllib.request.Request(  # noqa: S310  (the scheme is checked above)
            self.url,
            data=body.encode(),
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "albca-maintenance"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                status = response.status
        except urllib.error.HTTPError as exc:
            raise DeliveryFailed(f"webhook {self._where}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryFailed(f"webhook {self._where}: {reason}") from exc
        if not 200 <= status < 300:
            raise DeliveryFailed(f"webhook {self._where}: HTTP {status}")

    @property
    def _where(self) -> str:
        # The path of a Slack webhook URL is its secret: name only the host.
        return urllib.parse.urlsplit(self.url).netloc


class RecordingSink:
    """Keeps what it is given, delivering nothing."""

    def __init__(self, name: str = "recorded") -> None:
        self.name = name
        self.delivered: list[Notice] = []

    def deliver(self, notice: Notice) -> None:
        self.delivered.append(notice)
