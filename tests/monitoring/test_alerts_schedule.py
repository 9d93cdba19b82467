"""Audiences not evaluated on schedule, and audiences close to their retirement date."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from audience_ops.audiences.hygiene import audience_extend_retirement
from audience_ops.monitoring.choices import AlertKind, AlertSeverity, AlertState
from tests.monitoring.helpers import active, check_all, evaluate, live_audience, the_alert
from tests.syncs.helpers import NOW, make_members

pytestmark = pytest.mark.django_db


def test_a_live_audience_not_evaluated_on_schedule(marketer, settings, django_capture_on_commit_callbacks):
    settings.AUDIENCE_EVALUATION_INTERVAL_SECONDS = 900
    audience = live_audience(retire_on="2099-12-31")
    make_members(3)
    evaluate(django_capture_on_commit_callbacks, audience, NOW)

    check_all(django_capture_on_commit_callbacks, NOW + dt.timedelta(minutes=29))
    assert active(AlertKind.STALE_EVALUATION) == []
    check_all(django_capture_on_commit_callbacks, NOW + dt.timedelta(minutes=31))
    alert = the_alert(AlertKind.STALE_EVALUATION)
    assert alert.audience == audience
    assert "was last evaluated 31 min ago" in alert.message and "every 15 min" in alert.message

    evaluate(django_capture_on_commit_callbacks, audience, NOW + dt.timedelta(minutes=40))
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED


def test_near_retirement_then_extended(marketer, admin_user, django_capture_on_commit_callbacks):
    today = dt.date.today()
    now = dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC)
    audience = live_audience(retire_on=(today + dt.timedelta(days=20)).isoformat())
    evaluate(django_capture_on_commit_callbacks, audience, now)
    check_all(django_capture_on_commit_callbacks, now)
    assert active(AlertKind.NEAR_RETIREMENT) == []

    later = now + dt.timedelta(days=10)  # 10 days left, within the 14-day window
    check_all(django_capture_on_commit_callbacks, later)
    alert = the_alert(AlertKind.NEAR_RETIREMENT)
    assert alert.severity == AlertSeverity.INFO and alert.details["days_left"] == 10
    assert "retires in 10 days" in alert.message
    assert mail.outbox[-1].to[0] == "maria@example.com"

    check_all(django_capture_on_commit_callbacks, now + dt.timedelta(days=21))  # past the date: warning
    alert.refresh_from_db()
    assert alert.severity == AlertSeverity.WARNING and "ago" in alert.message

    audience_extend_retirement(
        actor=admin_user, audience=audience, retire_on=today + dt.timedelta(days=120), reason="still converting"
    )
    check_all(django_capture_on_commit_callbacks, now + dt.timedelta(days=21))
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED
