"""Ops sees a ballooning alert on the dashboard, opens the audience, sees the spike on the size chart, and
acknowledges the alert, in Chromium. The spike comes from real evaluations at successive nows."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from audience_ops.audiences.services import audience_evaluate
from audience_ops.monitoring.choices import AlertKind, AlertState
from audience_ops.monitoring.models import Alert
from audience_ops.monitoring.services import alerts_evaluate
from tests.conftest import login
from tests.monitoring.dashboard_helpers import add_members, live_member_audience

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ops_sees_ballooning_opens_the_audience_sees_the_spike_and_acknowledges(page, live_server, marketer, ops_user):
    # given a live audience of 80 shoppers evaluated daily for five days, then a promo brings in 320 more
    audience = live_member_audience("promo-viewers", name="Promo page viewers")
    now = timezone.now().replace(second=0, microsecond=0)
    add_members(audience, 80, start=0)
    for days_ago in (5, 4, 3, 2, 1):
        audience_evaluate(audience=audience, now=now - dt.timedelta(days=days_ago))
    add_members(audience, 320, start=80)
    audience_evaluate(audience=audience, now=now)
    alerts_evaluate(now=now)
    alert = Alert.objects.get(kind=AlertKind.BALLOONING, audience=audience)
    assert alert.state == AlertState.OPEN

    # when Omar (ops) signs in, the dashboard lists the ballooning alert and the audience's open alert
    login(page, live_server, ops_user.username)
    alerts = page.locator("#dashboard-alerts")
    item = alerts.locator(f"#alert-{alert.pk}")
    expect(item).to_contain_text("Audience ballooning")
    expect(item).to_contain_text("400 members")
    expect(page.locator("#open-alert-count")).to_have_text("1")
    row = page.locator('tr[data-audience="promo-viewers"]')
    expect(row).to_contain_text("400")

    # and he opens the audience from the alert
    item.get_by_role("link", name=audience.name).click()
    page.wait_for_url(f"{live_server.url}/audiences/{audience.slug}/")

    # then the size chart is drawn and its table view lists the spike
    chart = page.locator("#size-trend-chart")
    expect(chart).to_be_visible()
    expect(chart).to_have_attribute("data-chart-drawn", "true")
    box = chart.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100
    page.get_by_text("Size history as a table").click()
    table = page.locator("#size-trend-table")
    expect(table).to_be_visible()
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(6)
    expect(rows.last).to_contain_text("400")
    expect(rows.last).to_contain_text("320")
    expect(rows.nth(4)).to_contain_text("80")
    # the entries/exits chart is drawn from the same data, and the coverage panel arrives by htmx
    expect(page.locator("#entries-exits-chart")).to_have_attribute("data-chart-drawn", "true")
    expect(page.locator("#coverage-identifiers")).to_be_visible()

    # when he goes back to the dashboard and acknowledges the alert
    page.get_by_role("link", name="Home", exact=True).click()
    page.wait_for_url(f"{live_server.url}/")
    page.locator(f"#alert-{alert.pk}").get_by_role("button", name="Acknowledge").click()

    # then the dashboard says so, the alert stays listed as acknowledged, and nothing is open any more
    expect(page.get_by_role("status").filter(has_text="Alert acknowledged")).to_be_visible()
    expect(page.locator(f"#alert-{alert.pk}")).to_contain_text(f"acknowledged by {ops_user.username}")
    expect(page.locator("#open-alert-count")).to_have_text("0")
    alert.refresh_from_db()
    assert alert.state == AlertState.ACKNOWLEDGED
    assert alert.acknowledged_by == ops_user
