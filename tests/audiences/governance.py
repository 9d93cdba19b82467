"""Helpers for lifecycle and QA tests: the cart abandoner pair with QA cases, its test profiles and its users.

At :data:`~.helpers.NOW` the cart abandoner pair's eight QA cases all pass, so a test starts from a
submittable audience and breaks exactly the rule it is about.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from audience_ops.accounts.roles import Role
from audience_ops.audiences.lifecycle import audience_approve, audience_submit
from audience_ops.audiences.models import Audience
from audience_ops.audiences.qa import qa_run
from audience_ops.audiences.services import audience_import
from tests.conftest import _make_user

from .helpers import NOW, make_profile, track

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)

SUPPRESSION_QA = [
    {"profile": "qa-recent-purchaser", "expect": "in", "note": "bought two hours ago"},
    {"profile": "qa-cart-abandoner", "expect": "out", "note": "no order"},
    {"profile": "qa-suppressed", "expect": "out"},
    {"profile": "qa-converter", "expect": "out"},
]
CART_QA = [
    {"profile": "qa-cart-abandoner", "expect": "in", "note": "added to cart yesterday, no order"},
    {"profile": "qa-recent-purchaser", "expect": "out", "note": "bought two hours ago"},
    {"profile": "qa-suppressed", "expect": "out", "note": "unsubscribed"},
    {"profile": "qa-converter", "expect": "in", "note": "added to cart while anonymous, then signed in"},
]


def suppression_dict(**extra: Any) -> dict[str, Any]:
    data = {
        "slug": "purchased-24h",
        "name": "Purchased in last 24 hours",
        "kind": "suppression",
        "objective": "ads",
        "owner": "maria",
        "purpose": "Never retarget people who just bought",
        "retire_on": "2027-06-30",
        "rule": {"event": "Order Completed", "within": {"hours": 24}},
        "qa": SUPPRESSION_QA,
    }
    data.update(extra)
    return data


def cart_dict(**extra: Any) -> dict[str, Any]:
    data = {
        "slug": "cart-abandoners-3d",
        "name": "Cart abandoners, last 3 days",
        "kind": "targeting",
        "objective": "ads",
        "owner": "maria",
        "purpose": "Short paid retargeting window after cart abandonment; full-price creative",
        "retire_on": "2027-03-31",
        "paired_suppression": "purchased-24h",
        "offer": "full_price",
        "rule": {
            "all": [
                {"event": "Product Added", "within": {"days": 3}},
                {"event": "Order Completed", "count": {"eq": 0}, "within": {"days": 3}},
                {"attribute": "unsubscribed", "op": "ne", "value": True},
            ]
        },
        "qa": CART_QA,
    }
    data.update(extra)
    return data


def qa_profiles() -> dict[str, Any]:
    """The four named test profiles, with facts relative to NOW."""
    purchaser = make_profile(external_id="qa-recent-purchaser", traits={"unsubscribed": False})
    track(purchaser, "Product Added", NOW - 3 * HOUR)
    track(purchaser, "Order Completed", NOW - 2 * HOUR)
    abandoner = make_profile(external_id="qa-cart-abandoner", traits={"unsubscribed": False})
    track(abandoner, "Product Added", NOW - DAY)
    suppressed = make_profile(external_id="qa-suppressed", traits={"unsubscribed": True})
    track(suppressed, "Product Added", NOW - DAY)
    converter = make_profile(external_id="qa-converter", anonymous_ids=("anon-converter",))
    track(converter, "Product Added", NOW - 45 * HOUR)
    return {
        "purchaser": purchaser,
        "abandoner": abandoner,
        "suppressed": suppressed,
        "converter": converter,
    }


@pytest.fixture
def people(db):
    """maria and mark (marketers), omar and olga (ops), ada (admin)."""
    return {
        "maria": _make_user("maria", Role.MARKETER),
        "mark": _make_user("mark", Role.MARKETER),
        "omar": _make_user("omar", Role.OPS),
        "olga": _make_user("olga", Role.OPS),
        "ada": _make_user("ada", Role.ADMIN),
    }


@pytest.fixture
def pair(people):
    """The suppression and the cart abandoner audience (maria owns and wrote both), QA profiles in place."""
    qa_profiles()
    result = audience_import(payload={"audiences": [suppression_dict(), cart_dict()]}, actor_or_username="maria")
    assert result.problems == []
    return Audience.objects.get(slug="purchased-24h"), Audience.objects.get(slug="cart-abandoners-3d")


def fresh(audience: Audience) -> Audience:
    return Audience.objects.select_related("live_version", "owner").get(pk=audience.pk)


def submit_ready(audience: Audience, *, by, now: dt.datetime = NOW):
    """Run QA (passing) on the latest version and submit it."""
    run = qa_run(actor=by, audience=audience, now=now)
    assert run.passed, run.results
    return audience_submit(actor=by, audience=audience)


def make_live(audience: Audience, *, by, approver, now: dt.datetime = NOW) -> Audience:
    submit_ready(audience, by=by, now=now)
    audience_approve(actor=approver, audience=audience, now=now)
    return fresh(audience)
