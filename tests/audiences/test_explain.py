"""``profile_explain``: the condition-by-condition trace, its deciding values, and agreement with the engine."""

from __future__ import annotations

import datetime as dt

import pytest

from audience_ops.audiences.models import Audience
from audience_ops.audiences.services import audience_import, audience_member_ids, profile_explain

from .helpers import NOW, SPEC_EXAMPLE, audience_dict, make_profile, track

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@pytest.fixture
def example(users):
    audience_import(payload=SPEC_EXAMPLE)
    return {audience.slug: audience for audience in Audience.objects.all()}


def test_trace_of_a_cart_abandoner_shows_each_condition_and_the_suppression(example):
    # given a shopper who added to cart twice and has unsubscribed missing
    shopper = make_profile(external_id="shopper")
    track(shopper, "Product Added", NOW - 2 * HOUR)
    track(shopper, "Product Added", NOW - HOUR)
    # when explained
    trace = profile_explain(audience=example["cart-abandoners-3d"], profile=shopper, now=NOW)
    # then the profile is in, and each node carries its verdict, label and deciding values
    assert trace.member is True
    added, no_order, unsubscribed = trace.rule.children
    assert (trace.rule.kind, trace.rule.matched) == ("all", True)
    assert (added.label, added.matched) == ("did Product Added at least once in the last 3 days", True)
    assert added.values["count in window"] == 2
    assert added.values["last event"] == (NOW - HOUR).isoformat()
    assert (no_order.label, no_order.matched, no_order.values["count in window"]) == (
        "did not do Order Completed in the last 3 days",
        True,
        0,
    )
    assert (unsubscribed.label, unsubscribed.matched, unsubscribed.values) == (
        "unsubscribed is not true",
        True,
        {"unsubscribed": "missing"},
    )
    suppression = trace.suppression
    assert (suppression.label, suppression.matched) == (
        "minus members of Purchased in last 24 hours (paired suppression)",
        False,
    )
    assert suppression.children[0].label == "did Order Completed at least once in the last 24 hours"


def test_trace_shows_why_a_profile_is_out(example):
    unsubscribed = make_profile(external_id="unsub", traits={"unsubscribed": True})
    track(unsubscribed, "Product Added", NOW - HOUR)
    trace = profile_explain(audience=example["cart-abandoners-3d"], profile=unsubscribed, now=NOW)
    assert trace.member is False
    assert [child.matched for child in trace.rule.children] == [True, True, False]
    assert trace.rule.children[2].values == {"unsubscribed": True}


def test_trace_of_a_suppressed_profile(example):
    # given a coffee buyer due for a reorder who bought something an hour ago
    buyer = make_profile(external_id="buyer")
    track(buyer, "Order Completed", NOW - 30 * DAY, category="coffee")
    track(buyer, "Order Completed", NOW - HOUR, category="tea")
    trace = profile_explain(audience=example["coffee-replenish"], profile=buyer, now=NOW)
    # then the rule alone matches (last coffee order 30 days ago) but the paired suppression removes them
    assert trace.rule.matched is True
    assert trace.rule.values["last event"] == (NOW - 30 * DAY).isoformat()
    assert trace.suppression.matched is True
    assert trace.member is False
    assert trace.as_dict()["member"] is False
    assert trace.as_text().splitlines()[0] == "buyer is OUT Second coffee purchase due at 2026-11-28T12:00:00+00:00"


def test_in_audience_and_exclusions_are_explained_recursively(users):
    audience_import(
        payload={
            "audiences": [
                audience_dict("gold", {"attribute": "plan", "op": "eq", "value": "gold"}, kind="suppression"),
                audience_dict("viewers", {"event": "Product Viewed"}, exclude=["gold"]),
            ]
        }
    )
    viewer = make_profile(external_id="viewer", traits={"plan": "gold"})
    track(viewer, "Product Viewed", NOW - HOUR)
    trace = profile_explain(definition={"rule": {"in_audience": "viewers"}}, profile=viewer, now=NOW)
    node = trace.rule
    assert (node.kind, node.label, node.matched) == ("in_audience", "is a member of Viewers", False)
    nested_rule, gold_exclusion = node.children
    assert nested_rule.matched is True
    assert (gold_exclusion.kind, gold_exclusion.label, gold_exclusion.matched) == (
        "exclusion",
        "minus members of Gold",
        True,
    )


def test_explain_agrees_with_the_engine_for_every_profile(example):
    # given a handful of shoppers in different situations
    profiles = [make_profile(external_id=f"p{index}") for index in range(6)]
    track(profiles[0], "Product Added", NOW - HOUR)
    track(profiles[1], "Product Added", NOW - HOUR)
    track(profiles[1], "Order Completed", NOW - 30 * HOUR)
    track(profiles[2], "Order Completed", NOW - 30 * DAY, category="coffee")
    track(profiles[3], "Order Completed", NOW - 30 * DAY, category="coffee")
    track(profiles[3], "Product Added", NOW - 10 * HOUR)
    track(profiles[4], "Order Completed", NOW - 2 * HOUR, category="coffee")
    # then for every audience and profile the trace's verdict is the engine's
    for audience in example.values():
        members = set(audience_member_ids(audience=audience, now=NOW))
        for profile in profiles:
            assert profile_explain(audience=audience, profile=profile, now=NOW).member == (profile.pk in members)
