"""Alerts are evaluated after every sync run by the engine's ``sync_run_finished`` signal, not only by the
periodic job: nobody calls ``alerts_evaluate`` (or the hook) in these tests."""

from __future__ import annotations

import pytest

from audience_ops.monitoring.choices import AlertKind, AlertState
from audience_ops.syncs.choices import RunState
from audience_ops.syncs.models import Sync, SyncRun
from audience_ops.syncs.runner import execute_run
from audience_ops.syncs.services import sync_create, sync_request_run
from audience_ops.syncs.signals import sync_run_finished
from tests.monitoring.helpers import active, live_audience, run_now, the_alert
from tests.syncs.helpers import make_members

pytestmark = pytest.mark.django_db


@pytest.fixture
def sync(marketer, ops_user, meta_destination, settings):
    settings.SYNC_RETRY_MAX_ATTEMPTS = 1
    settings.SYNC_RETRY_BASE_SECONDS = 0.001
    settings.ALERT_FAILING_RUNS = 3
    return sync_create(actor=None, audience=live_audience(), destination=meta_destination, every_minutes=60)


@pytest.fixture
def finished(django_capture_on_commit_callbacks):
    """Runs the on-commit callbacks of a block (the test's transaction never commits) and records every
    ``sync_run_finished`` sent meanwhile as (run id, state)."""
    sent: list[tuple[int, str]] = []

    def receiver(sender, run, **kwargs):
        sent.append((run.pk, run.state))

    sync_run_finished.connect(receiver, dispatch_uid="test-finished")

    def committed():
        return django_capture_on_commit_callbacks(execute=True)

    committed.sent = sent
    yield committed
    sync_run_finished.disconnect(dispatch_uid="test-finished")


def test_a_chain_of_failed_runs_opens_a_failing_sync_alert_and_a_success_resolves_it(sync, meta_sandbox, finished):
    make_members(5)
    meta_sandbox.fail(3, status=400)
    runs = []
    for number in range(3):
        with finished():
            runs.append(run_now(sync))
        assert runs[-1].state == RunState.FAILED
        if number < 2:
            assert active(AlertKind.FAILING_SYNC) == []  # two failures in a row are not yet "failing"

    alert = the_alert(AlertKind.FAILING_SYNC)
    assert alert.details["last_run"] == runs[-1].pk and alert.details["consecutive_failures"] == 3
    assert finished.sent == [(run.pk, RunState.FAILED) for run in runs]

    with finished():
        ok = run_now(sync)
    assert ok.state == RunState.SUCCEEDED
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED
    assert finished.sent[-1] == (ok.pk, RunState.SUCCEEDED)


def test_a_skipped_run_is_announced_once_it_is_recorded(sync, finished):
    make_members(2)
    run = sync_request_run(actor=None, sync=sync, enqueue=False)
    Sync.objects.filter(pk=sync.pk).update(enabled=False)  # paused after the request: the run is skipped
    with finished():
        assert execute_run(run.pk).state == RunState.SKIPPED
    assert finished.sent == [(run.pk, RunState.SKIPPED)]


def test_nothing_is_announced_before_the_end_is_committed(sync, finished, django_capture_on_commit_callbacks):
    make_members(2)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = run_now(sync)
    assert run.state == RunState.SUCCEEDED
    assert finished.sent == []  # the end is recorded, but its transaction has not committed yet
    for callback in callbacks:
        callback()
    assert (run.pk, RunState.SUCCEEDED) in finished.sent
    assert SyncRun.objects.get(pk=run.pk).state == RunState.SUCCEEDED
