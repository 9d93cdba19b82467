"""Reliability of the sync engine against the Meta sandbox over real HTTP on localhost (issue 5, section 3).

Each test ends by checking what the sandbox holds against the audience: nothing missing, nothing extra.
Tests that need a second process or real concurrency use the database through its own connections
(``transactional_db``); they run on PostgreSQL and are skipped on SQLite, whose test database lives in the
memory of the test process and cannot be shared with a worker process.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections

from audience_ops.customers.models import Profile
from audience_ops.destinations import normalise
from audience_ops.syncs.choices import RunState, SyncMode
from audience_ops.syncs.models import LedgerEntry, Sync, SyncRun
from audience_ops.syncs.runner import execute_run
from audience_ops.syncs.services import sync_create, sync_request_run
from audience_ops.syncs.sweeper import sweep_runs
from tests.syncs.helpers import make_members, member_audience, set_seg

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs a database shared with other processes and threads; the SQLite test database is in memory",
)


@pytest.fixture
def fast_retries(settings):
    settings.SYNC_RETRY_BASE_SECONDS = 0.01
    settings.SYNC_RETRY_MAX_SECONDS = 0.5


def make_sync(destination, mode: str = SyncMode.MIRROR) -> Sync:
    return sync_create(actor=None, audience=member_audience(), destination=destination, mode=mode)


def run_now(sync: Sync) -> SyncRun:
    return execute_run(sync_request_run(actor=None, sync=sync, enqueue=False).pk)


def expected_hashes(sync: Sync) -> set[str]:
    """What the destination must hold: the hashed email of every current member."""
    emails = Profile.objects.filter(traits__seg="in").exclude(email=None).values_list("email", flat=True)
    return {normalise.hashed_email(email) for email in emails}


def held(meta_sandbox, sync: Sync) -> set[str]:
    sync.refresh_from_db()
    return meta_sandbox.member_values(sync.remote_audience_id, "EMAIL")


def add_rows_sent(meta_sandbox) -> int:
    """Rows of the add calls the sandbox applied (a refused call carries none)."""
    return sum(call.get("rows", 0) for call in meta_sandbox.data_calls() if call["op"] == "add")


# --- crash safety ------------------------------------------------------------------------------------------


def _worker_env(**extra: str) -> dict[str, str]:
    db = connection.settings_dict
    env = os.environ.copy()
    env.update(
        DJANGO_SETTINGS_MODULE="audience_ops.settings.test",
        DATABASE_URL=f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
        f"{db['NAME']}",
        REDIS_URL=settings.RQ_REDIS_URL,
        **extra,
    )
    return env


def _start_worker(env: dict[str, str], *, burst: bool) -> subprocess.Popen:
    command = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "rqworker", "syncs"]
    if burst:
        command.append("--burst")
    # A session of its own, so the test can kill the worker's whole process group as a lost host would.
    return subprocess.Popen(
        command, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_sigkill_of_the_worker_mid_sync_loses_nothing_and_resends_no_acknowledged_batch(
    marketer, meta_destination, meta_sandbox, rq_queues, settings
):
    make_members(60)
    sync = make_sync(meta_destination)
    meta_sandbox.hang(1000, 0.2)  # every call takes a while, so the kill lands mid-sync
    env = _worker_env(SYNC_MAX_BATCH_SIZE="5", SYNC_LEASE_SECONDS="2")
    worker = _start_worker(env, burst=False)
    try:
        run = sync_request_run(actor=None, sync=sync)  # committed: enqueued for the worker
        deadline = time.monotonic() + 60
        while LedgerEntry.objects.filter(sync=sync).count() < 15:
            assert time.monotonic() < deadline, "the worker never got going"
            assert worker.poll() is None
            time.sleep(0.05)
        # RQ runs the job in a work horse it forked into a session of its own: the run names its pid.
        horse_pid = int(SyncRun.objects.get(pk=run.pk).worker.rsplit(":", 1)[1])
        os.kill(horse_pid, signal.SIGKILL)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    acknowledged = LedgerEntry.objects.filter(sync=sync).count()
    killed = SyncRun.objects.get(pk=run.pk)
    assert killed.state == RunState.RUNNING and acknowledged < 60

    # The lease (2 s here, 5 minutes by default) runs out; the sweeper gives the run to a new worker.
    time.sleep(2.5)
    settings.SYNC_REQUEUE_AFTER_SECONDS = 3600
    assert sweep_runs()["resumed"] == [run.pk]
    meta_sandbox.hang(0, 0)
    recovery = _start_worker(env, burst=True)
    assert recovery.wait(timeout=120) == 0

    run = SyncRun.objects.get(pk=run.pk)
    assert run.state == RunState.SUCCEEDED, run.error
    assert run.attempts == 2 and run.added == 60
    assert held(meta_sandbox, sync) == expected_hashes(sync)
    # Only the batch in flight at the kill (sent, never acknowledged) can have been sent twice.
    assert 60 <= add_rows_sent(meta_sandbox) <= 60 + 5
    assert not SyncRun.objects.filter(state=RunState.RUNNING).exists()
    calls = len(meta_sandbox.request_log())
    assert run_now(sync).added == 0 and len(meta_sandbox.request_log()) == calls


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_enqueues_run_once_and_the_rest_are_skipped(marketer, meta_destination, meta_sandbox, settings):
    make_members(12)
    sync = make_sync(meta_destination)
    settings.SYNC_MAX_BATCH_SIZE = 4
    meta_sandbox.hang(1000, 0.1)
    runs = [sync_request_run(actor=None, sync=sync, enqueue=False) for _ in range(10)]
    start = threading.Barrier(len(runs))
    errors: list[BaseException] = []

    def work(run_id: int) -> None:
        try:
            start.wait()
            execute_run(run_id, worker=f"thread-{run_id}")
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(run.pk,)) for run in reversed(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    states = sorted(SyncRun.objects.filter(sync=sync).values_list("state", flat=True))
    assert states.count(RunState.SUCCEEDED) == 1 and states.count(RunState.SKIPPED) == 9
    assert all(r.skip_reason for r in SyncRun.objects.filter(state=RunState.SKIPPED))
    assert add_rows_sent(meta_sandbox) == 12
    assert held(meta_sandbox, sync) == expected_hashes(sync)


# --- platform errors ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_throttling_then_server_errors_are_ridden_out_with_backoff(
    marketer, meta_destination, meta_sandbox, settings, fast_retries
):
    make_members(9)
    sync = make_sync(meta_destination)
    settings.SYNC_MAX_BATCH_SIZE = 3
    meta_sandbox.throttle(3, 80003, retry_after=0.3)
    started = time.monotonic()

    run = run_now(sync)
    meta_sandbox.fail(2, status=500)
    make_members(3, start=100)
    second = run_now(sync)

    assert run.state == RunState.SUCCEEDED, run.error
    assert second.state == RunState.SUCCEEDED, second.error
    assert time.monotonic() - started >= 0.9  # three throttles, each honoured for its Retry-After
    log = meta_sandbox.request_log()
    assert [entry.get("error_code") for entry in log].count(80003) == 3
    assert [entry.get("status") for entry in log].count(500) == 2
    assert held(meta_sandbox, sync) == expected_hashes(sync)
    assert add_rows_sent(meta_sandbox) == 12


@pytest.mark.django_db
def test_an_invalid_token_fails_the_run_with_the_platform_message_and_sends_nothing_more(
    marketer, meta_destination, meta_sandbox, settings
):
    people = make_members(6)
    sync = make_sync(meta_destination)
    settings.SYNC_MAX_BATCH_SIZE = 2
    run_now(sync)
    make_members(6, start=100)
    set_seg(people[:2], "out")
    meta_sandbox.reject_token()
    calls = len(meta_sandbox.request_log())

    failed = run_now(sync)

    assert failed.state == RunState.FAILED
    assert "190" in failed.error and "access token" in failed.error.lower()
    assert len(meta_sandbox.request_log()) == calls + 1  # the refused call, and nothing after it
    assert failed.added == 0 and failed.removed == 0

    meta_sandbox.accept_token()
    again = run_now(sync)
    assert (again.state, again.added, again.removed) == (RunState.SUCCEEDED, 6, 2)
    assert held(meta_sandbox, sync) == expected_hashes(sync)


@pytest.mark.django_db
def test_a_call_hanging_past_its_timeout_fails_that_batch_and_is_retried(
    marketer, meta_destination, meta_sandbox, settings, fast_retries
):
    make_members(4)
    sync = make_sync(meta_destination)
    settings.DESTINATION_HTTP_TIMEOUT = (2.0, 0.5)
    meta_sandbox.hang(1, 1.5, ops=["add"])

    run = run_now(sync)

    assert run.state == RunState.SUCCEEDED, run.error
    assert run.added == 4
    assert held(meta_sandbox, sync) == expected_hashes(sync)
    assert len([c for c in meta_sandbox.data_calls() if c["op"] == "add"]) == 2  # the timed-out one, the retry


# --- plan vs ledger ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_mirror_removes_exactly_the_leavers_and_add_only_never_removes(marketer, meta_destination, meta_sandbox):
    people = make_members(8)
    mirror = make_sync(meta_destination)
    run_now(mirror)
    set_seg(people[:3], "out")

    run = run_now(mirror)

    assert (run.planned_removes, run.removed) == (3, 3)
    assert held(meta_sandbox, mirror) == expected_hashes(mirror)
    assert [c.get("rows") for c in meta_sandbox.data_calls() if c["op"] == "remove"] == [3]

    add_only = sync_create(
        actor=None, audience=member_audience("add-only-copy"), destination=meta_destination, mode=SyncMode.ADD_ONLY
    )
    set_seg(people[:3], "in")
    run_now(add_only)
    set_seg(people, "out")
    quiet = run_now(add_only)
    assert (quiet.planned_removes, quiet.removed) == (0, 0)
    assert len(held(meta_sandbox, add_only)) == 8
    assert [c.get("rows") for c in meta_sandbox.data_calls() if c["op"] == "remove"] == [3]


@pytest.mark.django_db
def test_25k_audience_uses_the_fewest_calls_and_an_unchanged_rerun_makes_none(marketer, meta_destination, meta_sandbox):
    people = make_members(25_000)
    sync = make_sync(meta_destination)

    first = run_now(sync)

    assert first.state == RunState.SUCCEEDED, first.error
    assert [c.get("rows") for c in meta_sandbox.data_calls()] == [10_000, 10_000, 5_000]
    assert 0.6 < first.match_rate < 0.8  # the sandbox knows about 70% of emails
    assert held(meta_sandbox, sync) == expected_hashes(sync)

    calls = len(meta_sandbox.request_log())
    assert run_now(sync).planned_adds == 0
    assert len(meta_sandbox.request_log()) == calls  # no change, no call at all

    set_seg(people[:150], "out")
    make_members(100, start=90_000)
    data_calls = len(meta_sandbox.data_calls())
    change = run_now(sync)
    made = len(meta_sandbox.data_calls()) - data_calls
    assert (change.added, change.removed) == (100, 150)
    assert made <= math.ceil(change.planned_adds / 10_000) + math.ceil(change.planned_removes / 10_000)
    assert held(meta_sandbox, sync) == expected_hashes(sync)
