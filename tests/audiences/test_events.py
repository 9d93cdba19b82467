"""Event conditions: windows, count, last, first, where filters, and events after now."""

from __future__ import annotations

import datetime as dt

import pytest

from audience_ops.audiences.services import audience_member_ids

from .helpers import NOW, make_profile, track

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)
MICRO = dt.timedelta(microseconds=1)


def members(condition: dict, now: dt.datetime = NOW) -> set[int]:
    return set(audience_member_ids(definition={"rule": condition}, now=now))


def one_event_at(moment: dt.datetime, name: str = "Order Completed", **properties):
    profile = make_profile(external_id=f"p-{moment.isoformat()}-{name}")
    track(profile, name, moment, **properties)
    return profile


@pytest.mark.parametrize(
    ("window", "span"),
    [({"minutes": 30}, 30 * MINUTE), ({"hours": 6}, 6 * HOUR), ({"days": 7}, 7 * DAY)],
)
def test_relative_window_is_now_minus_n_exclusive_to_now_inclusive(window, span):
    # given events exactly at now - N, a microsecond after it, exactly at now, and a microsecond after now
    at_lower = one_event_at(NOW - span)
    just_inside = one_event_at(NOW - span + MICRO)
    at_now = one_event_at(NOW)
    after_now = one_event_at(NOW + MICRO)
    # when counting events in the window
    result = members({"event": "Order Completed", "within": window})
    # then the lower bound is excluded, now is included, and the future does not exist
    assert result == {just_inside.pk, at_now.pk}
    assert at_lower.pk not in result
    assert after_now.pk not in result


def test_days_ago_window_is_now_minus_b_exclusive_to_now_minus_a_inclusive():
    at_b = one_event_at(NOW - 45 * DAY)
    inside_b = one_event_at(NOW - 45 * DAY + MICRO)
    at_a = one_event_at(NOW - 25 * DAY)
    after_a = one_event_at(NOW - 25 * DAY + MICRO)
    result = members({"event": "Order Completed", "within": {"days_ago": [25, 45]}})
    assert result == {inside_b.pk, at_a.pk}
    assert {at_b.pk, after_a.pk}.isdisjoint(result)


def test_count_defaults_to_at_least_once_all_time():
    old = one_event_at(NOW - 400 * DAY)
    other = one_event_at(NOW - DAY, name="Product Added")
    result = members({"event": "Order Completed"})
    assert result == {old.pk}
    assert other.pk not in result


def test_event_names_are_exact_and_case_sensitive():
    exact = one_event_at(NOW - HOUR, name="Order Completed")
    lower = one_event_at(NOW - HOUR, name="order completed")
    assert members({"event": "Order Completed"}) == {exact.pk}
    assert lower.pk not in members({"event": "Order Completed"})


def test_count_eq_0_is_true_for_profiles_that_never_did_it():
    # given someone who never ordered, someone who ordered long ago, and a recent buyer
    never = make_profile(external_id="never")
    long_ago = one_event_at(NOW - 10 * DAY)
    recent = one_event_at(NOW - HOUR)
    # then "no order in 3 days" keeps the first two
    result = members({"event": "Order Completed", "count": {"eq": 0}, "within": {"days": 3}})
    assert result == {never.pk, long_ago.pk}
    assert recent.pk not in result
    # and "never ordered" (all time) only the first
    assert members({"event": "Order Completed", "count": {"eq": 0}}) == {never.pk}


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        ({"gte": 2}, {"two", "three"}),
        ({"gt": 2}, {"three"}),
        ({"eq": 2}, {"two"}),
        ({"lte": 1}, {"none", "one"}),
        ({"lt": 2}, {"none", "one"}),
        ({"gte": 0}, {"none", "one", "two", "three"}),
        ({"lt": 0}, set()),
    ],
)
def test_count_comparisons(count, expected):
    # given profiles with 0..3 orders in the last week (and older orders that do not count)
    profiles = {}
    for number, name in enumerate(["none", "one", "two", "three"]):
        profile = make_profile(external_id=name)
        for index in range(number):
            track(profile, "Order Completed", NOW - (index + 1) * HOUR)
        track(profile, "Order Completed", NOW - 30 * DAY)
        profiles[name] = profile
    result = members({"event": "Order Completed", "count": count, "within": {"days": 7}})
    assert result == {profiles[name].pk for name in expected}


def test_last_requires_the_most_recent_event_in_the_window():
    # given a shopper whose last coffee order was 30 days ago and one who ordered again yesterday
    lapsed = make_profile(external_id="lapsed")
    track(lapsed, "Order Completed", NOW - 30 * DAY, category="coffee")
    track(lapsed, "Order Completed", NOW - 60 * DAY, category="coffee")
    returned = make_profile(external_id="returned")
    track(returned, "Order Completed", NOW - 30 * DAY, category="coffee")
    track(returned, "Order Completed", NOW - DAY, category="coffee")
    never = make_profile(external_id="never")
    # then only the lapsed shopper's *last* order is 25 to 45 days ago
    result = members({"event": "Order Completed", "last": {"days_ago": [25, 45]}})
    assert result == {lapsed.pk}
    assert {returned.pk, never.pk}.isdisjoint(result)


def test_last_ignores_events_after_now():
    # given an order 30 days ago and one stamped in the future
    profile = make_profile(external_id="time-traveller")
    track(profile, "Order Completed", NOW - 30 * DAY)
    track(profile, "Order Completed", NOW + DAY)
    # then at now the last order is the one 30 days ago
    assert members({"event": "Order Completed", "last": {"days_ago": [25, 45]}}) == {profile.pk}
    # and a day later the future order has happened
    assert members({"event": "Order Completed", "last": {"days_ago": [25, 45]}}, now=NOW + 2 * DAY) == set()


def test_first_requires_the_earliest_event_in_the_window():
    newcomer = make_profile(external_id="newcomer")
    track(newcomer, "Order Completed", NOW - 2 * DAY)
    track(newcomer, "Order Completed", NOW - HOUR)
    veteran = make_profile(external_id="veteran")
    track(veteran, "Order Completed", NOW - 100 * DAY)
    track(veteran, "Order Completed", NOW - HOUR)
    assert members({"event": "Order Completed", "first": {"days": 7}}) == {newcomer.pk}


def test_a_profile_whose_only_events_are_after_now_exists_without_events():
    future = one_event_at(NOW + HOUR)
    assert members({"event": "Order Completed", "count": {"eq": 0}}) == {future.pk}
    assert members({"event": "Order Completed", "first": {"days": 1}}) == set()


def test_where_filters_all_must_hold_with_attribute_semantics():
    coffee = one_event_at(NOW - HOUR, category="coffee", price=12)
    cheap_coffee = one_event_at(NOW - 2 * HOUR, category="coffee", price="12")
    tea = one_event_at(NOW - 3 * HOUR, category="tea", price=12)
    condition = {
        "event": "Order Completed",
        "where": [
            {"property": "category", "op": "eq", "value": "coffee"},
            {"property": "price", "op": "gte", "value": 10},
        ],
    }
    # "12" as a string is not a number, so only the first order counts
    assert members(condition) == {coffee.pk}
    assert {cheap_coffee.pk, tea.pk}.isdisjoint(members(condition))


def test_where_filters_count_only_matching_events():
    profile = make_profile(external_id="mixed")
    track(profile, "Order Completed", NOW - HOUR, category="coffee")
    track(profile, "Order Completed", NOW - 2 * HOUR, category="tea")
    track(profile, "Order Completed", NOW - 3 * HOUR)
    coffee_twice = {
        "event": "Order Completed",
        "where": [{"property": "category", "op": "eq", "value": "coffee"}],
        "count": {"gte": 2},
    }
    not_tea = {
        "event": "Order Completed",
        "where": [{"property": "category", "op": "ne", "value": "tea"}],
        "count": {"eq": 2},
    }
    assert members(coffee_twice) == set()
    assert members(not_tea) == {profile.pk}
