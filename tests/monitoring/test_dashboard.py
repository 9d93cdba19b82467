"""The ops dashboard on the home page: sizes and 7-day change from real evaluations, sync health from real runs,
open alerts, filters, and a query count that does not grow with the number of audiences."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audience_ops.audiences.models import Audience
from audience_ops.monitoring.choices import AlertKind, AlertState
from audience_ops.monitoring.dashboard import dashboard_rows, live_audiences, sync_health
from audience_ops.monitoring.models import Alert
from audience_ops.monitoring.services import alerts_evaluate
from audience_ops.syncs.choices import RunState, SyncMode
from audience_ops.syncs.services import sync_create
from tests.syncs.fakes import permanent

from .dashboard_helpers import DAY, NOW, evaluate_days, live_member_audience, run_sync

pytestmark = pytest.mark.django_db


def row_for(response, slug: str):
    return next(row for row in response.context["rows"] if row.audience.slug == slug)


def test_home_is_the_dashboard_with_size_and_seven_day_change_from_snapshots(marketer, ops_client):
    # given an audience evaluated daily for 9 days, growing from 10 to 30 members
    audience = live_member_audience("growing")
    evaluate_days(audience, [10, 10, 12, 15, 15, 20, 25, 28, 30], start=NOW - 8 * DAY)

    # when ops open the home page (as of the last evaluation)
    response = ops_client.get("/")

    # then the row shows the latest size and the change since the last evaluation at least 7 days earlier
    assert response.status_code == 200
    assert response.templates[0].name == "monitoring/dashboard.html"
    row = row_for(response, "growing")
    assert row.size == 30
    # The dashboard's "now" is the wall clock; every snapshot here is older than 7 days except the newest few,
    # so the baseline is the newest snapshot at or before now - 7 days.
    rows = dashboard_rows(audiences=live_audiences(), now=NOW)
    (at_now,) = rows
    assert (at_now.size, at_now.size_before, at_now.change) == (30, 10, 20)
    assert at_now.change_ratio == 2.0
    assert b"growing" in response.content.lower()


def test_an_audience_younger_than_seven_days_has_no_change_yet(marketer):
    audience = live_member_audience("young")
    evaluate_days(audience, [5, 8, 9], start=NOW - 2 * DAY)

    (row,) = dashboard_rows(audiences=live_audiences(), now=NOW)

    assert row.size == 9
    assert row.size_before is None
    assert row.change is None


def test_only_live_audiences_are_listed(marketer, ops_client):
    live = live_member_audience("is-live")
    draft = live_member_audience("is-draft")
    Audience.objects.filter(pk=draft.pk).update(status="draft")

    response = ops_client.get("/")

    slugs = [row.audience.slug for row in response.context["rows"]]
    assert slugs == [live.slug]


def test_sync_health_from_real_runs_healthy_failing_and_stale(marketer, fake_destination, fake_platform):
    # given two synced audiences: one whose run succeeded, one whose run the platform refused
    good = live_member_audience("good")
    bad = live_member_audience("bad")
    evaluate_days(good, [4], start=NOW)
    evaluate_days(bad, [3], start=NOW, first_id=100)
    good_sync = sync_create(
        actor=None, audience=good, destination=fake_destination, mode=SyncMode.MIRROR, every_minutes=15
    )
    bad_sync = sync_create(
        actor=None, audience=bad, destination=fake_destination, mode=SyncMode.MIRROR, every_minutes=15
    )
    assert run_sync(good_sync).state == RunState.SUCCEEDED
    fake_platform.script.append(permanent("Invalid OAuth access token"))
    assert run_sync(bad_sync).state == RunState.FAILED

    # when the dashboard is read right after the runs
    rows = {row.audience.slug: row for row in dashboard_rows(audiences=live_audiences())}

    # then the good sync is healthy with its match rate, the bad one failing with the platform's message
    (good_health,) = rows["good"].syncs
    (bad_health,) = rows["bad"].syncs
    assert good_health.health == "healthy"
    assert good_health.match_rate is not None
    assert bad_health.health == "failing"
    assert "Invalid OAuth access token" in bad_health.explanation
    assert rows["bad"].needs_attention and not rows["good"].needs_attention

    # and 31 minutes later (more than twice the 15-minute cadence) the good sync is stale
    later = good_health.last_success_at + dt.timedelta(minutes=31)
    assert sync_health(sync=good_health.sync, last_run=good_health.last_run, now=later).health == "stale"
    earlier = good_health.last_success_at + dt.timedelta(minutes=29)
    assert sync_health(sync=good_health.sync, last_run=good_health.last_run, now=earlier).health == "healthy"


def test_a_paused_sync_is_paused_not_stale(marketer, fake_destination, fake_platform):
    audience = live_member_audience("paused-one")
    sync = sync_create(actor=None, audience=audience, destination=fake_destination, every_minutes=15, enabled=False)

    (row,) = dashboard_rows(audiences=live_audiences(), now=NOW + 30 * DAY)

    assert [item.health for item in row.syncs] == ["paused"]
    assert row.syncs[0].sync == sync


def test_filters_by_owner_objective_and_destination(marketer, ops_user, ops_client, fake_destination, fake_platform):
    # given three live audiences: two of maria's (analytics, warehouse), one of omar's synced to the fake destination
    live_member_audience("maria-analytics")
    live_member_audience("maria-warehouse", objective="warehouse")
    omar_audience = live_member_audience("omar-analytics", owner="omar")
    sync_create(actor=None, audience=omar_audience, destination=fake_destination, every_minutes=15)

    def slugs(query: str) -> list[str]:
        response = ops_client.get(f"/?{query}")
        assert response.status_code == 200
        return sorted(row.audience.slug for row in response.context["rows"])

    assert slugs("") == ["maria-analytics", "maria-warehouse", "omar-analytics"]
    assert slugs(f"owner={marketer.pk}") == ["maria-analytics", "maria-warehouse"]
    assert slugs("objective=warehouse") == ["maria-warehouse"]
    assert slugs(f"destination={fake_destination.pk}") == ["omar-analytics"]
    assert slugs(f"owner={marketer.pk}&destination={fake_destination.pk}") == []
    # an owner who owns no live audience is not a choice: the filter is invalid and shows no rows
    response = ops_client.get("/?owner=999999")
    assert response.context["rows"] == []
    assert response.context["filter"].errors


def test_open_alerts_from_a_real_ballooning_show_with_acknowledge_for_ops_only(marketer, ops_client, client):
    # given an audience of ~60 members for five days that jumps to 300 (real evaluations), then every check
    audience = live_member_audience("promo-spike")
    evaluate_days(audience, [60, 60, 62, 61, 60, 300], start=NOW - 5 * DAY)
    alerts_evaluate(now=NOW)
    alert = Alert.objects.get(kind=AlertKind.BALLOONING, audience=audience)
    assert alert.state == AlertState.OPEN

    # when ops open the dashboard
    response = ops_client.get("/")

    # then the alert is listed with an acknowledge button, the row counts it and the summary too
    assert [a.pk for a in response.context["alerts"]] == [alert.pk]
    assert row_for(response, "promo-spike").open_alerts == 1
    assert response.context["summary"].open_alerts == 1
    content = response.content.decode()
    assert f'action="/monitoring/alerts/{alert.pk}/acknowledge/"' in content

    # and a marketer sees the alert but no acknowledge button
    client.force_login(marketer)
    content = client.get("/").content.decode()
    assert "Audience ballooning" in content
    assert "/acknowledge/" not in content


def test_acknowledging_from_the_dashboard_keeps_it_listed_as_acknowledged(marketer, ops_user, ops_client):
    audience = live_member_audience("ack-me")
    evaluate_days(audience, [60, 60, 60, 60, 400], start=NOW - 4 * DAY)
    alerts_evaluate(now=NOW)
    alert = Alert.objects.get(kind=AlertKind.BALLOONING, audience=audience)

    response = ops_client.post(f"/monitoring/alerts/{alert.pk}/acknowledge/", {"next": "/"})

    assert response.status_code == 302 and response["Location"] == "/"
    page = ops_client.get("/")
    assert page.context["summary"].open_alerts == 0
    assert row_for(page, "ack-me").open_alerts == 0
    assert "acknowledged by omar" in page.content.decode()


def test_query_count_does_not_grow_with_the_number_of_audiences(marketer, ops_client, fake_destination, fake_platform):
    def add_audiences(first: int, count: int) -> None:
        for index in range(first, first + count):
            audience = live_member_audience(f"aud-{index}")
            evaluate_days(audience, [2, 3], start=NOW - 8 * DAY, first_id=index * 100)
            sync = sync_create(actor=None, audience=audience, destination=fake_destination, every_minutes=15)
            run_sync(sync)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = ops_client.get("/")
        assert response.status_code == 200
        return len(captured)

    add_audiences(0, 2)
    with_two = queries()
    add_audiences(2, 5)
    with_seven = queries()

    assert len(live_audiences()) == 7
    assert with_seven == with_two
