"""The spec's three example audiences, imported from the example file and evaluated on a small story."""

from __future__ import annotations

import datetime as dt

import pytest

from audience_ops.audiences.models import Audience
from audience_ops.audiences.services import audience_import, definition_to_text

from .helpers import NOW, SPEC_EXAMPLE, ids, make_profile, member_ids, track

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@pytest.fixture
def example(users):
    result = audience_import(payload=SPEC_EXAMPLE)
    assert result.problems == []
    return {audience.slug: audience for audience in Audience.objects.all()}


def test_purchased_24h_holds_orders_of_the_last_24_hours(example):
    recent = make_profile(external_id="recent")
    track(recent, "Order Completed", NOW - 23 * HOUR)
    boundary = make_profile(external_id="boundary")
    track(boundary, "Order Completed", NOW - 24 * HOUR)
    assert member_ids(example["purchased-24h"]) == ids(recent)


def test_cart_abandoners_3d(example):
    # given a cart abandoner, one who then bought, one who unsubscribed, one who bought 2 days ago then added
    # again, an anonymous abandoner, and one who bought within 24 hours (paired suppression)
    abandoner = make_profile(external_id="abandoner", traits={"unsubscribed": False})
    track(abandoner, "Product Added", NOW - DAY)
    bought = make_profile(external_id="bought")
    track(bought, "Product Added", NOW - 2 * DAY)
    track(bought, "Order Completed", NOW - 2 * DAY + HOUR)
    unsubscribed = make_profile(external_id="unsubscribed", traits={"unsubscribed": True})
    track(unsubscribed, "Product Added", NOW - DAY)
    anonymous = make_profile(anonymous_ids=("anon-cart",))
    track(anonymous, "Product Added", NOW - HOUR)
    stale = make_profile(external_id="stale")
    track(stale, "Product Added", NOW - 4 * DAY)
    # then only the abandoners who did not buy and did not unsubscribe are in
    assert member_ids(example["cart-abandoners-3d"]) == ids(abandoner, anonymous)


def test_coffee_replenish(example):
    due = make_profile(external_id="due")
    track(due, "Order Completed", NOW - 30 * DAY, category="coffee")
    tea = make_profile(external_id="tea")
    track(tea, "Order Completed", NOW - 30 * DAY, category="tea")
    reordered = make_profile(external_id="reordered")
    track(reordered, "Order Completed", NOW - 30 * DAY, category="coffee")
    track(reordered, "Order Completed", NOW - 5 * DAY, category="coffee")
    too_early = make_profile(external_id="too-early")
    track(too_early, "Order Completed", NOW - 20 * DAY, category="coffee")
    # a coffee buyer whose later tea order does not reset the coffee clock
    also_due = make_profile(external_id="also-due")
    track(also_due, "Order Completed", NOW - 40 * DAY, category="coffee")
    track(also_due, "Order Completed", NOW - 2 * DAY, category="tea")
    assert member_ids(example["coffee-replenish"]) == ids(due, also_due)


def test_coffee_replenish_drops_someone_who_bought_anything_in_the_last_24_hours(example):
    # the paired suppression purchased-24h applies though it is not listed in exclude
    due = make_profile(external_id="due")
    track(due, "Order Completed", NOW - 30 * DAY, category="coffee")
    track(due, "Order Completed", NOW - HOUR, category="tea")
    assert member_ids(example["coffee-replenish"]) == set()


def test_the_examples_read_in_plain_english(example):
    assert definition_to_text(example["cart-abandoners-3d"]) == (
        "Did Product Added at least once in the last 3 days, and did not do Order Completed in the last 3 days, "
        "and unsubscribed is not true; minus members of Purchased in last 24 hours"
    )
    assert definition_to_text(example["coffee-replenish"]) == (
        'Last did Order Completed (where category is "coffee") between 25 and 45 days ago; '
        "minus members of Purchased in last 24 hours"
    )
    assert definition_to_text(example["purchased-24h"]) == "Did Order Completed at least once in the last 24 hours"
