"""A Google Customer Match destination on the real sync engine, against the sandbox over HTTP."""

from __future__ import annotations

import pytest

from audience_ops.customers.models import Profile
from audience_ops.destinations import normalise
from audience_ops.syncs.choices import RunState
from audience_ops.syncs.models import LedgerEntry
from audience_ops.syncs.runner import execute_run, run_summary
from audience_ops.syncs.services import sync_create, sync_request_run
from tests.syncs.helpers import member_audience

pytestmark = pytest.mark.django_db

GRANTED = {"consent_ad_user_data": True, "consent_ad_personalization": True}


def shoppers(count: int, *, start: int = 0, consent: dict | None = None) -> list[Profile]:
    return Profile.objects.bulk_create(
        Profile(
            external_id=f"cus_{i:06d}",
            email=f"shopper.{i}@gmail.com",
            traits={"seg": "in", **(GRANTED if consent is None else consent)},
        )
        for i in range(start, start + count)
    )


def run_now(sync):
    return execute_run(sync_request_run(actor=None, sync=sync, enqueue=False).pk)


def test_profiles_without_consent_never_reach_google(marketer, google_destination, google_sandbox):
    shoppers(5, consent={})
    sync = sync_create(actor=None, audience=member_audience(), destination=google_destination)

    run = run_now(sync)

    assert run.state == RunState.SUCCEEDED, run.error
    assert run.added == 0
    assert not LedgerEntry.objects.filter(sync=sync).exists()
    assert google_sandbox.data_calls() == []


def test_consenting_members_are_synced(marketer, google_destination, google_sandbox):
    shoppers(20)
    sync = sync_create(actor=None, audience=member_audience(), destination=google_destination)

    run = run_now(sync)

    assert run.state == RunState.SUCCEEDED, run.error
    assert sync_list(sync) == "5550001"
    assert google_sandbox.member_values("5550001", "emailAddress") == {
        normalise.hashed_email(f"shopper{i}@gmail.com") for i in range(20)
    }


def sync_list(sync) -> str:
    sync.refresh_from_db()
    return sync.remote_audience_id


def test_members_without_consent_are_not_sent_and_are_counted_apart(marketer, google_destination, google_sandbox):
    shoppers(6)
    shoppers(4, start=100, consent={"consent_ad_user_data": True, "consent_ad_personalization": False})
    sync = sync_create(actor=None, audience=member_audience(), destination=google_destination)

    run = run_now(sync)

    assert run.state == RunState.SUCCEEDED, run.error
    assert run.added == 6
    assert run.failed_rows == 0  # held back for consent is not a platform failure
    assert run.not_sent == 4 and run.unmatchable == 0
    assert run_summary(run)["not_sent"] == 4
    assert len(google_sandbox.members("5550001")) == 6
    assert sum(call["records"] for call in google_sandbox.data_calls()) == 6
