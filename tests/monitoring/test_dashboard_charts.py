"""Charts: data through json_script, a table view with the same data, a readable empty state, on the audience
and sync pages (panels loaded with htmx) and as plain pages without JavaScript."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth import get_user_model

from audience_ops.syncs.choices import RunState
from audience_ops.syncs.services import sync_create

from .dashboard_helpers import DAY, NOW, evaluate_days, live_member_audience, run_sync

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def json_script(content: str, element_id: str):
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', content, re.S)
    assert match, f"no json_script #{element_id}"
    return json.loads(match.group(1))


@pytest.fixture
def synced(marketer, fake_destination, fake_platform):
    """A live audience evaluated at three nows and synced after each evaluation (three real runs)."""
    audience = live_member_audience("charted")
    sync = sync_create(actor=None, audience=audience, destination=fake_destination, every_minutes=15)
    for day, size in enumerate([4, 6, 9]):
        evaluate_days(audience, [size], start=NOW - (2 - day) * DAY)
        assert run_sync(sync, as_of=NOW - (2 - day) * DAY).state == RunState.SUCCEEDED
    return sync


def test_sync_charts_panel_has_run_volume_and_match_rate_data_and_tables(synced, ops_client):
    # when the sync page's panel is loaded (as htmx does)
    response = ops_client.get(f"/dashboard/syncs/{synced.pk}/charts/", **HTMX)

    # then it is a fragment with both charts' data and the same figures in the table views
    content = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in content
    points = json_script(content, "sync-run-volume-data")
    assert [point["added"] for point in points] == [4, 2, 3]
    assert all(point["state"] == "succeeded" and point["duration"] is not None for point in points)
    rates = json_script(content, "sync-match-rate-data")
    assert len(rates["labels"]) == 3 and rates["series"][0]["label"] == "Fake"
    table = content.split('id="sync-run-volume-table"')[1].split("</table>")[0]
    assert table.count("<tr>") == 1 + 3  # header + one row per run
    assert 'data-chart="run-volume"' in content and 'data-chart="match-rate"' in content


def test_sync_charts_empty_state_without_runs(marketer, ops_client, fake_destination, fake_platform):
    audience = live_member_audience("never-ran")
    sync = sync_create(actor=None, audience=audience, destination=fake_destination, every_minutes=15)

    content = ops_client.get(f"/dashboard/syncs/{sync.pk}/charts/", **HTMX).content.decode()

    assert "No finished run yet" in content
    assert "No successful run has reported a match rate yet" in content
    assert "<canvas" not in content


def test_panels_open_as_full_pages_without_javascript(synced, ops_client):
    response = ops_client.get(f"/dashboard/syncs/{synced.pk}/charts/")

    content = response.content.decode()
    assert "<html" in content
    assert "vendor/chart.js/chart.umd.min.js" in content and "js/charts.js" in content
    assert 'id="sync-run-volume-data"' in content


def test_sync_page_loads_its_charts_panel(synced, ops_client):
    content = ops_client.get(f"/syncs/{synced.pk}/").content.decode()

    assert f'hx-get="/dashboard/syncs/{synced.pk}/charts/"' in content
    assert "js/charts.js" in content


def test_audience_page_has_entries_exits_chart_and_loads_destinations_panel(synced, marketer_client):
    content = marketer_client.get("/audiences/charted/").content.decode()

    assert 'data-chart="entries-exits" data-chart-source="size-trend-data"' in content
    table = content.split('id="entries-exits-table"')[1].split("</table>")[0]
    assert "+4" in table and "+2" in table and "+3" in table
    assert 'hx-get="/dashboard/audiences/charted/destinations/"' in content


def test_audience_page_without_evaluations_shows_empty_states(marketer, marketer_client):
    live_member_audience("fresh-one")

    content = marketer_client.get("/audiences/fresh-one/").content.decode()

    assert "No evaluation yet" in content
    assert 'data-chart="entries-exits"' not in content


def test_audience_destinations_panel_has_match_rate_per_destination(synced, marketer_client):
    content = marketer_client.get("/dashboard/audiences/charted/destinations/", **HTMX).content.decode()

    data = json_script(content, "audience-match-rate-data")
    assert [series["label"] for series in data["series"]] == ["Fake"]
    assert len(data["series"][0]["values"]) == len(data["labels"]) == 3
    table = content.split('id="audience-match-rate-table"')[1].split("</table>")[0]
    assert table.count("<tr>") == 1 + 3


def test_audience_destinations_panel_empty_state(marketer, marketer_client):
    live_member_audience("unsynced")

    content = marketer_client.get("/dashboard/audiences/unsynced/destinations/", **HTMX).content.decode()

    assert "No successful sync run has reported a match rate yet" in content
    assert "not synced to any destination" in content
    assert "Nobody was a member at the last evaluation" in content


def test_panels_require_a_role(synced, client):
    client.force_login(get_user_model().objects.create_user("norole", password="x-very-long-password"))

    assert client.get(f"/dashboard/syncs/{synced.pk}/charts/").status_code == 403
    assert client.get("/dashboard/audiences/charted/destinations/").status_code == 403
