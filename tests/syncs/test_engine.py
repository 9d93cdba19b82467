"""The sync engine against the fake destination: plan vs ledger, batches, retries, row failures, resume."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from django.utils import timezone

from audience_ops.syncs.choices import PlanItemState, RunState, SyncMode
from audience_ops.syncs.models import LedgerEntry, RowFailure, SyncPlanItem, SyncRowError, SyncRun
from audience_ops.syncs.runner import LeaseLost, RunExecution, backoff_delay, claim_run, execute_run
from audience_ops.syncs.services import sync_create, sync_plan_preview, sync_request_run
from audience_ops.syncs.sweeper import sweep_runs
from tests.syncs.fakes import permanent, transient
from tests.syncs.helpers import emails, ledger_ids, make_members, member_audience, set_seg

pytestmark = pytest.mark.django_db


@pytest.fixture
def sync(marketer, fake_destination):
    audience = member_audience()
    return sync_create(actor=None, audience=audience, destination=fake_destination, mode=SyncMode.MIRROR)


def run_now(sync, **kwargs) -> SyncRun:
    run = sync_request_run(actor=None, sync=sync, enqueue=False, **kwargs)
    return execute_run(run.pk)


def test_first_run_sends_every_member_in_full_batches_and_records_the_ledger(sync, fake_platform):
    people = make_members(7)
    make_members(2, start=100, seg="out")

    run = run_now(sync)

    assert run.state == RunState.SUCCEEDED, run.error
    assert fake_platform.held() == emails(people)
    assert fake_platform.data_calls() == [("add", 3), ("add", 3), ("add", 1)]
    assert ledger_ids(sync) == {p.pk for p in people}
    assert (run.planned_adds, run.added, run.removed, run.unmatchable, run.invalid) == (7, 7, 0, 0, 0)
    assert run.match_rate == 1.0 and run.matched == 7
    assert set(run.phase_seconds) >= {"plan", "prepare", "send", "ledger"}
    sync.refresh_from_db()
    assert sync.remote_audience_id == "ca-1"


def test_ledger_keeps_the_values_sent_so_a_deleted_profile_is_still_removed(sync, fake_platform):
    people = make_members(2)
    run_now(sync)
    people[0].delete()

    run = run_now(sync)

    assert run.removed == 1
    assert fake_platform.held() == emails(people[1:])


def test_immediate_rerun_makes_no_platform_call(sync, fake_platform):
    make_members(5)
    first = run_now(sync)
    calls = len(fake_platform.calls)

    again = run_now(sync)

    assert again.state == RunState.SUCCEEDED
    assert len(fake_platform.calls) == calls
    assert (again.planned_adds, again.planned_removes, again.added) == (0, 0, 0)
    assert again.match_rate == first.match_rate


def test_mirror_removes_exactly_the_members_who_left(sync, fake_platform):
    people = make_members(6)
    run_now(sync)
    leavers = people[1:3]
    set_seg(leavers, "out")
    newcomers = make_members(1, start=50)

    run = run_now(sync)

    assert (run.planned_adds, run.planned_removes, run.added, run.removed) == (1, 2, 1, 2)
    assert fake_platform.held() == emails([*people[:1], *people[3:], *newcomers])
    assert ledger_ids(sync) == {p.pk for p in [*people[:1], *people[3:], *newcomers]}


def test_add_only_never_removes(marketer, fake_destination, fake_platform):
    sync = sync_create(actor=None, audience=member_audience(), destination=fake_destination, mode=SyncMode.ADD_ONLY)
    people = make_members(4)
    run_now(sync)
    set_seg(people, "out")

    run = run_now(sync)

    assert run.planned_removes == 0 and run.removed == 0
    assert fake_platform.held() == emails(people)
    assert [call for call in fake_platform.calls if call[0] == "remove"] == []


def test_profiles_without_a_usable_identifier_are_counted_unmatchable_and_not_sent(sync, fake_platform):
    reachable = make_members(4)
    make_members(2, start=10, email=False)

    run = run_now(sync)

    assert (run.planned_adds, run.added, run.unmatchable) == (6, 4, 2)
    assert fake_platform.held() == emails(reachable)
    # batches are filled with sendable rows: 4 rows at 3 per request is 2 calls, not 3
    assert fake_platform.data_calls() == [("add", 3), ("add", 1)]
    assert SyncPlanItem.objects.filter(run=run, state=PlanItemState.UNMATCHABLE).count() == 2


def test_data_calls_stay_within_ceil_of_adds_and_removes_per_batch(sync, fake_platform):
    people = make_members(10)
    run_now(sync)
    set_seg(people[:4], "out")
    make_members(5, start=200)
    calls = len(fake_platform.data_calls())

    run = run_now(sync)

    made = len(fake_platform.data_calls()) - calls
    assert made <= math.ceil(run.planned_adds / 3) + math.ceil(run.planned_removes / 3)
    assert made == 2 + 2


def test_transient_errors_are_retried_and_the_run_completes(sync, fake_platform):
    people = make_members(4)
    fake_platform.script = [transient(), transient("Service unavailable"), transient(retry_after=0.05)]

    run = run_now(sync)

    assert run.state == RunState.SUCCEEDED, run.error
    assert fake_platform.held() == emails(people)
    assert run.added == 4


def test_backoff_has_full_jitter_grows_and_honours_retry_after(settings):
    settings.SYNC_RETRY_BASE_SECONDS = 1.0
    settings.SYNC_RETRY_MAX_SECONDS = 60.0
    first = [backoff_delay(1) for _ in range(200)]
    fifth = [backoff_delay(5) for _ in range(200)]
    assert all(0 <= d <= 1 for d in first) and max(first) - min(first) > 0.5
    assert all(0 <= d <= 16 for d in fifth) and max(fifth) > 4
    assert all(backoff_delay(1, retry_after=7) >= 7 for _ in range(50))
    assert backoff_delay(1, retry_after=3600) <= 60


def test_a_permanent_error_fails_the_run_with_the_platform_message_and_sends_nothing_more(sync, fake_platform):
    make_members(7)
    run = sync_request_run(actor=None, sync=sync, enqueue=False)
    fake_platform.script = [permanent("Invalid OAuth 2.0 Access Token")]

    run = execute_run(run.pk)

    assert run.state == RunState.FAILED
    assert "Invalid OAuth 2.0 Access Token" in run.error
    assert len(fake_platform.calls) == 1  # the first call failed; nothing was sent after it
    assert ledger_ids(sync) == set()
    assert run.finished_at is not None and run.lease_expires_at is None


def test_after_a_run_that_kept_failing_the_next_run_sends_exactly_what_is_missing(sync, fake_platform, settings):
    settings.SYNC_RETRY_MAX_ATTEMPTS = 2
    people = make_members(7)
    # ensure + first batch succeed, then the second batch fails twice: the run gives up
    run = sync_request_run(actor=None, sync=sync, enqueue=False)
    original = fake_platform._maybe_fail
    count = {"n": 0}

    def fail_from_third_call():
        count["n"] += 1
        if count["n"] in (3, 4):
            raise transient("Too many calls")

    fake_platform._maybe_fail = fail_from_third_call
    try:
        failed = execute_run(run.pk)
    finally:
        fake_platform._maybe_fail = original

    assert failed.state == RunState.FAILED and "after 2 attempts" in failed.error
    assert failed.added == 3 and len(ledger_ids(sync)) == 3
    sent_before = sum(rows for op, rows in fake_platform.data_calls() if op == "add")

    retry = run_now(sync)

    assert retry.state == RunState.SUCCEEDED
    assert retry.planned_adds == 4
    assert fake_platform.held() == emails(people)
    assert sum(rows for op, rows in fake_platform.data_calls() if op == "add") - sent_before == 4


def test_rejected_rows_are_stored_retried_and_given_up_after_five_failures(sync, fake_platform):
    people = make_members(3)
    bad = people[1]
    fake_platform.reject = {bad.email.strip().lower()}

    runs = [run_now(sync) for _ in range(6)]

    assert runs[0].failed_rows == 1 and runs[0].added == 2
    assert SyncRowError.objects.filter(run=runs[0], profile_id=bad.pk).get().message.startswith("rejected")
    assert [r.planned_adds for r in runs] == [3, 1, 1, 1, 1, 0]
    failure = RowFailure.objects.get(sync=sync, profile_id=bad.pk)
    assert failure.consecutive == 5 and failure.gave_up
    assert bad.pk not in ledger_ids(sync)


def test_a_row_that_succeeds_again_clears_its_failure_count(sync, fake_platform):
    (person,) = make_members(1)
    fake_platform.reject = {person.email.strip().lower()}
    run_now(sync)
    fake_platform.reject = set()

    run_now(sync)

    assert not RowFailure.objects.filter(sync=sync).exists()
    assert ledger_ids(sync) == {person.pk}


def test_a_crashed_run_resumes_from_its_pending_items_without_resending_acknowledged_batches(sync, fake_platform):
    people = make_members(8)
    run = sync_request_run(actor=None, sync=sync, enqueue=False)
    # the worker plans and sends one batch, then dies
    claimed = claim_run(run.pk, worker="doomed")
    execution = RunExecution(claimed)
    original = execution.process
    sent = {"n": 0}

    def process_once(batch):
        if sent["n"] == 1:
            raise SystemExit("worker killed")
        sent["n"] += 1
        original(batch)

    execution.process = process_once
    with pytest.raises(SystemExit):
        execution.execute()
    assert SyncRun.objects.get(pk=run.pk).state == RunState.RUNNING
    assert len(ledger_ids(sync)) == 3

    # the lease runs out; the sweeper resumes the same run
    SyncRun.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    swept = sweep_runs()
    assert swept["resumed"] == [run.pk]
    assert SyncRun.objects.get(pk=run.pk).state == RunState.QUEUED
    resumed = execute_run(run.pk)

    assert resumed.state == RunState.SUCCEEDED
    assert resumed.attempts == 2 and resumed.added == 8
    assert fake_platform.held() == emails(people)
    assert sum(rows for op, rows in fake_platform.data_calls() if op == "add") == 8


def test_a_worker_that_lost_its_lease_stops_without_moving_the_ledger(sync, fake_platform):
    make_members(6)
    run = sync_request_run(actor=None, sync=sync, enqueue=False)
    claimed = claim_run(run.pk, worker="slow")
    execution = RunExecution(claimed)
    # meanwhile the lease expired and the sweeper handed the run to another worker
    SyncRun.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    sweep_runs()

    with pytest.raises(LeaseLost):
        execution.execute()
    assert ledger_ids(sync) == set()


def test_a_second_run_while_one_is_running_is_skipped(sync, fake_platform):
    make_members(2)
    first = sync_request_run(actor=None, sync=sync, enqueue=False)
    claim_run(first.pk, worker="w1")
    second = sync_request_run(actor=None, sync=sync, enqueue=False)

    skipped = execute_run(second.pk)

    assert skipped.state == RunState.SKIPPED
    assert f"Run {first.pk}" in skipped.skip_reason
    assert fake_platform.calls == []


def test_a_later_request_is_skipped_while_an_earlier_one_waits(sync, fake_platform):
    make_members(2)
    first = sync_request_run(actor=None, sync=sync, enqueue=False)
    second = sync_request_run(actor=None, sync=sync, enqueue=False)

    assert execute_run(second.pk).state == RunState.SKIPPED
    assert execute_run(first.pk).state == RunState.SUCCEEDED
    # a finished run's job delivered twice does nothing
    assert execute_run(first.pk).state == RunState.SUCCEEDED
    assert len(fake_platform.data_calls()) == 1


def test_a_new_run_supersedes_a_running_run_whose_worker_is_gone(sync, fake_platform):
    people = make_members(4)
    dead = sync_request_run(actor=None, sync=sync, enqueue=False)
    claim_run(dead.pk, worker="gone")
    SyncRun.objects.filter(pk=dead.pk).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))

    run = run_now(sync)

    assert run.state == RunState.SUCCEEDED
    dead.refresh_from_db()
    assert dead.state == RunState.FAILED and "Worker lost" in dead.error
    assert fake_platform.held() == emails(people)


def test_dry_run_stores_the_plan_and_sends_nothing(sync, fake_platform):
    make_members(5)
    make_members(1, start=40, email=False)

    preview = sync_plan_preview(sync=sync, sample=3)
    run = run_now(sync, dry_run=True)

    assert run.state == RunState.SUCCEEDED
    assert (preview.adds, preview.removes, preview.unmatchable_estimate) == (6, 0, 1)
    assert len(preview.sample_adds) == 3
    assert run.planned_adds == 6
    assert fake_platform.calls == []
    assert not LedgerEntry.objects.filter(sync=sync).exists()


def test_preview_shows_removals_for_a_mirror_sync(sync, fake_platform):
    people = make_members(3)
    run_now(sync)
    set_seg(people[:1], "out")

    preview = sync_plan_preview(sync=sync)

    assert (preview.adds, preview.removes, preview.sample_removes) == (0, 1, [people[0].pk])
    assert SyncPlanItem.objects.filter(run__dry_run=True).count() == 0
