"""Sync pages per role: marketers see syncs and runs; ops and admins create, dry-run, run now, pause and resume."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audience_ops.audit.models import AuditEvent
from audience_ops.syncs.choices import RunState, RunTrigger, SyncMode
from audience_ops.syncs.models import LedgerEntry, RowFailure, Sync, SyncRun
from audience_ops.syncs.runner import execute_run
from audience_ops.syncs.services import sync_create, sync_request_run
from tests.audiences.helpers import audience_dict, create_audiences
from tests.syncs.helpers import IN_RULE, make_members, member_audience, set_seg

pytestmark = pytest.mark.django_db


@pytest.fixture
def sync(marketer, fake_destination):
    return sync_create(actor=None, audience=member_audience(), destination=fake_destination, mode=SyncMode.MIRROR)


def run_now(sync) -> SyncRun:
    run = sync_request_run(actor=None, sync=sync, enqueue=False)
    return execute_run(run.pk)


# --- marketers: read only ------------------------------------------------------------------------------------


def test_marketer_sees_the_sync_list_page_and_run_page_without_actions(marketer_client, sync):
    make_members(3)
    run = run_now(sync)

    listing = marketer_client.get(reverse("syncs:list"))
    detail = marketer_client.get(reverse("syncs:detail", args=[sync.pk]))
    run_page = marketer_client.get(reverse("syncs:run_detail", args=[run.pk]))

    assert listing.status_code == detail.status_code == run_page.status_code == 200
    assert sync.audience.name in listing.content.decode()
    body = detail.content.decode()
    assert 'id="ledger-size">3<' in body
    assert reverse("syncs:run_now", args=[sync.pk]) not in body
    assert reverse("syncs:pause", args=[sync.pk]) not in body
    assert reverse("syncs:plan", args=[sync.pk]) not in body
    assert reverse("syncs:create") not in listing.content.decode()


def test_marketer_cannot_run_pause_dry_run_or_create(marketer_client, sync, fake_destination):
    run_response = marketer_client.post(reverse("syncs:run_now", args=[sync.pk]))
    pause_response = marketer_client.post(reverse("syncs:pause", args=[sync.pk]))
    plan_response = marketer_client.get(reverse("syncs:plan", args=[sync.pk]))
    create_response = marketer_client.post(
        reverse("syncs:create"),
        {"audience": member_audience("other").pk, "destination": fake_destination.pk, "mode": "mirror"},
    )

    assert [r.status_code for r in (run_response, pause_response, plan_response, create_response)] == [403] * 4
    assert not SyncRun.objects.exists()
    sync.refresh_from_db()
    assert sync.enabled is True
    assert Sync.objects.count() == 1


def test_the_nav_links_syncs_for_every_role_that_may_view_them(marketer_client):
    response = marketer_client.get(reverse("home"))
    assert f'href="{reverse("syncs:list")}"' in response.content.decode()


# --- ops: run now, dry run, pause and resume -----------------------------------------------------------------


def test_ops_run_now_records_a_queued_run_enqueued_after_commit(
    ops_client, ops_user, sync, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = ops_client.post(reverse("syncs:run_now", args=[sync.pk]))

    run = SyncRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("syncs:run_detail", args=[run.pk])
    assert (run.state, run.trigger, run.requested_by, run.dry_run) == (
        RunState.QUEUED,
        RunTrigger.MANUAL,
        ops_user,
        False,
    )
    assert len(callbacks) == 1  # the job is enqueued only once the request committed
    assert AuditEvent.objects.filter(action="sync.run_requested", actor=ops_user).count() == 1


def test_run_now_is_post_only(ops_client, sync):
    response = ops_client.get(reverse("syncs:run_now", args=[sync.pk]))
    assert response.status_code == 405
    assert not SyncRun.objects.exists()


def test_dry_run_shows_the_exact_plan_with_linked_samples_and_sends_nothing(ops_client, sync, fake_platform):
    kept = make_members(2)
    run_now(sync)  # the destination now holds these two
    newcomers = make_members(3, start=10)
    no_email = make_members(1, start=20, email=False)
    set_seg(kept[:1], "out")  # one leaves: a mirror sync removes it
    calls_before = len(fake_platform.data_calls())

    response = ops_client.get(reverse("syncs:plan", args=[sync.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="plan-adds">+4<' in body
    assert 'id="plan-removes">\u22121<' in body
    assert 'id="plan-unmatchable">1<' in body
    for profile in [*newcomers, *no_email, kept[0]]:
        assert reverse("customers:profile_detail", args=[profile.pk]) in body
    assert len(fake_platform.data_calls()) == calls_before
    assert SyncRun.objects.count() == 1
    assert LedgerEntry.objects.filter(sync=sync).count() == 2


def test_ops_pause_then_resume_with_audit(ops_client, ops_user, sync):
    paused = ops_client.post(reverse("syncs:pause", args=[sync.pk]))
    sync.refresh_from_db()
    assert paused.status_code == 302 and sync.enabled is False and sync.next_run_at is None

    resumed = ops_client.post(reverse("syncs:resume", args=[sync.pk]))
    sync.refresh_from_db()
    assert resumed.status_code == 302 and sync.enabled is True
    actions = list(AuditEvent.objects.filter(actor=ops_user).order_by("pk").values_list("action", flat=True))
    assert actions == ["sync.pause", "sync.enable"]


@pytest.fixture
def ads_pair(marketer):
    suppression, targeting = create_audiences(
        audience_dict("bought-today", IN_RULE, kind="suppression", objective="ads"),
        audience_dict("cart-3d", IN_RULE, kind="targeting", objective="ads", paired_suppression="bought-today"),
    )
    return targeting, suppression


def test_resume_refused_shows_the_reasons_and_stays_paused(ops_client, ads_pair, fake_destination):
    targeting, _ = ads_pair
    sync = sync_create(actor=None, audience=targeting, destination=fake_destination, enabled=False)

    page = ops_client.get(reverse("syncs:detail", args=[sync.pk]))
    response = ops_client.post(reverse("syncs:resume", args=[sync.pk]), follow=True)

    assert "is not live" in page.content.decode()  # the blockers are explained before anyone clicks
    sync.refresh_from_db()
    assert sync.enabled is False
    assert "cannot be enabled" in response.content.decode()
    assert not AuditEvent.objects.filter(action="sync.enable").exists()


# --- creating syncs ----------------------------------------------------------------------------------------


def test_admin_creates_a_sync_every_15_minutes(admin_client_role, admin_user, marketer, fake_destination):
    audience = member_audience()

    response = admin_client_role.post(
        reverse("syncs:create"),
        {
            "audience": audience.pk,
            "destination": fake_destination.pk,
            "mode": "mirror",
            "cadence": "every",
            "every_minutes": "15",
            "cron": "ignored when the cadence is an interval",
            "enabled": "on",
        },
    )

    sync = Sync.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("syncs:detail", args=[sync.pk])
    assert (sync.audience, sync.mode, sync.every_minutes, sync.cron, sync.enabled) == (
        audience,
        "mirror",
        15,
        "",
        True,
    )
    assert sync.created_by == admin_user and sync.next_run_at is not None


def test_create_shows_the_service_refusal_on_the_form(ops_client, ads_pair, fake_destination):
    targeting, _ = ads_pair

    response = ops_client.post(
        reverse("syncs:create"),
        {
            "audience": targeting.pk,
            "destination": fake_destination.pk,
            "mode": "mirror",
            "cadence": "every",
            "every_minutes": "15",
            "enabled": "on",
        },
    )

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "paired suppression" in " ".join(errors["enabled"])
    assert not Sync.objects.exists()


def test_create_refuses_mirror_where_the_destination_cannot_remove(
    ops_client, marketer, fake_destination, fake_platform
):
    fake_platform.supports_removal = False

    response = ops_client.post(
        reverse("syncs:create"),
        {"audience": member_audience().pk, "destination": fake_destination.pk, "mode": "mirror", "cadence": "manual"},
    )

    assert response.status_code == 400
    assert "cannot remove" in " ".join(response.context["form"].errors["mode"])
    assert not Sync.objects.exists()


def test_create_rejects_a_bad_cron_expression(ops_client, marketer, fake_destination):
    response = ops_client.post(
        reverse("syncs:create"),
        {
            "audience": member_audience().pk,
            "destination": fake_destination.pk,
            "mode": "add_only",
            "cadence": "cron",
            "cron": "every tuesday",
        },
    )

    assert response.status_code == 400
    assert "five-field" in " ".join(response.context["form"].errors["cron"])
    assert not Sync.objects.exists()


def test_create_form_preselects_the_audience_from_its_page(ops_client, marketer, fake_destination):
    audience = member_audience()
    response = ops_client.get(reverse("syncs:create") + f"?audience={audience.slug}")
    assert response.status_code == 200
    assert response.context["form"].initial["audience"] == audience


def test_ops_change_the_cadence_to_a_cron_expression(ops_client, ops_user, sync):
    response = ops_client.post(
        reverse("syncs:update", args=[sync.pk]), {"mode": "add_only", "cadence": "cron", "cron": "*/30 * * * *"}
    )

    sync.refresh_from_db()
    assert response.status_code == 302
    assert (sync.mode, sync.every_minutes, sync.cron) == ("add_only", None, "*/30 * * * *")
    assert AuditEvent.objects.filter(action="sync.update", actor=ops_user).count() == 1


def test_edit_shows_the_service_refusal_and_changes_nothing(ops_client, marketer, fake_destination, fake_platform):
    sync = sync_create(actor=None, audience=member_audience(), destination=fake_destination, mode="add_only")
    fake_platform.supports_removal = False

    response = ops_client.post(reverse("syncs:update", args=[sync.pk]), {"mode": "mirror", "cadence": "manual"})

    assert response.status_code == 400
    assert "cannot remove" in " ".join(response.context["form"].errors["mode"])
    sync.refresh_from_db()
    assert sync.mode == "add_only"


def test_marketer_cannot_edit_a_sync(marketer_client, sync):
    response = marketer_client.post(reverse("syncs:update", args=[sync.pk]), {"mode": "add_only", "cadence": "manual"})
    sync.refresh_from_db()
    assert response.status_code == 403 and sync.mode == "mirror"


# --- what the pages show -----------------------------------------------------------------------------------


def test_run_page_shows_counts_row_errors_and_rows_given_up(marketer_client, sync, fake_platform, settings):
    settings.SYNC_ROW_FAILURE_LIMIT = 2
    people = make_members(3)
    fake_platform.reject.add("person1@example.com")
    run_now(sync)
    run = run_now(sync)  # the rejected row fails a second time and is given up

    response = marketer_client.get(reverse("syncs:run_detail", args=[run.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    assert run.failed_rows == 1 and RowFailure.objects.filter(gave_up=True).count() == 1
    assert "rejected person1@example.com" in body
    assert body.count(reverse("customers:profile_detail", args=[people[1].pk])) == 2  # error row + given up row
    assert "Phase timings" in body and "Plan (membership vs ledger)" in body


def test_run_page_paginates_row_errors(marketer_client, sync, fake_platform):
    make_members(60)
    fake_platform.reject.update(f"person{i}@example.com" for i in range(60))
    run = run_now(sync)

    first = marketer_client.get(reverse("syncs:run_detail", args=[run.pk]))
    second = marketer_client.get(reverse("syncs:run_detail", args=[run.pk]) + "?page=2")

    assert run.failed_rows == 60
    assert len(first.context["row_errors"]) == 50
    assert len(second.context["row_errors"]) == 10


def test_sync_page_shows_history_match_rate_and_next_run(marketer_client, sync, fake_platform):
    make_members(4)
    first = run_now(sync)
    make_members(2, start=10)
    second = run_now(sync)

    response = marketer_client.get(reverse("syncs:detail", args=[sync.pk]))

    body = response.content.decode()
    assert list(response.context["runs"]) == [second, first]
    assert 'id="ledger-size">6<' in body
    assert 'id="match-rate">100.0%<' in body
    assert reverse("syncs:run_detail", args=[first.pk]) in body
    listing = marketer_client.get(reverse("syncs:list"))
    (row,) = listing.context["rows"]
    assert row["sync"].ledger_size == 6 and row["last_run"] == second


def test_audience_page_links_its_syncs(marketer_client, sync):
    response = marketer_client.get(reverse("audiences:detail", args=[sync.audience.slug]))
    assert reverse("syncs:detail", args=[sync.pk]) in response.content.decode()


# --- the syncs panels on the audience and destination pages -------------------------------------------------


def test_audience_and_destination_pages_list_syncs_without_a_query_per_sync(
    ops_client, marketer, fake_destination, django_assert_max_num_queries
):
    audience = member_audience()
    first = sync_create(actor=None, audience=audience, destination=fake_destination, mode=SyncMode.MIRROR)
    run_now(first)
    pages = (audience_page := reverse("audiences:detail", args=[audience.slug]), fake_destination.get_absolute_url())
    with django_assert_max_num_queries(1000) as one_sync:
        for url in pages:
            assert ops_client.get(url).status_code == 200

    for number in range(4):
        other = fake_destination.__class__.objects.create(name=f"Fake {number}", kind=fake_destination.kind, config={})
        run_now(sync_create(actor=None, audience=audience, destination=other, mode=SyncMode.MIRROR))
    with django_assert_max_num_queries(len(one_sync.captured_queries)) as five_syncs:
        page = ops_client.get(audience_page).content.decode()
        ops_client.get(fake_destination.get_absolute_url())

    assert all(f"Fake {number}" in page for number in range(4))
    assert len(five_syncs.captured_queries) == len(one_sync.captured_queries)
