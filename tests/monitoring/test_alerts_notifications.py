"""Notifications: email recipients, the Standard Webhooks signed POST, and a slow webhook never blocking."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from standardwebhooks import Webhook

from audience_ops.accounts.roles import Role
from audience_ops.accounts.services import user_create
from audience_ops.monitoring.choices import AlertKind
from tests.monitoring.helpers import check_all, live_audience, the_alert

pytestmark = pytest.mark.django_db


class Receiver:
    """A chat tool's webhook endpoint on a free local port, recording what it receives."""

    def __init__(self, delay: float = 0.0) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(self.headers.items()), body))
                time.sleep(delay)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def near_retirement(marketer):
    """A live audience retiring in 5 days: the cheapest alert to raise for real."""
    today = dt.date.today()
    live_audience(retire_on=(today + dt.timedelta(days=5)).isoformat())
    return dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC)


def test_the_webhook_is_signed_the_standard_webhooks_way(
    near_retirement, receiver, settings, django_capture_on_commit_callbacks
):
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    settings.ALERT_WEBHOOK_URL = receiver.url
    settings.ALERT_WEBHOOK_SECRET = secret
    settings.ALERT_SITE_URL = "https://ops.example.com"

    check_all(django_capture_on_commit_callbacks, near_retirement)

    alert = the_alert(AlertKind.NEAR_RETIREMENT)
    ((headers, body),) = receiver.received
    lowered = {key.lower(): value for key, value in headers.items()}
    payload = Webhook(secret).verify(body, lowered)  # raises on a bad or missing signature
    assert payload["type"] == "alert.opened"
    assert payload["data"]["kind"] == "near_retirement" and payload["data"]["id"] == alert.pk
    assert payload["data"]["severity"] == "info" and payload["data"]["state"] == "open"
    assert payload["data"]["url"].startswith("https://ops.example.com/monitoring/alerts/")
    with pytest.raises(Exception):  # noqa: B017 - any verification error: the signature covers the body
        Webhook(secret).verify(body.replace(b"near_retirement", b"ballooning"), lowered)

    # Seen again: no second message. Escalated (past the date): one more.
    check_all(django_capture_on_commit_callbacks, near_retirement + dt.timedelta(minutes=5))
    assert len(receiver.received) == 1
    check_all(django_capture_on_commit_callbacks, near_retirement + dt.timedelta(days=6))
    types = [(p["data"]["kind"], p["type"]) for p in (json.loads(body) for _headers, body in receiver.received)]
    assert [t for t in types if t[0] == "near_retirement"] == [
        ("near_retirement", "alert.opened"),
        ("near_retirement", "alert.escalated"),
    ]


def test_a_slow_webhook_does_not_hold_the_check(near_retirement, settings, django_capture_on_commit_callbacks):
    slow = Receiver(delay=3.0)
    try:
        settings.ALERT_WEBHOOK_URL = slow.url
        settings.ALERT_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()
        settings.ALERT_WEBHOOK_TIMEOUT_SECONDS = 0.3
        started = time.monotonic()
        check_all(django_capture_on_commit_callbacks, near_retirement)
        assert time.monotonic() - started < 2.5
        assert the_alert(AlertKind.NEAR_RETIREMENT)  # raised (and mailed) all the same
        assert len(mail.outbox) == 1
    finally:
        slow.close()


def test_an_unreachable_webhook_is_logged_not_raised(near_retirement, settings, django_capture_on_commit_callbacks):
    settings.ALERT_WEBHOOK_URL = "http://127.0.0.1:9/nothing-listens-here"
    summary = check_all(django_capture_on_commit_callbacks, near_retirement)
    assert summary.errors == [] and summary.opened == 1


def test_email_goes_to_the_owner_and_active_ops_users_only(
    near_retirement, ops_user, admin_user, django_capture_on_commit_callbacks
):
    gone = user_create(actor=None, username="olga", role=Role.OPS, email="olga@example.com", password="x" * 12)
    gone.is_active = False
    gone.save()
    check_all(django_capture_on_commit_callbacks, near_retirement)
    (message,) = mail.outbox
    assert message.to == ["maria@example.com", "omar@example.com"]
    assert "Near retirement" in message.subject and "/monitoring/alerts/" in message.body
