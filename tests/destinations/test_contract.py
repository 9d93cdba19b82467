"""The contract every destination kind keeps, run against each one's sandbox over real HTTP (the warehouse
against real PostgreSQL): a crashed run is caught up by the next, throttling and 5xx are ridden out, a
permanent error fails the run with the platform's message and stops calling, mirror removes exactly the
leavers and add_only never removes, and an unchanged re-run sends nothing.

Each kind has a small driver: how to create its destination, read what it holds (as a set of comparable
values), inject throttling and failures, and revoke its credentials.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest

from audience_ops.customers.models import Profile
from audience_ops.destinations import normalise
from audience_ops.destinations.services import destination_update
from audience_ops.syncs.choices import RunState, SyncMode
from audience_ops.syncs.models import SyncRun
from audience_ops.syncs.runner import RunExecution, execute_run
from audience_ops.syncs.services import sync_create, sync_request_run
from tests.syncs.helpers import member_audience

pytestmark = pytest.mark.django_db

KINDS = ("meta", "tiktok", "google", "warehouse", "analytics", "webhook")
CONSENT = {"consent_ad_user_data": True, "consent_ad_personalization": True}


class Crash(BaseException):
    """Stands for the worker process dying: not an Exception, so nothing in the engine catches it."""


@dataclass
class Driver:
    kind: str
    destination: Any
    client: Any
    request: Any
    kills: dict[str, int] | None = None

    # --- what the destination holds ------------------------------------------------------------------

    def held(self, sync) -> set[str]:
        sync.refresh_from_db()
        remote = sync.remote_audience_id
        if self.kind in ("warehouse", "analytics", "webhook"):
            return set(self.client.members(sync.audience.slug))
        if not remote:
            return set()
        if self.kind == "meta":
            return self.client.member_values(remote, "EMAIL")
        if self.kind == "tiktok":
            return self.client.member_values(remote, "EMAIL_SHA256")
        return self.client.member_values(remote, "emailAddress")

    def expected(self, profiles) -> set[str]:
        if self.kind in ("warehouse", "analytics", "webhook"):
            return {p.external_id for p in profiles}
        return {normalise.hashed_email(p.email) for p in profiles}

    def data_calls(self) -> int:
        if self.kind == "warehouse":
            rows = self.client.query("SELECT count(*) FROM {schema}.membership_changes")
            return (rows[0][0] if rows else 0) + self.client.staged()
        return len(self.client.data_calls())

    # --- knobs ---------------------------------------------------------------------------------------

    def throttle_then_fail(self, monkeypatch) -> None:
        if self.kind == "meta":
            self.client.throttle(2, 80003)
            self.client.fail(2, status=500)
        elif self.kind == "tiktok":
            self.client.throttle(2)
            self.client.fail(2, status=500)
        elif self.kind == "google":
            self.client.throttle(2, retry_after=0)
            self.client.fail(2, status=503)
        elif self.kind in ("analytics", "webhook"):
            self.client.throttle(2, retry_after=0)
            self.client.fail(2, status=502)
        else:
            self.kills = kill_warehouse_connection(monkeypatch, times=3)

    def revoke(self) -> str:
        """Make the credentials invalid; returns a fragment of the platform's message the run must show."""
        if self.kind in ("meta", "tiktok", "google", "analytics", "webhook"):
            self.client.reject_token()
            return {
                "meta": "Invalid OAuth access token",
                "tiktok": "access token is invalid",
                "google": "invalid authentication credentials",
                "analytics": "Invalid write key",
                "webhook": "HTTP 401",
            }[self.kind]
        url = self.client.url.rsplit("/", 1)[0] + "/ao_no_such_warehouse"
        destination_update(actor=None, destination=self.destination, config=self.client.destination_config(url=url))
        return "does not exist"


def kill_warehouse_connection(monkeypatch, *, times: int) -> dict[str, int]:
    """The next ``times`` staged batches find their warehouse connection terminated by the server."""
    import psycopg

    from audience_ops.destinations.adapters.warehouse import PostgresWarehouseAdapter

    original = PostgresWarehouseAdapter._stage
    left = {"n": times}

    def stage(self, change, *, remote_id, rows):
        if left["n"] > 0:
            left["n"] -= 1
            conn = self._connect()
            with psycopg.connect(self.config["url"], autocommit=True) as killer:
                killer.execute("SELECT pg_terminate_backend(%s)", [conn.info.backend_pid])
        return original(self, change, remote_id=remote_id, rows=rows)

    monkeypatch.setattr(PostgresWarehouseAdapter, "_stage", stage)
    return left


@pytest.fixture(params=KINDS)
def driver(request, settings, marketer) -> Driver:
    settings.SYNC_RETRY_BASE_SECONDS = 0.001
    settings.SYNC_RETRY_MAX_SECONDS = 0.01
    settings.SYNC_GUARDRAIL_MIN_ROWS = 10**9  # these tests are about the destination, not the guardrail
    kind = request.param
    fixtures = {
        "meta": ("meta_destination", "meta_sandbox"),
        "tiktok": ("tiktok_destination", "tiktok_sandbox"),
        "google": ("google_destination", "google_sandbox"),
        "warehouse": ("warehouse_destination", "warehouse"),
        "analytics": ("segment_destination", "segment_receiver"),
        "webhook": ("webhook_destination", "webhook_receiver"),
    }[kind]
    destination = request.getfixturevalue(fixtures[0])
    client = request.getfixturevalue(fixtures[1])
    return Driver(kind=kind, destination=destination, client=client, request=request)


def people(count: int, *, start: int = 0) -> list[Profile]:
    return Profile.objects.bulk_create(
        Profile(external_id=f"cus_{i:06d}", email=f"person{i}@example.com", traits={"seg": "in", **CONSENT})
        for i in range(start, start + count)
    )


def leave(profiles: list[Profile]) -> None:
    Profile.objects.filter(pk__in=[p.pk for p in profiles]).update(traits={"seg": "out", **CONSENT})


def run_now(sync) -> SyncRun:
    return execute_run(sync_request_run(actor=None, sync=sync, enqueue=False).pk)


def test_a_crash_mid_run_is_caught_up_by_the_next_run(driver, settings, monkeypatch):
    settings.SYNC_MAX_BATCH_SIZE = 4
    members = people(14)
    sync = sync_create(actor=None, audience=member_audience(), destination=driver.destination)
    original = RunExecution.commit
    commits = {"n": 0}

    def commit(self, batch, result):
        commits["n"] += 1
        if commits["n"] > 2:
            raise Crash("worker killed")
        return original(self, batch, result)

    monkeypatch.setattr(RunExecution, "commit", commit)
    crashed = sync_request_run(actor=None, sync=sync, enqueue=False)
    with pytest.raises(Crash):
        execute_run(crashed.pk)
    monkeypatch.setattr(RunExecution, "commit", original)
    held_after_crash = driver.held(sync)
    if driver.kind == "warehouse":
        assert held_after_crash == set()  # nothing published: still the previous run's state
        assert driver.client.staged() > 0
    else:
        assert 0 < len(held_after_crash) < len(members)
    # The worker is gone: its lease runs out, and the next run supersedes it.
    SyncRun.objects.filter(pk=crashed.pk).update(lease_expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))

    run = run_now(sync)

    assert run.state == RunState.SUCCEEDED, run.error
    assert driver.held(sync) == driver.expected(members)


def test_throttling_then_server_errors_are_ridden_out(driver, monkeypatch):
    members = people(9)
    sync = sync_create(actor=None, audience=member_audience(), destination=driver.destination)
    driver.throttle_then_fail(monkeypatch)

    run = run_now(sync)

    assert run.state == RunState.SUCCEEDED, run.error
    assert run.added == 9
    assert driver.held(sync) == driver.expected(members)
    if driver.kind == "warehouse":
        assert driver.kills["n"] == 0  # every injected failure happened and was ridden out


def test_a_permanent_error_fails_the_run_with_the_platforms_message_and_stops(driver, settings):
    settings.SYNC_MAX_BATCH_SIZE = 3
    people(9)
    sync = sync_create(actor=None, audience=member_audience(), destination=driver.destination)
    fragment = driver.revoke()
    calls_before = driver.data_calls()

    run = run_now(sync)

    assert run.state == RunState.FAILED
    assert fragment in run.error
    assert run.added == 0
    assert driver.data_calls() - calls_before <= 1  # the refused call, and nothing after it


def test_mirror_removes_exactly_the_leavers(driver):
    members = people(10)
    sync = sync_create(actor=None, audience=member_audience(), destination=driver.destination)
    assert run_now(sync).state == RunState.SUCCEEDED
    leave(members[:3])

    run = run_now(sync)

    assert run.state == RunState.SUCCEEDED, run.error
    assert run.removed == 3
    assert driver.held(sync) == driver.expected(members[3:])


def test_add_only_never_removes(driver):
    members = people(8)
    sync = sync_create(actor=None, audience=member_audience(), destination=driver.destination, mode=SyncMode.ADD_ONLY)
    assert run_now(sync).state == RunState.SUCCEEDED
    leave(members[:3])
    newcomers = people(2, start=50)

    run = run_now(sync)

    assert run.state == RunState.SUCCEEDED, run.error
    assert run.removed == 0 and run.added == 2
    assert driver.held(sync) == driver.expected(members + newcomers)


def test_an_immediate_rerun_makes_no_call(driver):
    members = people(6)
    sync = sync_create(actor=None, audience=member_audience(), destination=driver.destination)
    assert run_now(sync).state == RunState.SUCCEEDED
    calls = driver.data_calls()

    run = run_now(sync)

    assert run.state == RunState.SUCCEEDED, run.error
    assert run.added == run.removed == 0
    assert driver.data_calls() == calls
    assert driver.held(sync) == driver.expected(members)
