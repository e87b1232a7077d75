"""ALBCA_NOTIFY_* and ALBCA_MAINTAIN_*: unsafe or unknown values are refused at start-up."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from albca.settings import Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("ALBCA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ALBCA_HOME", str(tmp_path))


def refused(monkeypatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    return str(caught.value.errors()[0]["msg"])


def test_defaults_tell_revocations_and_failures_at_30_7_and_1_days():
    settings = Settings()
    assert settings.expiry_notice_days == (30, 7, 1)
    assert settings.notify_event_kinds == {"revoked", "sync-failed", "maintenance-failed"}
    assert settings.notify_sns_topic is None
    assert settings.notify_webhook_url is None


def test_none_turns_events_and_expiry_notices_off(monkeypatch):
    monkeypatch.setenv("ALBCA_NOTIFY_EVENTS", "none")
    monkeypatch.setenv("ALBCA_NOTIFY_EXPIRY_DAYS", "none")
    settings = Settings()
    assert settings.notify_event_kinds == frozenset()
    assert settings.expiry_notice_days == ()


def test_an_unknown_event_is_refused_naming_the_choices(monkeypatch):
    message = refused(monkeypatch, "ALBCA_NOTIFY_EVENTS", "revoked,renewed")
    assert "'renewed' is not an event" in message
    assert "maintenance-failed" in message


@pytest.mark.parametrize("days", ["30,seven", "0", "-1", "5000"])
def test_expiry_days_must_be_whole_days(monkeypatch, days):
    assert "number of days" in refused(monkeypatch, "ALBCA_NOTIFY_EXPIRY_DAYS", days)


@pytest.mark.parametrize(
    "topic", ["albca-notices", "arn:aws:sqs:eu-west-1:111122223333:q", "arn:aws:sns:eu-west-1:1:t"]
)
def test_a_topic_that_is_not_an_sns_topic_arn_is_refused(monkeypatch, topic):
    assert "not an SNS topic ARN" in refused(monkeypatch, "ALBCA_NOTIFY_SNS_TOPIC", topic)


def test_a_webhook_that_is_not_http_is_refused(monkeypatch):
    message = refused(monkeypatch, "ALBCA_NOTIFY_WEBHOOK_URL", "file:///etc/passwd")
    assert "not an http:// or https:// URL" in message


@pytest.mark.parametrize("share", ["0", "1", "1.5"])
def test_crl_refresh_is_a_share_of_the_validity(monkeypatch, share):
    refused(monkeypatch, "ALBCA_MAINTAIN_CRL_REFRESH", share)


@pytest.mark.parametrize("share", ["0", "1", "1.5"])
def test_acm_renewal_is_a_share_of_the_certificates_life(monkeypatch, share):
    refused(monkeypatch, "ALBCA_MAINTAIN_ACM_RENEW", share)
