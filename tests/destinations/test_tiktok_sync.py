"""A TikTok destination on the real sync engine, against the sandbox over HTTP: what it holds is the audience."""

from __future__ import annotations

import pytest

from audience_ops.customers.models import Profile
from audience_ops.destinations import normalise
from audience_ops.syncs.choices import RunState, SyncMode
from audience_ops.syncs.runner import execute_run
from audience_ops.syncs.services import sync_create, sync_request_run
from tests.syncs.helpers import member_audience, set_seg

pytestmark = pytest.mark.django_db


def shoppers(count: int, *, start: int = 0) -> list[Profile]:
    return Profile.objects.bulk_create(
        Profile(
            external_id=f"cus_{i:06d}",
            email=f"Shopper.{i}@Example.com",
            phone=f"+1 212 555 {i % 10000:04d}" if i % 4 else None,
            traits={"seg": "in"},
        )
        for i in range(start, start + count)
    )


def run_now(sync):
    return execute_run(sync_request_run(actor=None, sync=sync, enqueue=False).pk)


def held(tiktok_sandbox, sync) -> set[str]:
    sync.refresh_from_db()
    return tiktok_sandbox.member_values(sync.remote_audience_id, "EMAIL_SHA256")


def expected() -> set[str]:
    emails = Profile.objects.filter(traits__seg="in").values_list("email", flat=True)
    return {normalise.hashed_email(email) for email in emails}


def test_mirror_sync_adds_removes_and_reports_tiktoks_match_rate(
    marketer, tiktok_destination, tiktok_sandbox, settings
):
    settings.SYNC_MAX_BATCH_SIZE = 50
    people = shoppers(120)
    sync = sync_create(actor=None, audience=member_audience(), destination=tiktok_destination, mode=SyncMode.MIRROR)

    first = run_now(sync)

    assert first.state == RunState.SUCCEEDED, first.error
    assert first.added == 120
    assert [call["rows"] for call in tiktok_sandbox.data_calls()] == [50, 50, 20]
    assert held(tiktok_sandbox, sync) == expected()
    [audience] = tiktok_sandbox.audiences()
    assert first.matched == audience["matched"]
    assert first.match_rate == round(audience["matched"] / 120, 4)
    assert 0.6 < first.match_rate < 1.0

    set_seg(people[:10], "out")
    second = run_now(sync)

    assert (second.state, second.removed) == (RunState.SUCCEEDED, 10)
    assert held(tiktok_sandbox, sync) == expected()
    assert [(call["action"], call["rows"]) for call in tiktok_sandbox.data_calls()][-1] == ("delete", 10)


def test_rate_limit_envelopes_are_retried_by_the_engine(marketer, tiktok_destination, tiktok_sandbox, settings):
    settings.SYNC_RETRY_BASE_SECONDS = 0.01
    settings.SYNC_RETRY_MAX_SECONDS = 0.2
    shoppers(5)
    sync = sync_create(actor=None, audience=member_audience(), destination=tiktok_destination)
    tiktok_sandbox.throttle(2, ops=["mapping"])

    run = run_now(sync)

    assert run.state == RunState.SUCCEEDED, run.error
    assert [entry.get("error_code") for entry in tiktok_sandbox.data_calls()] == [40100, 40100, None]
    assert held(tiktok_sandbox, sync) == expected()


def test_a_permanent_envelope_error_fails_the_run_with_tiktoks_message(marketer, tiktok_destination, tiktok_sandbox):
    shoppers(3)
    sync = sync_create(actor=None, audience=member_audience(), destination=tiktok_destination)
    tiktok_sandbox.error(1, 40001, "No permission to operate advertiser 7000000000001", ops=["mapping"])

    run = run_now(sync)

    assert run.state == RunState.FAILED
    assert "No permission to operate advertiser" in run.error and "40001" in run.error
