"""A marketer opens an audience, reads its size trend and members, and asks why a member is in, in Chromium."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from audience_ops.audiences.models import Audience
from audience_ops.audiences.services import audience_evaluate, audience_import
from audience_ops.customers.models import Event, Profile
from tests.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def make_cart_abandoners() -> tuple[Audience, Profile]:
    """The cart-abandoner pair with three evaluations; one abandoner and one buyer. Returns the audience and
    the abandoner (its only member)."""
    payload = {
        "audiences": [
            {
                "slug": "purchased-24h",
                "name": "Purchased in last 24 hours",
                "kind": "suppression",
                "objective": "ads",
                "owner": "maria",
                "purpose": "Never retarget people who just bought",
                "retire_on": "2027-06-30",
                "rule": {"event": "Order Completed", "within": {"hours": 24}},
            },
            {
                "slug": "cart-abandoners-3d",
                "name": "Cart abandoners, last 3 days",
                "kind": "targeting",
                "objective": "ads",
                "owner": "maria",
                "purpose": "Short paid retargeting window after cart abandonment",
                "retire_on": "2027-03-31",
                "paired_suppression": "purchased-24h",
                "rule": {
                    "all": [
                        {"event": "Product Added", "within": {"days": 3}},
                        {"event": "Order Completed", "count": {"eq": 0}, "within": {"days": 3}},
                    ]
                },
            },
        ]
    }
    assert audience_import(payload=payload).problems == []
    now = timezone.now()
    abandoner = Profile.objects.create(external_id="gg-1042", email="dana.rivers@example.com")
    buyer = Profile.objects.create(external_id="gg-2000", email="someone.else@example.com")
    for index, (profile, name, hours_ago) in enumerate(
        [(abandoner, "Product Added", 30), (buyer, "Product Added", 30), (buyer, "Order Completed", 2)]
    ):
        Event.objects.create(
            profile=profile, name=name, occurred_at=now - dt.timedelta(hours=hours_ago), message_id=f"b-{index}"
        )
    audience = Audience.objects.get(slug="cart-abandoners-3d")
    for hours_ago in (48, 24, 0):
        audience_evaluate(audience=audience, now=now - dt.timedelta(hours=hours_ago))
    return audience, abandoner


def test_marketer_reads_an_audience_and_asks_why_a_member_is_in(page, live_server, marketer):
    # given
    audience, abandoner = make_cart_abandoners()
    login(page, live_server, marketer.username)

    # when Maria opens the audience from the list
    page.get_by_role("link", name="Audiences", exact=True).click()
    page.get_by_role("link", name="Cart abandoners, last 3 days").click()
    page.wait_for_url(f"{live_server.url}/audiences/{audience.slug}/")

    # then the size chart is drawn from the three snapshots, and the member is listed
    chart = page.locator("#size-trend-chart")
    expect(chart).to_be_visible()
    page.wait_for_function("() => document.getElementById('size-trend-chart').chart !== undefined")
    assert page.evaluate("document.getElementById('size-trend-chart').chart.data.datasets[0].data.length") == 3
    expect(page.locator("#current-size")).to_have_text("1")
    rows = page.locator("#members-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.nth(0).locator("td").nth(0)).to_have_text("gg-1042")

    # when she asks why that member is in
    rows.nth(0).get_by_role("link", name="why?").click()
    page.wait_for_url(f"{live_server.url}/audiences/{audience.slug}/why/?profile={abandoner.pk}&by=id")

    # then the verdict is "in" and every condition of the rule holds, the suppression does not remove her
    expect(page.locator("#verdict [data-verdict]")).to_have_text("IN")
    expect(page.locator("#trace-rule [data-matched='false']")).to_have_count(0)
    expect(page.locator("#trace-rule [data-matched='true']")).to_have_count(3)
    expect(page.locator("#trace-exclusions > li")).to_have_attribute("data-matched", "false")
