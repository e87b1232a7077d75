"""``albca maintain`` as cron runs it: real processes on one SQLite file, a real webhook
receiver on 127.0.0.1, the Lambda handler given a Scheduler event."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from albca.ca.records import format_serial
from albca.compose.passphrase import passphrase_source
from albca.compose.services import open_services
from albca.settings import Settings
from albca.trust_bundle.notices import DeliveryFailed, Notice, WebhookSink
from tests.cli.conftest import PASSPHRASE
from tests.maintenance.helpers import each_notice, issue


class Receiver:
    """A webhook endpoint on 127.0.0.1: keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = json.loads(self.rfile.read(length))
                if receiver.status == 200:
                    receiver.bodies.append(body)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/B000/secret"

    def expiry_notices(self) -> list[tuple[str, int]]:
        return [
            (n["detail"]["serial"], n["detail"]["threshold_days"])
            for b in self.bodies
            for n in each_notice(b["albca"])
            if n["kind"] == "expiry"
        ]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    thread = threading.Thread(target=found.server.serve_forever, daemon=True)
    thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()


@pytest.fixture
def ca_home(initialized, tmp_path, receiver):
    """An initialised CA whose maintenance publishes to file:// and tells the receiver."""
    return {
        **initialized.env,
        "ALBCA_PUBLISH_TO": (tmp_path / "pki").as_uri(),
        "ALBCA_NOTIFY_WEBHOOK_URL": receiver.url,
        "ALBCA_NOTIFY_EVENTS": "none",
    }


def issue_in_the_past(env: dict[str, str], count: int) -> list[int]:
    """``count`` 10-day certificates issued 5 days ago: each is now within 7 days."""
    settings = Settings(home=env["ALBCA_HOME"], key_passphrase=PASSPHRASE)
    past = datetime.now(UTC) - timedelta(days=5)
    services = open_services(settings, passphrase_source(settings), clock=lambda: past)
    try:
        return [issue(services.authority, f"c{i}", timedelta(days=10)) for i in range(count)]
    finally:
        services.close()


def audit_actions(env: dict[str, str]) -> list[str]:
    settings = Settings(home=env["ALBCA_HOME"], key_passphrase=PASSPHRASE)
    services = open_services(settings, passphrase_source(settings))
    try:
        return [e.action for e in services.authority.audit(limit=1000)]
    finally:
        services.close()


def maintain_process(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "albca", "maintain", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_maintenance_processes_at_once_sign_once_and_tell_once(ca_home, receiver):
    serials = issue_in_the_past(ca_home, 30)
    runs = [maintain_process(ca_home) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, out + err
    actions = audit_actions(ca_home)
    assert actions.count("maintain") == 2
    assert actions.count("truststore-sync") == 1  # one run signed; the other found it done
    assert actions.count("crl") == 2  # the root's CRL and the issuing CA's, once each
    assert sorted(receiver.expiry_notices()) == sorted((format_serial(s), 7) for s in serials)


def test_maintain_exits_non_zero_when_a_delivery_fails_and_sends_it_next_time(ca_home, receiver):
    (serial,) = issue_in_the_past(ca_home, 1)
    receiver.status = 503
    failed = maintain_process(ca_home)
    out, err = failed.communicate(timeout=300)
    assert failed.returncode == 1
    assert "expiry: FAILED: webhook: webhook 127.0.0.1" in err
    assert "secret" not in err  # a Slack webhook's path is its credential
    assert "crl: CRL" in out  # the CRLs were published all the same
    receiver.status = 200
    again = maintain_process(ca_home)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, out + err
    assert receiver.expiry_notices() == [(format_serial(serial), 7)]


def test_dry_run_lists_what_is_due_and_sends_nothing(ca_home, receiver):
    issue_in_the_past(ca_home, 1)
    dry = maintain_process(ca_home, "--dry-run", "--json")
    out, err = dry.communicate(timeout=300)
    assert dry.returncode == 0, err
    report = json.loads(out)
    jobs = {job["name"]: job for job in report["jobs"]}
    assert report["dry_run"] is True
    assert jobs["crl"]["due"]
    assert jobs["expiry"]["due"]
    assert receiver.bodies == []
    assert "maintain" not in audit_actions(ca_home)


def test_webhook_body_is_slack_compatible(receiver):
    sink = WebhookSink(receiver.url, timeout=5)
    sink.deliver(Notice("k", "expiry", "certificate 1a expires soon", {"serial": "1a"}))
    (body,) = receiver.bodies
    assert body["text"] == "albca: certificate 1a expires soon"
    assert body["albca"]["detail"] == {"serial": "1a"}
    receiver.status = 500
    with pytest.raises(DeliveryFailed, match="HTTP 500"):
        sink.deliver(Notice("k2", "expiry", "again"))


def test_webhook_that_is_not_listening_fails_with_one_line(receiver):
    port = receiver.server.server_address[1]
    receiver.server.shutdown()
    receiver.server.server_close()
    with pytest.raises(DeliveryFailed, match=r"webhook 127\.0\.0\.1:\d+: .*refused"):
        WebhookSink(f"http://127.0.0.1:{port}/x", timeout=5).deliver(Notice("k", "x", "y"))


def test_lambda_handler_runs_maintenance_on_a_scheduler_event(ca_home, receiver, monkeypatch):
    from albca import lambda_handler

    serials = issue_in_the_past(ca_home, 1)
    for name, value in ca_home.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(lambda_handler, "_handler", None)
    report = lambda_handler.handler({"albca": "maintain"}, None)
    assert report["ok"] is True
    assert lambda_handler._handler is None  # the API app was not built for it
    assert receiver.expiry_notices() == [(format_serial(serials[0]), 7)]
    rule_event = {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
    again = lambda_handler.handler(rule_event, None)
    assert again["ok"] is True
    assert not {j["name"] for j in again["jobs"] if j["done"]}  # nothing left to do
