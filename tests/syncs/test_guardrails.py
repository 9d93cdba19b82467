"""The large-change guardrail, through real runs against the Meta sandbox: a run that would change too much is
held before sending, alerts and notifies, and sends exactly its plan once ops approve (or nothing if cancelled)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audience_ops.audit.models import AuditEvent
from audience_ops.destinations.normalise import hashed_email
from audience_ops.monitoring.choices import AlertKind, AlertSeverity, AlertState
from audience_ops.monitoring.models import Alert
from audience_ops.syncs.choices import RunState, RunTrigger
from audience_ops.syncs.guardrails import run_approve, run_cancel
from audience_ops.syncs.models import Sync, SyncRun
from audience_ops.syncs.runner import execute_run
from audience_ops.syncs.services import sync_create, sync_request_run
from audience_ops.syncs.sweeper import schedule_due_syncs, sweep_runs
from tests.syncs.helpers import ledger_ids, make_members, member_audience, set_seg

pytestmark = pytest.mark.django_db


@pytest.fixture
def sync(marketer, ops_user, meta_destination, settings):
    settings.SYNC_RETRY_MAX_ATTEMPTS = 1
    settings.SYNC_GUARDRAIL_MIN_ROWS = 3  # the site default is 100; these audiences are small
    audience = member_audience()
    return sync_create(actor=None, audience=audience, destination=meta_destination)


def run_now(sync, capture, **kwargs) -> SyncRun:
    """Request and run ``sync`` in the foreground, sending what its commits trigger (alerts, mail)."""
    run = sync_request_run(actor=None, sync=sync, enqueue=False, **kwargs)
    with capture(execute=True):
        return execute_run(run.pk)


def held_emails(meta_sandbox, sync) -> set[str]:
    sync.refresh_from_db()
    return meta_sandbox.member_values(sync.remote_audience_id, "EMAIL")


def hashes(profiles) -> set[str]:
    return {hashed_email(p.email) for p in profiles}


def large_change_alerts() -> list[Alert]:
    return list(Alert.objects.filter(kind=AlertKind.LARGE_CHANGE).order_by("pk"))


@pytest.fixture
def loaded(sync, meta_sandbox, django_capture_on_commit_callbacks):
    """Ten people already at Meta: the first load (nothing to compare with) is never held."""
    people = make_members(10)
    first = run_now(sync, django_capture_on_commit_callbacks)
    assert first.state == RunState.SUCCEEDED, first.error
    assert held_emails(meta_sandbox, sync) == hashes(people)
    mail.outbox.clear()
    return people


def test_a_run_removing_too_many_is_held_alerted_and_sends_nothing(
    sync, loaded, meta_sandbox, django_capture_on_commit_callbacks
):
    set_seg(loaded[:3], "out")  # 3 of 10 = 30% > 20%
    calls_before = len(meta_sandbox.data_calls())

    run = run_now(sync, django_capture_on_commit_callbacks)

    assert run.state == RunState.AWAITING_APPROVAL
    assert (run.planned_adds, run.planned_removes, run.removed) == (0, 3, 0)
    assert "remove 3 of the 10 people" in run.hold_reason and "20%" in run.hold_reason
    assert len(meta_sandbox.data_calls()) == calls_before  # nothing sent
    assert held_emails(meta_sandbox, sync) == hashes(loaded)
    assert ledger_ids(sync) == {p.pk for p in loaded}
    (alert,) = large_change_alerts()
    assert alert.state == AlertState.OPEN and alert.sync == sync and alert.severity == AlertSeverity.WARNING
    assert alert.details["run"] == run.pk and f"Run #{run.pk}" in alert.message
    assert mail.outbox and "Large change" in mail.outbox[0].subject
    assert AuditEvent.objects.filter(action="sync.run_held").count() == 1


def test_approving_sends_exactly_the_stored_plan_and_resolves_the_alert(
    sync, loaded, meta_sandbox, ops_user, django_capture_on_commit_callbacks
):
    set_seg(loaded[:3], "out")
    held = run_now(sync, django_capture_on_commit_callbacks)
    # The audience changes again while the run waits: approval sends the plan ops saw, not a new one.
    make_members(1, start=500)

    with django_capture_on_commit_callbacks(execute=False):
        run_approve(actor=ops_user, run=held, enqueue=False)
    run = execute_run(held.pk)

    assert run.state == RunState.SUCCEEDED, run.error
    assert (run.removed, run.added) == (3, 0)
    assert held_emails(meta_sandbox, sync) == hashes(loaded[3:])
    assert run.decided_by == ops_user and run.large_change_approved
    (alert,) = large_change_alerts()
    assert alert.state == AlertState.RESOLVED
    event = AuditEvent.objects.get(action="sync.run_approve")
    assert event.actor == ops_user and event.after["run"] == run.pk


def test_cancelling_sends_nothing_and_resolves_the_alert(
    sync, loaded, meta_sandbox, ops_user, django_capture_on_commit_callbacks
):
    set_seg(loaded[:5], "out")
    held = run_now(sync, django_capture_on_commit_callbacks)
    calls_before = len(meta_sandbox.data_calls())

    run = run_cancel(actor=ops_user, run=held, note="definition bug, fixing it")

    assert run.state == RunState.CANCELLED and run.finished_at is not None
    assert execute_run(run.pk).state == RunState.CANCELLED  # a late job delivery does nothing
    assert len(meta_sandbox.data_calls()) == calls_before
    assert held_emails(meta_sandbox, sync) == hashes(loaded)
    (alert,) = large_change_alerts()
    assert alert.state == AlertState.RESOLVED
    event = AuditEvent.objects.get(action="sync.run_cancel")
    assert event.actor == ops_user and event.reason == "definition bug, fixing it"
    with pytest.raises(Exception, match="only a held run"):
        run_approve(actor=ops_user, run=run)


def test_an_empty_audience_never_wipes_the_destination_without_approval(
    sync, meta_sandbox, settings, django_capture_on_commit_callbacks
):
    settings.SYNC_GUARDRAIL_MIN_ROWS = 100  # far more than the change: the percentages cannot trip
    Sync.objects.filter(pk=sync.pk).update(max_remove_percent=100)
    people = make_members(2)
    assert run_now(sync, django_capture_on_commit_callbacks).state == RunState.SUCCEEDED
    set_seg(people, "out")  # the audience is now empty

    run = run_now(sync, django_capture_on_commit_callbacks)

    assert run.state == RunState.AWAITING_APPROVAL
    assert "remove everyone" in run.hold_reason
    assert held_emails(meta_sandbox, sync) == hashes(people)
    (alert,) = large_change_alerts()
    assert alert.severity == AlertSeverity.CRITICAL


def test_a_large_add_is_held_and_small_changes_pass(sync, loaded, meta_sandbox, django_capture_on_commit_callbacks):
    set_seg(loaded[:2], "out")  # 2 people: under the minimum of 3, so 20% does not trip
    small = run_now(sync, django_capture_on_commit_callbacks)
    assert small.state == RunState.SUCCEEDED and small.removed == 2

    make_members(6, start=100)  # 6 added to the 8 held = 75% > 50%
    run = run_now(sync, django_capture_on_commit_callbacks)
    assert run.state == RunState.AWAITING_APPROVAL and "add 6 people to the 8" in run.hold_reason

    Sync.objects.filter(pk=sync.pk).update(max_add_percent=100)  # a per-sync limit wins over the default
    run_cancel(actor=None, run=run)
    assert run_now(sync, django_capture_on_commit_callbacks).state == RunState.SUCCEEDED


def test_newer_runs_are_skipped_while_one_waits_and_the_sweeper_leaves_it_alone(
    sync, loaded, django_capture_on_commit_callbacks
):
    set_seg(loaded[:4], "out")
    held = run_now(sync, django_capture_on_commit_callbacks)
    Sync.objects.filter(pk=sync.pk).update(every_minutes=30, next_run_at=timezone.now() - dt.timedelta(minutes=1))

    with django_capture_on_commit_callbacks(execute=False):
        (scheduled_id,) = schedule_due_syncs()
    scheduled = execute_run(scheduled_id)
    assert scheduled.trigger == RunTrigger.SCHEDULE and scheduled.state == RunState.SKIPPED
    assert f"Run {held.pk} of this sync is waiting for ops to approve" in scheduled.skip_reason

    later = timezone.now() + dt.timedelta(days=1)
    assert sweep_runs(now=later) == {"requeued": [], "resumed": [], "failed": []}
    held.refresh_from_db()
    assert held.state == RunState.AWAITING_APPROVAL
    assert execute_run(held.pk).state == RunState.AWAITING_APPROVAL  # a worker never picks it up by itself


def test_cli_prints_the_plan_and_fails_without_allow_large_change(
    sync, loaded, meta_sandbox, capsys, django_capture_on_commit_callbacks
):
    set_seg(loaded[:5], "out")
    with (
        pytest.raises(CommandError, match="large change and was not sent") as failure,
        django_capture_on_commit_callbacks(execute=True),
    ):
        call_command("syncs", "run", sync.audience.slug, sync.destination.name)
    assert failure.value.returncode == 1
    out = capsys.readouterr().out
    assert '"state": "awaiting_approval"' in out and '"planned_removes": 5' in out
    assert "cus_000000" in out  # a sample of the removals
    assert held_emails(meta_sandbox, sync) == hashes(loaded)

    with pytest.raises(CommandError, match="needs --by USER"):
        call_command("syncs", "run", sync.audience.slug, sync.destination.name, "--allow-large-change")


def test_cli_allow_large_change_is_the_approval_recorded_under_the_user(
    sync, loaded, meta_sandbox, ops_user, marketer, capsys, django_capture_on_commit_callbacks
):
    set_seg(loaded[:5], "out")
    held = run_now(sync, django_capture_on_commit_callbacks)

    with pytest.raises(Exception, match="may not do this"):
        call_command(
            "syncs", "run", sync.audience.slug, sync.destination.name, "--allow-large-change", "--by", marketer.username
        )
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "syncs", "run", sync.audience.slug, sync.destination.name, "--allow-large-change", "--by", ops_user.username
        )

    assert '"state": "succeeded"' in capsys.readouterr().out
    assert held_emails(meta_sandbox, sync) == hashes(loaded[5:])
    run = SyncRun.objects.filter(sync=sync, trigger=RunTrigger.CLI).get()
    assert run.large_change_approved and run.decided_by == ops_user and run.removed == 5
    held.refresh_from_db()
    assert held.state == RunState.CANCELLED  # superseded by the approved run
    approval = AuditEvent.objects.get(action="sync.run_approve")
    assert approval.actor == ops_user and approval.after == {"run": run.pk, "in_advance": True}
    assert all(alert.state == AlertState.RESOLVED for alert in large_change_alerts())


def test_ops_see_the_plan_on_the_run_page_and_approve_it(
    sync, loaded, meta_sandbox, ops_client, marketer, rq_queues, django_capture_on_commit_callbacks
):
    marketer_client = Client()
    marketer_client.force_login(marketer)
    set_seg(loaded[:4], "out")
    held = run_now(sync, django_capture_on_commit_callbacks)
    url = reverse("syncs:run_detail", args=[held.pk])

    page = ops_client.get(url).content.decode()
    assert "Waiting for approval" in page and "remove 4 of the 10 people" in page
    assert "cus_000000" in page and "Approve and send this plan" in page
    assert "Approve and send this plan" not in marketer_client.get(url).content.decode()
    assert marketer_client.post(reverse("syncs:run_approve", args=[held.pk])).status_code == 403

    with django_capture_on_commit_callbacks(execute=True):
        response = ops_client.post(reverse("syncs:run_approve", args=[held.pk]))
    assert response.status_code == 302
    held.refresh_from_db()
    assert held.state == RunState.QUEUED and held.large_change_approved
    assert execute_run(held.pk).state == RunState.SUCCEEDED
    assert held_emails(meta_sandbox, sync) == hashes(loaded[4:])
    assert "Large change approved by" in ops_client.get(url).content.decode()


def test_ops_set_a_syncs_own_limits_and_the_sync_page_shows_a_held_run(
    sync, loaded, ops_client, django_capture_on_commit_callbacks
):
    url = reverse("syncs:guardrails", args=[sync.pk])
    assert 'placeholder="default 20"' in ops_client.get(url).content.decode()
    bad = ops_client.post(url, {"max_remove_percent": "150"})
    assert bad.status_code == 400

    response = ops_client.post(url, {"max_remove_percent": "50", "max_add_percent": "", "guardrail_min_rows": "1"})

    assert response.status_code == 302
    sync.refresh_from_db()
    assert (sync.max_remove_percent, sync.max_add_percent, sync.guardrail_min_rows) == (50, None, 1)
    event = AuditEvent.objects.get(action="sync.guardrails")
    assert event.before["max_remove_percent"] is None and event.after["max_remove_percent"] == 50
    set_seg(loaded[:4], "out")  # 40%: within the sync's own 50%
    assert run_now(sync, django_capture_on_commit_callbacks).state == RunState.SUCCEEDED

    set_seg(loaded[4:], "out")  # everyone left: held whatever the limits
    held = run_now(sync, django_capture_on_commit_callbacks)
    assert held.state == RunState.AWAITING_APPROVAL
    page = ops_client.get(reverse("syncs:detail", args=[sync.pk])).content.decode()
    assert f"Run #{held.pk}</a> is waiting for approval" in page and "more than 50%" in page
