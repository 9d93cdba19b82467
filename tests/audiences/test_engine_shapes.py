"""The compiler's faster shapes select exactly what the spec says (checked against the naive reference).

The engine drives a membership from an event set instead of the profile table, puts the event children of an
``any`` into one derived table (one scan over several names when their windows and filters agree, else a
UNION), computes ``last``/``first`` as one aggregated set, and leaves JSON comparisons three-valued where no
negation is above them. Each test builds a small world on the edges those shapes could get wrong and compares
the engine with ``reference.py``, which shares no code with it.
"""

from __future__ import annotations

import datetime as dt

import pytest

from audience_ops.audiences.services import audience_member_ids

from .helpers import NOW, audience_dict, create_audiences, ids, make_profile, track
from .reference import ReferenceEvaluator

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
MICRO = dt.timedelta(microseconds=1)


def engine(definition: dict) -> set[int]:
    return set(audience_member_ids(definition=definition, now=NOW))


def agrees(definition: dict) -> set[int]:
    """The engine's members, after asserting the reference has the same ones."""
    members = engine(definition)
    assert members == ReferenceEvaluator(NOW).members(definition), definition
    return members


@pytest.fixture
def world():
    """Profiles whose events sit on window edges, after now, with and without a coffee category."""
    viewed = make_profile(external_id="viewed", traits={"plan": "gold"})
    track(viewed, "Product Viewed", NOW - 2 * DAY)
    added_at_edge = make_profile(external_id="added-at-edge", traits={"plan": None})
    track(added_at_edge, "Product Added", NOW - 7 * DAY)  # exactly at now - 7 days: outside "7 days"
    added_inside = make_profile(external_id="added-inside", traits={"plan": 1})
    track(added_inside, "Product Added", NOW - 7 * DAY + MICRO)
    ordered_coffee = make_profile(external_id="ordered-coffee", traits={"plan": "1"})
    track(ordered_coffee, "Order Completed", NOW - 30 * DAY, category="coffee")
    track(ordered_coffee, "Order Completed", NOW - 100 * DAY, category="tea")
    ordered_late = make_profile(external_id="ordered-late")  # no traits at all
    track(ordered_late, "Order Completed", NOW - 100 * DAY)
    track(ordered_late, "Order Completed", NOW + MICRO)  # after now: does not exist
    track(ordered_late, "Product Viewed", NOW + DAY)
    twice = make_profile(external_id="twice", email="twice@example.com")
    track(twice, "Product Added", NOW - DAY)
    track(twice, "Product Added", NOW - 2 * DAY)
    track(twice, "Order Completed", NOW - 90 * DAY)  # exactly at now - 90 days
    nothing = make_profile(external_id="nothing", traits={"plan": "gold"})
    anonymous = make_profile(traits={"plan": "gold"}, anonymous_ids=("anon-1",))
    track(anonymous, "Product Viewed", NOW)
    return {
        "viewed": viewed,
        "added_at_edge": added_at_edge,
        "added_inside": added_inside,
        "ordered_coffee": ordered_coffee,
        "ordered_late": ordered_late,
        "twice": twice,
        "nothing": nothing,
        "anonymous": anonymous,
    }


def test_any_of_events_in_the_same_window_is_one_scan_with_the_same_members(world):
    # given "viewed, added to cart or ordered in 7 days" (the shape of an activity suppression)
    rule = {
        "any": [
            {"event": "Product Viewed", "within": {"days": 7}},
            {"event": "Product Added", "within": {"hours": 168}},
            {"event": "Order Completed", "within": {"days": 7}},
        ]
    }
    # then the window edges and events after now are honoured as before
    assert agrees({"rule": rule}) == ids(world["viewed"], world["added_inside"], world["twice"], world["anonymous"])


def test_any_mixing_windows_filters_counts_last_and_attributes(world):
    # given event children that cannot share one scan, beside a trait and a negation
    rule = {
        "any": [
            {"event": "Product Added", "count": {"gte": 2}, "within": {"days": 3}},
            {"event": "Order Completed", "where": [{"property": "category", "op": "eq", "value": "coffee"}]},
            {"event": "Order Completed", "last": {"days_ago": [90, 180]}},
            {"event": "Product Viewed", "count": {"eq": 0}},
            {"attribute": "plan", "op": "eq", "value": 1},
        ]
    }
    members = agrees({"rule": rule})
    # then: twice (2 adds), ordered-coffee (coffee), ordered-late (last order 100 days ago; the one after now
    # does not exist), added-inside (plan 1), and everyone who never viewed
    assert world["ordered_late"].pk in members
    assert world["viewed"].pk not in members
    assert world["nothing"].pk in members


@pytest.mark.parametrize(
    "window",
    [{"days_ago": [25, 45]}, {"days_ago": [90, 180]}, {"days_ago": [0, 1]}, {"days": 31}, {"days_ago": [29, 30]}],
)
@pytest.mark.parametrize("mode", ["last", "first"])
def test_last_and_first_as_one_aggregated_set(world, mode, window):
    for where in ([], [{"property": "category", "op": "eq", "value": "coffee"}]):
        node = {"event": "Order Completed", mode: window, **({"where": where} if where else {})}
        agrees({"rule": node})
        agrees({"rule": {"not": node}})
        agrees({"rule": {"all": [node, {"attribute": "plan", "op": "ne", "value": "gold"}]}})


def test_event_driven_membership_keeps_attribute_three_valued_logic(world):
    added = {"event": "Product Added", "within": {"days": 7}}
    # ne/not_in/not_exists are true for a missing or null trait; eq/in/exists are not
    for comparison in (
        {"op": "ne", "value": "gold"},
        {"op": "not_in", "value": ["gold", 1]},
        {"op": "not_exists"},
        {"op": "eq", "value": None},
        {"op": "in", "value": ["1", None]},
        {"op": "exists"},
        {"op": "gte", "value": 1},
    ):
        attribute = {"attribute": "plan", **comparison}
        agrees({"rule": {"all": [added, attribute]}})
        agrees({"rule": {"all": [added, {"not": attribute}]}})
        agrees({"rule": {"all": [added, {"any": [attribute, {"not": {"attribute": "email", "op": "exists"}}]}]}})


def test_inlined_event_driven_audiences_in_exclusions_and_membership(users, world):
    # given an activity suppression and an audience of gold profiles that references it both ways
    create_audiences(
        audience_dict(
            "active-7d",
            {
                "any": [
                    {"event": "Product Viewed", "within": {"days": 7}},
                    {"event": "Product Added", "within": {"days": 7}},
                ]
            },
            kind="suppression",
        )
    )
    definitions = [
        {"rule": {"attribute": "plan", "op": "eq", "value": "gold"}, "exclude": ["active-7d"]},
        {"rule": {"all": [{"in_audience": "active-7d"}, {"attribute": "plan", "op": "ne", "value": "gold"}]}},
        {"rule": {"event": "Order Completed"}, "exclude": ["active-7d"]},
        {"rule": {"not": {"in_audience": "active-7d"}}},
    ]
    results = [agrees(definition) for definition in definitions]
    assert results[0] == ids(world["nothing"])
    assert results[2] == ids(world["ordered_coffee"], world["ordered_late"])
