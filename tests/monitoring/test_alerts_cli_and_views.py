"""``manage.py alerts`` and the alert list page: output, filters, and who may acknowledge or resolve."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from audience_ops.audit.models import AuditEvent
from audience_ops.monitoring.choices import AlertKind, AlertState
from audience_ops.monitoring.models import Alert
from tests.monitoring.helpers import check_all, live_audience, the_alert

pytestmark = pytest.mark.django_db


@pytest.fixture
def raised(marketer, django_capture_on_commit_callbacks):
    """One real near-retirement alert (retire_on in 5 days) and the time it was raised."""
    today = dt.date.today()
    live_audience(retire_on=(today + dt.timedelta(days=5)).isoformat())
    now = dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC)
    check_all(django_capture_on_commit_callbacks, now)
    return the_alert(AlertKind.NEAR_RETIREMENT)


def run(*args: str) -> str:
    out = StringIO()
    call_command("alerts", *args, stdout=out)
    return out.getvalue()


def test_evaluate_prints_a_summary(marketer):
    today = dt.date.today()
    live_audience(retire_on=(today + dt.timedelta(days=3)).isoformat())
    output = run("evaluate", "--as-of", f"{today.isoformat()}T12:00:00Z")
    assert "1 opened, 0 resolved; active:" in output and "near_retirement 1" in output
    assert run("evaluate", "--as-of", f"{today.isoformat()}T12:05:00Z").count("0 opened") == 1
    with pytest.raises(CommandError):
        run("evaluate", "--as-of", "yesterday-ish")


def test_list_json_has_one_object_per_alert(raised):
    lines = run("list", "--json").splitlines()
    (row,) = [json.loads(line) for line in lines]
    assert row["kind"] == "near_retirement" and row["subject"] == raised.subject_label
    assert row["severity"] == "info" and row["state"] == "open"
    assert row["first_seen"] == raised.first_seen.isoformat() and row["last_seen"] == raised.last_seen.isoformat()
    assert "retires in 5 days" in row["message"]

    run("resolve", str(raised.pk), "--note", "retiring on schedule")
    assert run("list", "--open", "--json") == ""
    assert "resolved" in run("list")


def test_cli_acknowledge_checks_the_role_of_by(raised, marketer, ops_user):
    with pytest.raises(CommandError, match="may not"):
        run("ack", str(raised.pk), "--by", "maria")
    assert "acknowledged" in run("ack", str(raised.pk), "--by", "omar")
    raised.refresh_from_db()
    assert raised.acknowledged_by == ops_user


def test_everyone_sees_the_list_with_filters(raised, marketer_client):
    page = marketer_client.get(reverse("monitoring:alert_list"))
    assert page.status_code == 200
    assert raised.message in page.content.decode()
    assert (
        "alert_acknowledge" not in page.content.decode() and "/acknowledge/" not in page.content.decode()
    )  # read-only for marketers

    other = marketer_client.get(reverse("monitoring:alert_list"), {"kind": "ballooning"})
    assert raised.message not in other.content.decode()
    bad = marketer_client.get(reverse("monitoring:alert_list"), {"severity": "apocalyptic"})
    assert bad.status_code == 200 and raised.message not in bad.content.decode()


def test_marketers_cannot_acknowledge_or_resolve(raised, marketer_client):
    for name in ("monitoring:alert_acknowledge", "monitoring:alert_resolve"):
        assert marketer_client.post(reverse(name, args=[raised.pk])).status_code == 403
    raised.refresh_from_db()
    assert raised.state == AlertState.OPEN


def test_ops_acknowledge_then_resolve_with_a_note_audited(raised, ops_client, ops_user):
    url = reverse("monitoring:alert_acknowledge", args=[raised.pk])
    response = ops_client.post(url, {"note": "talking to maria", "next": "/"})
    assert response.status_code == 302 and response.url == "/"
    raised.refresh_from_db()
    assert (raised.state, raised.acknowledged_by, raised.note) == (
        AlertState.ACKNOWLEDGED,
        ops_user,
        "talking to maria",
    )

    response = ops_client.post(reverse("monitoring:alert_resolve", args=[raised.pk]), {"next": "https://evil.example/"})
    assert response.url == reverse("monitoring:alert_list")  # never redirected off-site
    raised.refresh_from_db()
    assert raised.state == AlertState.RESOLVED and raised.resolved_by == ops_user
    events = AuditEvent.objects.filter(object_id=str(raised.pk), action__in=["alert.acknowledge", "alert.resolve"])
    assert {(e.action, e.actor_id) for e in events} == {
        ("alert.acknowledge", ops_user.pk),
        ("alert.resolve", ops_user.pk),
    }

    again = ops_client.post(reverse("monitoring:alert_resolve", args=[raised.pk]), follow=True)
    assert "already resolved" in again.content.decode()
    resolved = ops_client.get(reverse("monitoring:alert_list"), {"state": "resolved"}).content.decode()
    assert raised.message in resolved and "by omar" in resolved


def test_a_condition_still_present_after_a_manual_resolve_opens_a_new_alert(
    raised, ops_user, django_capture_on_commit_callbacks
):
    from audience_ops.monitoring.services import alert_resolve

    alert_resolve(actor=ops_user, alert=raised, note="thought it was fixed")
    check_all(django_capture_on_commit_callbacks, raised.last_seen + dt.timedelta(minutes=5))
    assert Alert.objects.filter(kind=AlertKind.NEAR_RETIREMENT).count() == 2
    assert the_alert(AlertKind.NEAR_RETIREMENT).pk != raised.pk


def test_a_caller_that_knows_the_condition_ended_clears_its_alert(marketer, ops_user):
    """The guardrails raise ``large_change`` for a held run and clear it once ops decided."""
    from audience_ops.monitoring.services import Subject, alert_clear, alert_raise

    audience = live_audience()
    subject = Subject.for_audience(audience)
    alert = alert_raise(kind=AlertKind.LARGE_CHANGE, subject=subject, message="would remove 90% of the audience")
    assert alert_clear(kind=AlertKind.LARGE_CHANGE, subject=subject) == 1
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED
    assert alert_clear(kind=AlertKind.LARGE_CHANGE, subject=subject) == 0
