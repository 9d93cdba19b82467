"""Retiring an audience at its destinations, through real runs against the sandboxes: the admin chooses per
destination to remove its members, delete the remote audience, or keep it, and the outcome is recorded."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse

from audience_ops.audiences import lifecycle
from audience_ops.audiences.models import Audience
from audience_ops.audit.models import AuditEvent
from audience_ops.syncs.choices import RetirementAction, RunState, RunTrigger
from audience_ops.syncs.models import LedgerEntry, Sync, SyncRun
from audience_ops.syncs.retirement import retirement_outcome
from audience_ops.syncs.runner import execute_run
from audience_ops.syncs.services import sync_create, sync_request_run
from tests.syncs.helpers import make_members, member_audience, set_seg

pytestmark = pytest.mark.django_db


@pytest.fixture
def audience(marketer):
    return member_audience()


@pytest.fixture
def meta_sync(audience, meta_destination, settings):
    settings.SYNC_RETRY_MAX_ATTEMPTS = 1
    return sync_create(actor=None, audience=audience, destination=meta_destination)


@pytest.fixture
def people(meta_sync):
    """Four people synced to Meta."""
    profiles = make_members(4)
    assert execute_run(sync_request_run(actor=None, sync=meta_sync, enqueue=False).pk).state == RunState.SUCCEEDED
    meta_sync.refresh_from_db()
    return profiles


def retire(capture, audience: Audience, actor, **kwargs) -> list[SyncRun]:
    """Retire through the service (its after-commit signal included) and run the retirement runs."""
    with capture(execute=True):
        lifecycle.audience_retire(actor=actor, audience=audience, reason="campaign ended", **kwargs)
    return [execute_run(run.pk) for run in SyncRun.objects.filter(trigger=RunTrigger.RETIRE).order_by("pk")]


def test_retire_with_remove_empties_the_remote_audience_without_waiting_for_approval(
    audience, meta_sync, people, meta_sandbox, admin_user, rq_queues, django_capture_on_commit_callbacks
):
    (run,) = retire(django_capture_on_commit_callbacks, audience, admin_user)

    # Removing everyone would trip the large-change guardrail, but retiring is the admin's explicit decision.
    assert run.state == RunState.SUCCEEDED and run.removed == 4
    assert run.retirement_action == RetirementAction.REMOVE_MEMBERS
    assert meta_sandbox.members(meta_sync.remote_audience_id) == []
    assert retirement_outcome(run) == "Removed 4 of 4 members."
    meta_sync.refresh_from_db()
    assert not meta_sync.enabled and not LedgerEntry.objects.filter(sync=meta_sync).exists()


def test_retire_with_delete_deletes_the_remote_audience(
    audience, meta_sync, people, meta_sandbox, admin_user, rq_queues, django_capture_on_commit_callbacks
):
    remote_id = meta_sync.remote_audience_id
    assert remote_id in {a["id"] for a in meta_sandbox.audiences()}

    (run,) = retire(
        django_capture_on_commit_callbacks,
        audience,
        admin_user,
        sync_actions={meta_sync.pk: RetirementAction.DELETE_REMOTE_AUDIENCE},
    )

    assert run.state == RunState.SUCCEEDED, run.error
    assert remote_id not in {a["id"] for a in meta_sandbox.audiences()}
    assert meta_sandbox.request_log(ops=("remove",)) == []  # deleted, not emptied row by row
    assert f"Deleted the audience {remote_id} at Meta sandbox (it held 4 people)." == run.outcome
    meta_sync.refresh_from_db()
    assert meta_sync.remote_audience_id == "" and not LedgerEntry.objects.filter(sync=meta_sync).exists()
    event = AuditEvent.objects.get(action="sync.remote_audience_delete")
    assert event.before == {"remote_audience_id": remote_id, "ledger": 4}
    retired = AuditEvent.objects.get(action="audience.retire")
    assert retired.actor == admin_user
    assert retired.after["sync_actions"] == {str(meta_sync.pk): "delete_remote_audience"}


def test_retire_with_keep_only_pauses_the_sync(
    audience, meta_sync, people, meta_sandbox, admin_user, rq_queues, django_capture_on_commit_callbacks
):
    runs = retire(
        django_capture_on_commit_callbacks, audience, admin_user, sync_actions={meta_sync.pk: RetirementAction.KEEP}
    )

    assert runs == []
    assert len(meta_sandbox.members(meta_sync.remote_audience_id)) == 4
    meta_sync.refresh_from_db()
    assert not meta_sync.enabled
    assert "kept at the destination" in AuditEvent.objects.get(action="sync.retire_keep").reason


def test_retire_with_delete_at_tiktok_deletes_the_segment(
    audience, tiktok_destination, tiktok_sandbox, admin_user, settings, rq_queues, django_capture_on_commit_callbacks
):
    settings.SYNC_RETRY_MAX_ATTEMPTS = 1
    sync = sync_create(actor=None, audience=audience, destination=tiktok_destination)
    make_members(3)
    assert execute_run(sync_request_run(actor=None, sync=sync, enqueue=False).pk).state == RunState.SUCCEEDED
    sync.refresh_from_db()
    remote_id = sync.remote_audience_id
    assert len(tiktok_sandbox.members(remote_id)) == 3

    (run,) = retire(
        django_capture_on_commit_callbacks,
        audience,
        admin_user,
        sync_actions={sync.pk: RetirementAction.DELETE_REMOTE_AUDIENCE},
    )

    assert run.state == RunState.SUCCEEDED, run.error
    assert remote_id not in {a["id"] for a in tiktok_sandbox.audiences()}
    assert run.outcome.startswith(f"Deleted the audience {remote_id} at TikTok sandbox")
    assert [e["op"] for e in tiktok_sandbox.request_log()][-1] == "delete_audience"


def test_a_destination_that_cannot_delete_falls_back_to_removing_members(
    audience, fake_destination, fake_platform, admin_user, rq_queues, django_capture_on_commit_callbacks
):
    sync = sync_create(actor=None, audience=audience, destination=fake_destination)
    make_members(3)
    assert execute_run(sync_request_run(actor=None, sync=sync, enqueue=False).pk).state == RunState.SUCCEEDED
    assert len(fake_platform.held()) == 3

    (run,) = retire(
        django_capture_on_commit_callbacks,
        audience,
        admin_user,
        sync_actions={sync.pk: RetirementAction.DELETE_REMOTE_AUDIENCE},
    )

    assert run.state == RunState.SUCCEEDED and run.removed == 3
    assert fake_platform.held() == set()
    assert "Fake cannot delete audiences" in run.outcome and "removed instead" in run.outcome
    assert retirement_outcome(run).endswith("Removed 3 of 3 members.")


def test_retiring_cancels_a_run_waiting_for_approval(
    audience, meta_sync, people, meta_sandbox, admin_user, rq_queues, django_capture_on_commit_callbacks
):
    set_seg(people, "out")
    held = execute_run(sync_request_run(actor=None, sync=meta_sync, enqueue=False).pk)
    assert held.state == RunState.AWAITING_APPROVAL

    (run,) = retire(django_capture_on_commit_callbacks, audience, admin_user)

    held.refresh_from_db()
    assert held.state == RunState.CANCELLED
    assert run.state == RunState.SUCCEEDED and meta_sandbox.members(meta_sync.remote_audience_id) == []


def test_the_retire_page_lists_the_syncs_and_passes_the_choice(
    audience, meta_sync, people, meta_sandbox, admin_client_role, rq_queues, django_capture_on_commit_callbacks
):
    url = reverse("audiences:retire", args=[audience.slug])
    page = admin_client_role.get(url).content.decode()
    assert "At each destination" in page and f'name="sync_{meta_sync.pk}"' in page
    assert "Delete the audience at Meta sandbox" in page

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_role.post(
            url, {"reason": "season over", f"sync_{meta_sync.pk}": "delete_remote_audience"}
        )
    assert response.status_code == 302
    run = execute_run(SyncRun.objects.get(sync=meta_sync, trigger=RunTrigger.RETIRE).pk)
    assert run.retirement_action == RetirementAction.DELETE_REMOTE_AUDIENCE and run.state == RunState.SUCCEEDED
    assert meta_sync.remote_audience_id not in {a["id"] for a in meta_sandbox.audiences()}
    page = admin_client_role.get(reverse("syncs:run_detail", args=[run.pk])).content.decode()
    assert "Deleted the audience" in page


def test_cli_retire_with_destinations_delete(
    audience, meta_sync, people, meta_sandbox, admin_user, rq_queues, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("audiences", "retire", audience.slug, "--by", admin_user.username, "--destinations", "delete")

    run = execute_run(SyncRun.objects.get(sync=meta_sync, trigger=RunTrigger.RETIRE).pk)
    assert run.state == RunState.SUCCEEDED
    assert meta_sync.remote_audience_id not in {a["id"] for a in meta_sandbox.audiences()}
    assert not Sync.objects.get(pk=meta_sync.pk).enabled
