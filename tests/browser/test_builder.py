"""Maria builds the spec's cart abandoners in the form builder, in a real Chromium, and the numbers agree."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from audience_ops.audiences.services import audience_export, audience_import
from audience_ops.customers.models import Event, Profile
from tests.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SPEC_CART = {
    "slug": "cart-abandoners-3d",
    "name": "Cart abandoners, last 3 days",
    "kind": "targeting",
    "objective": "ads",
    "owner": "maria",
    "purpose": "Short paid retargeting window after cart abandonment; full-price creative",
    "retire_on": "2027-03-31",
    "paired_suppression": "purchased-24h",
    "offer": "full_price",
    "intent": "cart",
    "rule": {
        "all": [
            {"event": "Product Added", "within": {"days": 3}},
            {"event": "Order Completed", "count": {"eq": 0}, "within": {"days": 3}},
            {"attribute": "unsubscribed", "op": "ne", "value": True},
        ]
    },
}


def shoppers() -> None:
    """Two cart abandoners; an abandoner who ordered since, an unsubscribed one, an old cart, a fresh buyer."""
    now = timezone.now()
    rows = [
        # external id, traits, [(event, hours ago)]
        ("ann", {"unsubscribed": False}, [("Product Added", 20)]),
        ("bob", {}, [("Product Added", 50)]),
        ("cy", {"unsubscribed": False}, [("Product Added", 30), ("Order Completed", 28)]),
        ("dee", {"unsubscribed": True}, [("Product Added", 10)]),
        ("eve", {}, [("Product Added", 24 * 10)]),
        ("fay", {}, [("Product Added", 100), ("Order Completed", 2)]),
    ]
    for external_id, traits, events in rows:
        profile = Profile.objects.create(external_id=external_id, email=f"{external_id}@example.com", traits=traits)
        for index, (name, hours) in enumerate(events):
            Event.objects.create(
                profile=profile,
                name=name,
                occurred_at=now - timedelta(hours=hours),
                properties={},
                message_id=f"{external_id}-{index}",
            )


def member_count(slug: str) -> int:
    out = io.StringIO()
    call_command("audiences", "members", slug, stdout=out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == ["external_id", "email", "phone", "anonymous_id"]
    return len(rows) - 1


def test_marketer_builds_cart_abandoners_and_the_counts_agree(page, live_server, marketer):
    # given the paired suppression exists and a few shoppers match
    result = audience_import(
        payload={
            "slug": "purchased-24h",
            "name": "Purchased in last 24 hours",
            "kind": "suppression",
            "objective": "ads",
            "owner": marketer.username,
            "purpose": "Never retarget people who just bought",
            "retire_on": "2027-06-30",
            "rule": {"event": "Order Completed", "within": {"hours": 24}},
        }
    )
    assert result.problems == []
    shoppers()
    login(page, live_server, marketer.username)

    # when Maria fills in the audience
    page.goto(f"{live_server.url}/builder/new/")
    page.get_by_label("Name").fill(SPEC_CART["name"])
    page.get_by_label("Slug").fill(SPEC_CART["slug"])
    page.get_by_label("Offer").select_option("full_price")
    page.get_by_label("Intent").fill("cart")
    page.get_by_label("Retire on").fill("2027-03-31")
    page.get_by_label("Purpose").fill(SPEC_CART["purpose"])
    page.get_by_label("Paired suppression").select_option("purchased-24h")

    # and adds the three conditions, each without a page load
    tree = page.locator("#builder-tree")
    tree.get_by_role("button", name="Event", exact=True).click()
    first = page.locator("#node-rule_0")
    first.get_by_label("Event", exact=True).fill("Product Added")
    first.get_by_label("When").select_option("days")
    first.get_by_label("N", exact=True).fill("3")

    tree.get_by_role("button", name="Event", exact=True).click()
    second = page.locator("#node-rule_1")
    second.get_by_label("Event", exact=True).fill("Order Completed")
    second.get_by_label("Condition").select_option("count")
    second.get_by_label("Count").select_option("eq")
    second.get_by_label("N times").fill("0")
    second.get_by_label("When").select_option("days")
    second.get_by_label("N", exact=True).fill("3")

    tree.get_by_role("button", name="Attribute", exact=True).click()
    third = page.locator("#node-rule_2")
    third.get_by_label("Attribute", exact=True).fill("unsubscribed")
    third.get_by_label("Operator").select_option("ne")
    third.get_by_label("Value type").select_option("true")
    expect(third.get_by_label("Value", exact=True)).to_be_hidden()

    # then the live preview counts the two abandoners, and each condition on its own
    expect(page.locator("#preview-size")).to_have_text("2")
    expect(page.locator("#preview-text")).to_contain_text("minus members of Purchased in last 24 hours")
    for address, size in (("rule_0", 4), ("rule_1", 4), ("rule_2", 5)):
        expect(page.locator(f"#size-{address}")).to_have_text(re.compile(rf"^\s*{size} profiles on its own\s*$"))
    expect(page.locator("#preview-sample").get_by_role("link")).to_have_count(2)
    assert page.url == f"{live_server.url}/builder/new/"

    # when she saves
    page.get_by_role("button", name="Create audience").click()
    page.wait_for_url(f"{live_server.url}/audiences/cart-abandoners-3d/")

    # then exactly the spec's structure was stored
    assert audience_export(["cart-abandoners-3d"]) == {"audiences": [SPEC_CART]}

    # and after an evaluation the audience list shows the size the members command returns (once the audience
    # page's lazy panels have loaded: the test database is shared with the server's threads)
    page.wait_for_load_state("networkidle")
    call_command("audiences", "evaluate", "cart-abandoners-3d", stdout=io.StringIO())
    page.goto(f"{live_server.url}/audiences/")
    row = page.get_by_role("row").filter(has_text="cart-abandoners-3d")
    size = row.locator("td[data-size]")
    expect(size).to_have_attribute("data-size", str(member_count("cart-abandoners-3d")))
    expect(size).to_have_text("2")
