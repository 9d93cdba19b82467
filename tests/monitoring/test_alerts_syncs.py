"""Alerts about syncs, from real runs against the Meta sandbox: stale, failing, credentials, match rate."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from audience_ops.destinations.normalise import hashed_email
from audience_ops.destinations.sandbox.meta import is_known
from audience_ops.destinations.services import destination_test_connection
from audience_ops.monitoring.choices import AlertKind, AlertSeverity, AlertState
from audience_ops.monitoring.services import alerts_after_sync_run
from audience_ops.syncs.choices import RunState
from audience_ops.syncs.models import Sync
from audience_ops.syncs.services import sync_create
from tests.monitoring.helpers import active, check_all, live_audience, run_now, the_alert
from tests.syncs.helpers import make_members, set_seg

pytestmark = pytest.mark.django_db


@pytest.fixture
def sync(marketer, ops_user, meta_destination, settings):
    settings.SYNC_RETRY_MAX_ATTEMPTS = 1
    settings.SYNC_RETRY_BASE_SECONDS = 0.001
    return sync_create(actor=None, audience=live_audience(), destination=meta_destination, every_minutes=60)


def test_a_sync_that_stopped_succeeding_goes_stale_and_recovers(sync, django_capture_on_commit_callbacks):
    make_members(5)
    # Created three hours ago on an hourly cadence and never run: more than twice its cadence.
    Sync.objects.filter(pk=sync.pk).update(created_at=timezone.now() - dt.timedelta(hours=3))
    check_all(django_capture_on_commit_callbacks, timezone.now())
    alert = the_alert(AlertKind.STALE_SYNC)
    assert alert.sync == sync and alert.destination == sync.destination and alert.audience == sync.audience
    assert "every 60 min" in alert.message and "never succeeded" in alert.message
    assert mail.outbox and "Stale sync" in mail.outbox[0].subject

    assert run_now(sync).state == RunState.SUCCEEDED
    check_all(django_capture_on_commit_callbacks, timezone.now())
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED

    # Two hours and a bit after that success, with no run since, it is stale again: a new alert.
    check_all(django_capture_on_commit_callbacks, timezone.now() + dt.timedelta(hours=2, minutes=5))
    assert "last success was 2 h" in the_alert(AlertKind.STALE_SYNC).message


def test_paused_syncs_are_never_stale(sync, django_capture_on_commit_callbacks):
    Sync.objects.filter(pk=sync.pk).update(enabled=False, created_at=timezone.now() - dt.timedelta(days=1))
    check_all(django_capture_on_commit_callbacks, timezone.now())
    assert active(AlertKind.STALE_SYNC) == []


def test_consecutive_failures_raise_failing_sync_and_a_success_resolves_it(
    sync, meta_sandbox, settings, django_capture_on_commit_callbacks
):
    settings.ALERT_FAILING_RUNS = 3
    make_members(5)
    meta_sandbox.fail(2, status=400)
    for _ in range(2):
        assert run_now(sync).state == RunState.FAILED
    check_all(django_capture_on_commit_callbacks, timezone.now())
    assert active(AlertKind.FAILING_SYNC) == []  # two failures in a row are not yet "failing"

    meta_sandbox.fail(1, status=400)
    last = run_now(sync)
    assert last.state == RunState.FAILED
    alerts_after_sync_run(last)  # the hook a finished run calls
    alert = the_alert(AlertKind.FAILING_SYNC)
    assert alert.severity == AlertSeverity.CRITICAL
    assert alert.details["consecutive_failures"] == 3 and alert.details["last_run"] == last.pk
    assert "failed its last 3 runs" in alert.message
    assert active(AlertKind.CREDENTIALS_REJECTED) == []  # a bad request is not a credentials problem

    ok = run_now(sync)
    assert ok.state == RunState.SUCCEEDED
    alerts_after_sync_run(ok)
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED


def test_rejected_token_raises_credentials_alert_on_the_destination(
    sync, meta_sandbox, meta_destination, django_capture_on_commit_callbacks
):
    make_members(3)
    meta_sandbox.reject_token()
    run = run_now(sync)
    assert run.state == RunState.FAILED and "190" in run.error

    check_all(django_capture_on_commit_callbacks, timezone.now())
    alert = the_alert(AlertKind.CREDENTIALS_REJECTED)
    assert alert.destination == meta_destination and alert.sync is None
    assert alert.severity == AlertSeverity.CRITICAL
    assert "rejected its credentials" in alert.message and alert.details["source"] == "run"
    # Destination alerts go to ops (no audience owner to tell).
    assert mail.outbox[-1].to == ["omar@example.com"]

    meta_sandbox.accept_token()
    assert run_now(sync).state == RunState.SUCCEEDED
    check_all(django_capture_on_commit_callbacks, timezone.now())
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED


def test_a_failed_connection_test_raises_credentials_alert(
    admin_user, meta_sandbox, meta_destination, django_capture_on_commit_callbacks
):
    meta_sandbox.reject_token()
    ok, _message = destination_test_connection(actor=admin_user, destination=meta_destination)
    assert not ok
    check_all(django_capture_on_commit_callbacks, timezone.now())
    assert the_alert(AlertKind.CREDENTIALS_REJECTED).details["source"] == "connection test"

    meta_sandbox.accept_token()
    destination_test_connection(actor=admin_user, destination=meta_destination)
    check_all(django_capture_on_commit_callbacks, timezone.now())
    assert active(AlertKind.CREDENTIALS_REJECTED) == []


def test_match_rate_below_the_destinations_threshold(sync, settings, django_capture_on_commit_callbacks):
    make_members(20)
    run = run_now(sync)
    assert run.state == RunState.SUCCEEDED and 0 < run.match_rate < 0.95

    settings.ALERT_MATCH_RATE_MIN_BY_DESTINATION = {sync.destination.name: 0.95}
    check_all(django_capture_on_commit_callbacks, timezone.now())
    alert = the_alert(AlertKind.LOW_MATCH_RATE)
    assert alert.details == {"match_rate": run.match_rate, "threshold": 0.95, "run": run.pk}
    assert "below the 95% threshold" in alert.message

    settings.ALERT_MATCH_RATE_MIN_BY_DESTINATION = {}  # back to the default threshold (30%)
    check_all(django_capture_on_commit_callbacks, timezone.now())
    assert alert.__class__.objects.get(pk=alert.pk).state == AlertState.RESOLVED


def _emails(known: bool, count: int, start: int) -> list[str]:
    """``count`` email addresses the sandbox platform does (or does not) know."""
    found, i = [], start
    while len(found) < count:
        email = f"person{i}@example.com"
        if is_known("EMAIL", hashed_email(email)) == known:
            found.append(email)
        i += 1
    return found


def _members(emails: list[str], start: int):
    from audience_ops.customers.models import Profile

    return Profile.objects.bulk_create(
        Profile(external_id=f"cus_{start + i:06d}", email=email, traits={"seg": "in"}) for i, email in enumerate(emails)
    )


def test_a_sharp_drop_against_the_trailing_median(sync, settings, django_capture_on_commit_callbacks):
    settings.ALERT_MATCH_RATE_MIN = 0.1
    _members(_emails(True, 10, 0), 0)
    rates = [run_now(sync).match_rate]
    for n in range(3):
        _members(_emails(True, 1, 1000 + 100 * n), 100 + n)
        rates.append(run_now(sync).match_rate)
    assert rates == [1.0, 1.0, 1.0, 1.0]
    check_all(django_capture_on_commit_callbacks, timezone.now())
    assert active(AlertKind.MATCH_RATE_DROP) == []

    unknown = _members(_emails(False, 20, 5000), 500)
    dropped = run_now(sync)
    assert dropped.match_rate < 0.5
    check_all(django_capture_on_commit_callbacks, timezone.now())
    alert = the_alert(AlertKind.MATCH_RATE_DROP)
    assert alert.details["median"] == 1.0 and alert.details["match_rate"] == dropped.match_rate
    assert "down from a median of 100%" in alert.message
    assert active(AlertKind.LOW_MATCH_RATE) == []

    set_seg(unknown, "out")  # the unmatchable people leave; the next run removes them
    assert run_now(sync).match_rate == 1.0
    check_all(django_capture_on_commit_callbacks, timezone.now())
    assert active(AlertKind.MATCH_RATE_DROP) == []
