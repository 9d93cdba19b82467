"""Suppression leaks, from real evaluations and runs: people the platform still targets after converting."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from audience_ops.customers.models import Profile
from audience_ops.monitoring.checks.suppression import leak_figures
from audience_ops.monitoring.choices import AlertKind, AlertSeverity, AlertState
from audience_ops.syncs.choices import RunState
from audience_ops.syncs.services import sync_create
from tests.monitoring.helpers import active, ads_pair, check_all, evaluate, run_now, the_alert
from tests.syncs.helpers import ledger_ids, make_members

pytestmark = pytest.mark.django_db
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def synced_pair(marketer, ops_user, meta_destination, settings, django_capture_on_commit_callbacks):
    """Both audiences synced hourly to Meta, five shoppers in the targeting ledger, nobody suppressed."""
    settings.SYNC_RETRY_MAX_ATTEMPTS = 1
    settings.AUDIENCE_EVALUATION_INTERVAL_SECONDS = 24 * 3600  # keep "not evaluated on schedule" out of the way
    targeting, suppression = ads_pair()
    suppression_sync = sync_create(actor=None, audience=suppression, destination=meta_destination, every_minutes=60)
    targeting_sync = sync_create(actor=None, audience=targeting, destination=meta_destination, every_minutes=60)
    people = make_members(5)
    assert run_now(suppression_sync).state == RunState.SUCCEEDED
    assert run_now(targeting_sync).state == RunState.SUCCEEDED
    assert ledger_ids(targeting_sync) == {p.pk for p in people}
    return targeting_sync, suppression_sync, people


def convert(profile: Profile) -> None:
    """The shopper buys: they join the suppression audience (and leave the targeting one)."""
    Profile.objects.filter(pk=profile.pk).update(traits={"seg": "in", "bought": "yes"})


def test_a_leak_is_normal_for_one_cadence_and_an_alert_after_it(synced_pair, django_capture_on_commit_callbacks):
    targeting_sync, suppression_sync, people = synced_pair
    convert(people[0])
    t0 = timezone.now()
    evaluate(django_capture_on_commit_callbacks, suppression_sync.audience, t0)  # the hook checks the partner
    leaked, _aged = leak_figures(
        targeting_sync=targeting_sync, suppression=suppression_sync.audience, cutoff=t0 - 60 * MINUTE
    )
    assert leaked == 1
    assert active(AlertKind.SUPPRESSION_LEAK) == []  # converted just now: the next run removes them

    check_all(django_capture_on_commit_callbacks, t0 + 59 * MINUTE)
    assert active(AlertKind.SUPPRESSION_LEAK) == []

    check_all(django_capture_on_commit_callbacks, t0 + 61 * MINUTE)  # the hourly run never came
    alert = the_alert(AlertKind.SUPPRESSION_LEAK)
    assert alert.sync == targeting_sync and alert.severity == AlertSeverity.WARNING
    assert alert.details["leaked"] == 1 and alert.details["leaked_longer_than_cadence"] == 1
    assert "1 person in Cart 3d who have been in Bought today for longer than one cadence" in alert.message
    assert {"maria@example.com", "omar@example.com"} <= set(mail.outbox[-1].to)

    # The targeting run removes the converter: zero leaked by construction, the alert resolves.
    assert run_now(targeting_sync).state == RunState.SUCCEEDED
    assert people[0].pk not in ledger_ids(targeting_sync)
    check_all(django_capture_on_commit_callbacks, t0 + 62 * MINUTE)
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED


def test_a_failing_suppression_sync_while_targeting_keeps_syncing_alerts_at_once(
    synced_pair, meta_sandbox, django_capture_on_commit_callbacks
):
    targeting_sync, suppression_sync, people = synced_pair
    convert(people[0])
    t0 = timezone.now()
    evaluate(django_capture_on_commit_callbacks, suppression_sync.audience, t0)
    meta_sandbox.fail(1, status=400)
    assert run_now(suppression_sync).state == RunState.FAILED  # the converter never reaches Meta's suppression list
    assert run_now(targeting_sync).state == RunState.SUCCEEDED  # ... while targeting carries on

    check_all(django_capture_on_commit_callbacks, timezone.now())
    alert = the_alert(AlertKind.SUPPRESSION_LEAK)
    assert alert.severity == AlertSeverity.CRITICAL
    assert alert.details["partner_problem"] == "the suppression's sync to this destination is failing"
    assert alert.details["suppression_members_missing_at_destination"] == 1
    assert "while targeting keeps syncing" in alert.message

    assert run_now(suppression_sync).state == RunState.SUCCEEDED
    check_all(django_capture_on_commit_callbacks, timezone.now())
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED


def test_no_leak_no_alert_even_long_after(synced_pair, django_capture_on_commit_callbacks):
    _targeting_sync, suppression_sync, _people = synced_pair
    evaluate(django_capture_on_commit_callbacks, suppression_sync.audience, timezone.now())
    check_all(django_capture_on_commit_callbacks, timezone.now() + 90 * MINUTE)
    assert active(AlertKind.SUPPRESSION_LEAK) == []
