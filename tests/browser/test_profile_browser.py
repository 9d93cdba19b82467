"""A marketer finds a shopper and reads their history, in a real Chromium."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from audience_ops.customers.models import AnonymousId, Event, EventType, Profile
from tests.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def make_shopper() -> Profile:
    """A converted shopper with 52 events: 50 page views (oldest), then a cart add and an order (newest)."""
    shopper = Profile.objects.create(
        external_id="gg-1042", email="dana.rivers@example.com", phone="(555) 201-7788", traits={"vip": True}
    )
    AnonymousId.objects.create(anonymous_id="anon-7f3c", profile=shopper, linked_at=T0)
    names = ["Page Viewed"] * 50 + ["Product Added", "Order Completed"]
    Event.objects.bulk_create(
        Event(
            profile=shopper,
            name=name,
            type=EventType.PAGE if name == "Page Viewed" else EventType.TRACK,
            occurred_at=T0 + timedelta(minutes=index),
            properties={"path": f"/p/{index}"} if name == "Page Viewed" else {"sku": "COF-1", "price": 18.0},
            message_id=f"m-{index}",
        )
        for index, name in enumerate(names)
    )
    Profile.objects.create(external_id="gg-2000", email="someone.else@example.com")
    return shopper


def test_marketer_searches_a_profile_by_email_and_reads_its_timeline(page, live_server, marketer):
    # given
    shopper = make_shopper()
    login(page, live_server, marketer.username)

    # when Maria searches by email, typed with other case and spaces
    page.get_by_role("link", name="Profiles", exact=True).click()
    page.get_by_label("Search profiles").fill("  Dana.Rivers@Example.com ")
    page.get_by_role("button", name="Search", exact=True).click()

    # then only that profile is listed, and she opens it
    results = page.get_by_role("table")
    expect(results.get_by_role("row")).to_have_count(2)
    assert page.get_by_text("someone.else@example.com").count() == 0
    results.get_by_role("link", name="gg-1042").click()
    page.wait_for_url(f"{live_server.url}/profiles/{shopper.pk}/")

    # and sees the identifiers and the timeline, newest first
    assert page.get_by_role("heading", name="gg-1042").is_visible()
    assert page.get_by_text("anon-7f3c").is_visible()
    timeline = page.locator("#timeline")
    rows = timeline.locator("tbody tr")
    expect(rows).to_have_count(50)
    assert rows.nth(0).locator("td").nth(1).inner_text() == "Order Completed"
    assert rows.nth(1).locator("td").nth(1).inner_text() == "Product Added"
    assert rows.nth(2).locator("td").nth(1).inner_text() == "Page Viewed"

    # when she pages on: htmx swaps only the timeline (the window survives) and updates the address
    page.evaluate("window.stillTheSamePage = true")
    timeline.get_by_role("link", name="Next").click()
    page.wait_for_url(f"{live_server.url}/profiles/{shopper.pk}/?page=2")
    # then the oldest two page views are on page 2, and the rest of the page is still there
    expect(page.locator("#timeline tbody tr")).to_have_count(2)
    expect(page.get_by_text("Page 2 of 2")).to_be_visible()
    expect(page.get_by_text("anon-7f3c")).to_be_visible()
    assert page.evaluate("window.stillTheSamePage") is True

    # when she filters by event name (the select submits on change), once htmx has settled the swapped-in
    # timeline (before that its new form is a plain form, as it is without JavaScript)
    page.wait_for_function("!document.querySelector('.htmx-settling, .htmx-swapping, .htmx-added, .htmx-request')")
    page.get_by_label("Event name").select_option("Order Completed")
    page.wait_for_url(re.compile(rf"/profiles/{shopper.pk}/\?event=Order(\+|%20)Completed$"))
    # then only orders are listed
    filtered = page.locator("#timeline tbody tr")
    expect(filtered).to_have_count(1)
    expect(filtered.nth(0).locator("td").nth(1)).to_have_text("Order Completed")
    assert page.evaluate("window.stillTheSamePage") is True
