"""Requests are an outbox: the run row commits with the request, the job is enqueued after commit, and the
sweeper puts back what Redis lost. Also the scheduler and the retire hook, which request runs the same way."""

from __future__ import annotations

import datetime as dt

import django_rq
import pytest
from django.db import transaction
from django.utils import timezone
from redis import Redis
from rq import Queue, SimpleWorker

from audience_ops.audiences.models import Audience
from audience_ops.audiences.signals import audience_status_changed
from audience_ops.syncs import dispatch
from audience_ops.syncs.choices import RunState, RunTrigger, SyncMode
from audience_ops.syncs.models import Sync, SyncRun
from audience_ops.syncs.runner import claim_run, execute_run
from audience_ops.syncs.services import sync_create, sync_request_run
from audience_ops.syncs.sweeper import schedule_due_syncs, sweep_runs
from tests.syncs.helpers import emails, make_members, member_audience

pytestmark = pytest.mark.django_db


@pytest.fixture
def sync(marketer, fake_destination):
    return sync_create(actor=None, audience=member_audience(), destination=fake_destination, mode=SyncMode.MIRROR)


class InProcessWorker(SimpleWorker):
    """RQ's in-process worker (the job sees the test's database), tolerant of the embedded server."""

    def _set_ip_address(self, connection) -> None:
        try:
            super()._set_ip_address(connection)
        except (ValueError, KeyError):
            self.ip_address = "embedded"


def syncs_queue() -> Queue:
    return django_rq.get_queue(dispatch.SYNC_QUEUE)


def test_a_committed_request_enqueues_exactly_one_job_which_runs_the_sync(
    sync, rq_queues, fake_platform, django_capture_on_commit_callbacks
):
    people = make_members(4)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run = sync_request_run(actor=None, sync=sync)
        assert syncs_queue().count == 0  # nothing before commit

    assert len(callbacks) == 1
    assert syncs_queue().job_ids == [dispatch.run_job_id(run.pk)]
    InProcessWorker([syncs_queue()], connection=syncs_queue().connection).work(burst=True)
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED, run.error
    assert fake_platform.held() == emails(people)


def test_a_rolled_back_request_enqueues_nothing(sync, rq_queues, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        sync_request_run(actor=None, sync=sync)
        raise RuntimeError("the caller failed after asking")

    assert callbacks == []
    assert syncs_queue().count == 0
    assert not SyncRun.objects.exists()


def test_with_redis_down_at_commit_the_sweeper_enqueues_the_run_once_redis_is_back(
    sync, rq_queues, settings, monkeypatch, django_capture_on_commit_callbacks
):
    dead = Queue(dispatch.SYNC_QUEUE, connection=Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2))
    monkeypatch.setattr(dispatch.django_rq, "get_queue", lambda name, **kwargs: dead)
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_request_run(actor=None, sync=sync)  # does not raise: the run is committed and waits
    monkeypatch.undo()
    assert SyncRun.objects.get(pk=run.pk).state == RunState.QUEUED
    assert syncs_queue().count == 0

    settings.SYNC_REQUEUE_AFTER_SECONDS = 0
    assert sweep_runs()["requeued"] == [run.pk]
    sweep_runs()  # a second sweep while the job waits does not enqueue it again

    assert syncs_queue().job_ids == [dispatch.run_job_id(run.pk)]


def test_a_recently_requested_run_is_left_to_its_job(sync, rq_queues):
    run = sync_request_run(actor=None, sync=sync, enqueue=False)
    assert sweep_runs()["requeued"] == []
    assert SyncRun.objects.get(pk=run.pk).state == RunState.QUEUED


def test_no_run_stays_running_after_its_lease_expired(sync, rq_queues, settings):
    settings.SYNC_MAX_RUN_ATTEMPTS = 2
    run = sync_request_run(actor=None, sync=sync, enqueue=False)
    claim_run(run.pk, worker="lost")
    expired = timezone.now() - dt.timedelta(seconds=1)
    SyncRun.objects.filter(pk=run.pk).update(lease_expires_at=expired)

    assert sweep_runs()["resumed"] == [run.pk]
    assert SyncRun.objects.get(pk=run.pk).state == RunState.QUEUED
    assert syncs_queue().job_ids == [dispatch.run_job_id(run.pk)]

    claim_run(run.pk, worker="lost again")  # attempt 2 dies too
    SyncRun.objects.filter(pk=run.pk).update(lease_expires_at=expired)
    assert sweep_runs()["failed"] == [run.pk]
    run.refresh_from_db()
    assert run.state == RunState.FAILED and "Worker lost" in run.error
    assert not SyncRun.objects.filter(state=RunState.RUNNING, lease_expires_at__lt=timezone.now()).exists()


def test_the_schedule_requests_due_syncs_once_and_computes_the_next_time(
    sync, rq_queues, django_capture_on_commit_callbacks
):
    now = timezone.now()
    Sync.objects.filter(pk=sync.pk).update(every_minutes=10, next_run_at=now - dt.timedelta(seconds=5))
    with django_capture_on_commit_callbacks(execute=True):
        requested = schedule_due_syncs(now=now)
        assert schedule_due_syncs(now=now) == []

    assert len(requested) == 1
    run = SyncRun.objects.get(pk=requested[0])
    assert run.trigger == RunTrigger.SCHEDULE and run.state == RunState.QUEUED
    assert Sync.objects.get(pk=sync.pk).next_run_at == now + dt.timedelta(minutes=10)
    assert syncs_queue().job_ids == [dispatch.run_job_id(run.pk)]

    # still queued at the next tick: not requested again, but the next time moves on
    later = now + dt.timedelta(minutes=11)
    assert schedule_due_syncs(now=later) == []
    assert Sync.objects.get(pk=sync.pk).next_run_at == later + dt.timedelta(minutes=10)


def test_a_cron_sync_is_scheduled_at_its_next_cron_time(sync):
    now = dt.datetime(2026, 11, 28, 12, 7, tzinfo=dt.UTC)
    Sync.objects.filter(pk=sync.pk).update(cron="*/30 * * * *", next_run_at=now)
    schedule_due_syncs(now=now)
    assert Sync.objects.get(pk=sync.pk).next_run_at == dt.datetime(2026, 11, 28, 12, 30, tzinfo=dt.UTC)


def test_paused_syncs_are_not_scheduled(sync):
    Sync.objects.filter(pk=sync.pk).update(enabled=False, every_minutes=5, next_run_at=timezone.now())
    assert schedule_due_syncs() == []


def test_retiring_an_audience_disables_its_syncs_and_removes_everyone(
    sync, fake_platform, rq_queues, django_capture_on_commit_callbacks
):
    make_members(5)
    execute_run(sync_request_run(actor=None, sync=sync, enqueue=False).pk)
    assert len(fake_platform.held()) == 5
    audience = Audience.objects.get(pk=sync.audience_id)
    Audience.objects.filter(pk=audience.pk).update(status="retired")
    audience.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        audience_status_changed.send(sender=Audience, audience=audience, before="live", after="retired", actor=None)

    sync.refresh_from_db()
    assert not sync.enabled and sync.next_run_at is None
    final = SyncRun.objects.get(sync=sync, trigger=RunTrigger.RETIRE)
    assert syncs_queue().job_ids == [dispatch.run_job_id(final.pk)]
    final = execute_run(final.pk)
    assert (final.state, final.removed) == (RunState.SUCCEEDED, 5)
    assert fake_platform.held() == set()


def test_pausing_an_audience_pauses_its_syncs_without_removing(sync, fake_platform):
    audience = Audience.objects.get(pk=sync.audience_id)
    audience_status_changed.send(sender=Audience, audience=audience, before="live", after="paused", actor=None)
    sync.refresh_from_db()
    assert not sync.enabled
    assert not SyncRun.objects.filter(sync=sync).exists()


def test_the_final_removal_runs_even_behind_a_waiting_run(sync, fake_platform, django_capture_on_commit_callbacks):
    make_members(3)
    execute_run(sync_request_run(actor=None, sync=sync, enqueue=False).pk)
    waiting = sync_request_run(actor=None, sync=sync, enqueue=False)  # requested, not started yet
    audience = Audience.objects.get(pk=sync.audience_id)
    Audience.objects.filter(pk=audience.pk).update(status="retired")
    audience.refresh_from_db()
    audience_status_changed.send(sender=Audience, audience=audience, before="live", after="retired", actor=None)
    final = SyncRun.objects.get(sync=sync, trigger=RunTrigger.RETIRE)

    assert execute_run(final.pk).removed == 3
    assert execute_run(waiting.pk).state == RunState.SKIPPED  # the sync is paused now
    assert fake_platform.held() == set()
