"""Ballooning and collapse, raised by real evaluations (the after-evaluation hook) and resolved the same way."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from audience_ops.audit.models import AuditEvent
from audience_ops.monitoring.choices import AlertKind, AlertSeverity, AlertState
from audience_ops.monitoring.models import Alert
from tests.monitoring.helpers import active, evaluate, live_audience, the_alert
from tests.syncs.helpers import NOW, make_members, set_seg

pytestmark = pytest.mark.django_db
HOUR = dt.timedelta(hours=1)


def history(capture, audience, evaluations: int, start=NOW) -> dt.datetime:
    """``evaluations`` hourly evaluations from ``start``; returns the time of the next one."""
    for i in range(evaluations):
        evaluate(capture, audience, start + i * HOUR)
    return start + evaluations * HOUR


def test_ballooning_alert_opens_notifies_updates_and_resolves(marketer, ops_user, django_capture_on_commit_callbacks):
    audience = live_audience()
    people = make_members(150)
    at = history(django_capture_on_commit_callbacks, audience, 4)
    assert active(AlertKind.BALLOONING) == []
    assert mail.outbox == []

    extra = make_members(250, start=1000)
    evaluate(django_capture_on_commit_callbacks, audience, at)

    alert = the_alert(AlertKind.BALLOONING)
    assert alert.audience == audience and alert.state == AlertState.OPEN
    assert alert.severity == AlertSeverity.WARNING
    assert (alert.details["size"], alert.details["median"]) == (400, 150)
    assert "400 members" in alert.message and "2.7x" in alert.message
    assert alert.first_seen == alert.last_seen == at
    (message,) = mail.outbox
    assert set(message.to) == {"maria@example.com", "omar@example.com"}
    assert "Audience ballooning" in message.subject and audience.name in message.subject
    assert "400 members" in message.body

    # Still ballooning at the next evaluation: the same alert moves on, nobody is mailed twice.
    evaluate(django_capture_on_commit_callbacks, audience, at + HOUR)
    assert Alert.objects.filter(kind=AlertKind.BALLOONING).count() == 1
    alert.refresh_from_db()
    assert alert.last_seen == at + HOUR and alert.first_seen == at
    assert len(mail.outbox) == 1

    # The extra members leave: the condition is gone, the alert resolves by itself (audited).
    set_seg(extra, "out")
    evaluate(django_capture_on_commit_callbacks, audience, at + 2 * HOUR)
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED and alert.resolved_by is None
    assert alert.resolved_at == at + 2 * HOUR
    actions = list(
        AuditEvent.objects.filter(object_id=str(alert.pk), action__startswith="alert.").values_list("action", flat=True)
    )
    assert sorted(actions) == ["alert.open", "alert.resolve"]
    assert len(people) == 150


def test_a_balloon_that_comes_back_is_a_new_alert(marketer, django_capture_on_commit_callbacks):
    audience = live_audience()
    make_members(150)
    at = history(django_capture_on_commit_callbacks, audience, 4)
    extra = make_members(300, start=1000)
    evaluate(django_capture_on_commit_callbacks, audience, at)
    set_seg(extra, "out")
    evaluate(django_capture_on_commit_callbacks, audience, at + HOUR)
    set_seg(extra, "in")
    evaluate(django_capture_on_commit_callbacks, audience, at + 2 * HOUR)

    alerts = list(Alert.objects.filter(kind=AlertKind.BALLOONING).order_by("pk"))
    assert [a.state for a in alerts] == [AlertState.RESOLVED, AlertState.OPEN]


def test_collapse_is_the_mirror_and_an_empty_audience_is_critical(marketer, django_capture_on_commit_callbacks):
    audience = live_audience()
    people = make_members(200)
    at = history(django_capture_on_commit_callbacks, audience, 4)

    set_seg(people[:150], "out")
    evaluate(django_capture_on_commit_callbacks, audience, at)
    alert = the_alert(AlertKind.COLLAPSE)
    assert (alert.details["size"], alert.severity) == (50, AlertSeverity.WARNING)
    assert "25% of the median" in alert.message

    set_seg(people, "out")
    evaluate(django_capture_on_commit_callbacks, audience, at + HOUR)
    alert.refresh_from_db()
    assert alert.severity == AlertSeverity.CRITICAL  # escalated in place

    set_seg(people, "in")
    evaluate(django_capture_on_commit_callbacks, audience, at + 2 * HOUR)
    assert active(AlertKind.COLLAPSE) == []
    assert active(AlertKind.BALLOONING) == []  # back to normal is not a balloon: the median is still 200


def test_small_audiences_do_not_balloon(marketer, django_capture_on_commit_callbacks):
    audience = live_audience()
    make_members(3)
    at = history(django_capture_on_commit_callbacks, audience, 4)
    make_members(6, start=1000)  # 3 -> 9 is three times the median, but far below the minimum size

    evaluate(django_capture_on_commit_callbacks, audience, at)

    assert Alert.objects.count() == 0


def test_short_history_and_factor_come_from_settings(marketer, settings, django_capture_on_commit_callbacks):
    audience = live_audience()
    make_members(150)
    at = history(django_capture_on_commit_callbacks, audience, 2)
    make_members(100, start=1000)  # 250 vs 150: 1.7x
    evaluate(django_capture_on_commit_callbacks, audience, at)
    assert Alert.objects.count() == 0  # two earlier snapshots are not enough history, and 1.7x < 2x

    settings.ALERT_SIZE_MIN_HISTORY = 2
    settings.ALERT_SIZE_FACTOR = 1.5
    make_members(1, start=5000)
    evaluate(django_capture_on_commit_callbacks, audience, at + HOUR)
    assert the_alert(AlertKind.BALLOONING).details["factor"] == 1.5
