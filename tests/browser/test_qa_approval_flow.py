"""Chapter 3 of the story in Chromium: Maria QA's the cart abandoners against the named test profiles, sees a
case fail with its explanation, fixes the definition in the builder, reruns QA and submits; she cannot approve
her own audience; Omar (ops) reviews the impact and approves, and the audience is live."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from audience_ops.audiences import lifecycle, qa
from audience_ops.audiences.choices import AudienceStatus
from audience_ops.audiences.models import Audience, VersionReview
from audience_ops.customers.models import Profile
from tests.audiences.helpers import audience_dict, create_audiences, make_profile, track
from tests.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Maria forgot the "not unsubscribed" condition: the suppressed (unsubscribed) shopper is wrongly in.
CART_WITHOUT_UNSUBSCRIBE = {
    "all": [
        {"event": "Product Added", "within": {"days": 3}},
        {"event": "Order Completed", "count": {"eq": 0}, "within": {"days": 3}},
    ]
}
CASES = [
    ("qa-abandoner", "in", "added to cart yesterday, no order"),
    ("qa-converter", "in", "anonymous until they signed in"),
    ("qa-buyer", "out", "bought two hours ago"),
    ("qa-unsub", "out", "unsubscribed from marketing"),
]


def story_data(maria, omar) -> Audience:
    """The pair, with the suppression already live, four known shoppers and three of them named QA profiles."""
    create_audiences(
        audience_dict(
            "purchased-24h",
            {"event": "Order Completed", "within": {"hours": 24}},
            name="Purchased in last 24 hours",
            kind="suppression",
            objective="ads",
        ),
        audience_dict(
            "cart-abandoners-3d",
            CART_WITHOUT_UNSUBSCRIBE,
            name="Cart abandoners, last 3 days",
            objective="ads",
            paired_suppression="purchased-24h",
            intent="cart",
            offer="full_price",
        ),
    )
    now = timezone.now()
    shoppers = {
        "qa-abandoner": make_profile(external_id="qa-abandoner", email="cart@glowgrind.example"),
        "qa-converter": make_profile(
            external_id="qa-converter", email="converter@glowgrind.example", anonymous_ids=("anon-42",)
        ),
        "qa-buyer": make_profile(external_id="qa-buyer", email="buyer@glowgrind.example"),
        "qa-unsub": make_profile(
            external_id="qa-unsub", email="suppressed@glowgrind.example", traits={"unsubscribed": True}
        ),
    }
    for profile in shoppers.values():
        track(profile, "Product Added", now - dt.timedelta(hours=20))
    track(shoppers["qa-buyer"], "Order Completed", now - dt.timedelta(hours=2))
    for external_id, name in (
        ("qa-abandoner", "cart abandoner"),
        ("qa-converter", "anonymous-to-known converter"),
        ("qa-buyer", "recent purchaser"),
    ):
        qa.qa_test_profile_create(actor=maria, profile=shoppers[external_id], name=name)

    suppression = Audience.objects.get(slug="purchased-24h")
    qa.qa_cases_save(
        actor=maria,
        audience=suppression,
        cases=[
            {"profile": "qa-buyer", "expect": "in"},
            {"profile": "qa-abandoner", "expect": "out"},
            {"profile": "qa-converter", "expect": "out"},
            {"profile": "qa-unsub", "expect": "out"},
        ],
    )
    qa.qa_run(actor=maria, audience=suppression, now=now)
    lifecycle.audience_submit(actor=maria, audience=suppression)
    lifecycle.audience_approve(actor=omar, audience=suppression)
    return Audience.objects.get(slug="cart-abandoners-3d")


def test_qa_fix_submit_and_four_eyes_approval(page, live_server, marketer, ops_user):
    # given
    audience = story_data(marketer, ops_user)
    base = live_server.url
    login(page, live_server, marketer.username)

    # when Maria names the unsubscribed shopper from the profile page
    page.goto(f"{base}{Profile.objects.get(external_id='qa-unsub').get_absolute_url()}")
    page.get_by_role("link", name="Mark as QA test profile").click()
    expect(page.get_by_label("Profile")).to_have_value("qa-unsub")
    page.get_by_label("Name").fill("suppressed user")
    page.get_by_role("button", name="Add QA test profile").click()
    expect(page.locator("#qa-profiles-table")).to_contain_text("suppressed user")

    # and adds four QA cases on the audience's QA page, rows appearing without a page load
    page.goto(f"{base}/audiences/{audience.slug}/")
    page.get_by_role("link", name="QA cases and runs").click()
    page.wait_for_url(f"{base}/audiences/{audience.slug}/qa/")
    page.evaluate("window.__sameDocument = true")
    for index, (external_id, expect_value, note) in enumerate(CASES, start=1):
        page.get_by_role("button", name="Add case").click()
        expect(page.get_by_label(f"Profile of case {index}")).to_be_visible()
        page.get_by_label(f"Profile of case {index}").fill(external_id)
        page.get_by_label(f"Expected result of case {index}").select_option(expect_value)
        page.get_by_label(f"Note of case {index}").fill(note)
    assert page.evaluate("window.__sameDocument") is True
    page.get_by_role("button", name="Save QA cases").click()
    expect(page.get_by_role("status").filter(has_text="Saved 4 QA cases as version 2")).to_be_visible()

    # and runs QA
    page.get_by_role("button", name="Run QA").click()

    # then one case fails, and its explanation shows every condition holding for the unsubscribed shopper
    expect(page.locator("#qa-verdict")).to_have_attribute("data-passed", "false")
    expect(page.locator("#qa-results-table [data-result='fail']")).to_have_count(1)
    failed = page.locator("tr[data-case='qa-unsub']")
    expect(failed).to_have_attribute("data-passed", "false")
    expect(failed).to_contain_text("suppressed user")
    trace = page.locator("tr[data-trace-for='qa-unsub'] details")
    expect(trace).to_have_attribute("open", "")
    expect(trace.locator("[data-trace='rule'] > li")).to_have_attribute("data-matched", "true")
    expect(page.locator("#qa-gate-problems")).to_contain_text("Last QA run failed (1 of 4 cases)")

    # when she fixes the definition in the builder: not unsubscribed
    page.get_by_role("link", name="Edit definition in builder").click()
    tree = page.locator("#builder-tree")
    tree.get_by_role("button", name="Attribute", exact=True).last.click()
    condition = page.locator("#node-rule_2")
    condition.get_by_label("Attribute", exact=True).fill("unsubscribed")
    condition.get_by_label("Operator").select_option("ne")
    condition.get_by_label("Value type").select_option("true")
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(f"{base}/audiences/{audience.slug}/")
    expect(page.get_by_role("status").filter(has_text="new version 3")).to_be_visible()

    # then the QA page says the last run no longer counts, and a rerun passes every case
    page.get_by_role("link", name="QA cases and runs").click()
    expect(page.locator("#qa-stale")).to_contain_text("Version 3 changed the definition")
    page.get_by_role("button", name="Run QA").click()
    expect(page.locator("#qa-verdict")).to_have_attribute("data-passed", "true")
    expect(page.locator("#qa-results-table [data-result='pass']")).to_have_count(4)
    expect(page.locator("#qa-gate-ok")).to_be_visible()

    # when she submits from the audience page
    page.get_by_role("link", name=audience.name).click()
    page.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_role("status").filter(has_text="is waiting for review by ops")).to_be_visible()
    expect(page.locator("#lifecycle-status")).to_have_text("In review")

    # then she cannot approve her own: the buttons are disabled with the reason, and a forced POST gets 403
    page.get_by_role("link", name="Open review").click()
    expect(page.locator("#approval-blockers")).to_contain_text("Only the ops role approves")
    expect(page.get_by_role("button", name="Approve version 3")).to_be_disabled()
    token = next(cookie["value"] for cookie in page.context.cookies() if cookie["name"] == "csrftoken")
    forced = page.request.post(
        f"{base}/audiences/{audience.slug}/approve/", form={"launch_at": ""}, headers={"X-CSRFToken": token}
    )
    assert forced.status == 403
    assert VersionReview.objects.get(version__audience=audience).state == "pending"

    # when Omar signs in, finds the review in his queue and reads the impact
    page.get_by_role("button", name="Sign out").click()
    login(page, live_server, ops_user.username)
    expect(page.locator("#nav-review-count")).to_contain_text("1")
    page.get_by_role("link", name="Reviews").click()
    page.get_by_role("link", name=f"Review {audience.name}").click()
    expect(page.locator("#review-author")).to_have_text(marketer.username)
    expect(page.locator("#impact-proposed-size")).to_have_text("2")
    expect(page.locator("#impact-entering")).to_have_text("+2")
    expect(page.locator("#impact-entering-sample")).to_contain_text("qa-converter")
    expect(page.locator("#review-qa-table [data-result='pass']")).to_have_count(4)

    # and approves
    page.get_by_role("button", name="Approve version 3").click()

    # then the audience is live with version 3
    page.wait_for_url(f"{base}/audiences/{audience.slug}/")
    expect(page.locator("#lifecycle-status")).to_have_text("Live")
    expect(page.locator("#lifecycle-live")).to_have_text("v3")
    audience.refresh_from_db()
    assert audience.status == AudienceStatus.LIVE and audience.live_version.number == 3
