"""Exhaustive differential tests: every single-condition form against the reference, on one dense world.

Where the property tests explore random compositions, these walk every op x key x value and every window x
count comparison over a fixed world whose events sit exactly on, just inside and just outside each window
boundary, so an off-by-one at a boundary or a type confusion in JSON equality cannot hide.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from audience_ops.audiences.services import audience_member_ids

from .helpers import NOW, make_profile, track
from .reference import ReferenceEvaluator
from .strategies import AGES, CONTAINS, EVENT_NAMES, JITTERS, NUMBERS, SCALARS, TRAIT_KEYS, TRAIT_VALUES, WINDOWS

pytestmark = pytest.mark.django_db

MISSING = object()


@pytest.fixture
def trait_world(db):
    """One profile per trait value (the value under every key), one without traits, identifiers varied."""
    emails = ["ann@example.com", "Ann@Example.com", "", None]
    for index, value in enumerate([*TRAIT_VALUES, MISSING]):
        traits = {} if value is MISSING else dict.fromkeys(TRAIT_KEYS, value)
        make_profile(
            external_id=None if index % 3 == 0 else f"user-{index}",
            email=emails[index % len(emails)],
            phone=None if index % 2 else "+15550001",
            traits=traits,
        )


@pytest.fixture
def event_world(db):
    """Profiles with one event at each boundary-ish time, and profiles with 2 and 3 events, with properties."""
    moments = sorted({NOW - age + jitter for age, jitter in itertools.product(AGES, JITTERS)})
    for index, moment in enumerate(moments):
        profile = make_profile(external_id=f"one-{index}")
        track(profile, "Order Completed", moment, category="coffee" if index % 2 else "tea", price=index % 4)
    for index, (first, second) in enumerate(itertools.combinations(moments[::3], 2)):
        profile = make_profile(external_id=f"two-{index}")
        track(profile, "Order Completed", first, category="coffee")
        track(profile, "Order Completed", second, category="tea")
        if index % 4 == 0:
            track(profile, "Order Completed", second - dt.timedelta(hours=1), category="coffee")
    lone = make_profile(external_id="never")
    track(lone, "order completed", NOW - dt.timedelta(hours=1))


def _mismatches(conditions):
    reference = ReferenceEvaluator(NOW)
    wrong = []
    for condition in conditions:
        engine = set(audience_member_ids(definition={"rule": condition}, now=NOW))
        expected = reference.members({"rule": condition})
        if engine != expected:
            wrong.append((condition, sorted(engine - expected), sorted(expected - engine)))
    return wrong


def test_every_attribute_op_key_and_value_matches_the_reference(trait_world):
    # given every key (traits with dots, spaces, quotes, non-ASCII, and the identifier columns)
    conditions = []
    for key in [*TRAIT_KEYS, "email", "phone", "external_id"]:
        for value in SCALARS:
            conditions += [{"attribute": key, "op": op, "value": value} for op in ("eq", "ne")]
            conditions += [{"attribute": key, "op": op, "value": [value, 2.5]} for op in ("in", "not_in")]
        for number in NUMBERS:
            conditions += [{"attribute": key, "op": op, "value": number} for op in ("gt", "gte", "lt", "lte")]
        conditions += [{"attribute": key, "op": "contains", "value": text} for text in CONTAINS]
        conditions += [{"attribute": key, "op": op} for op in ("exists", "not_exists")]
    # when each condition is evaluated alone / then the engine and the reference agree on all of them
    assert _mismatches(conditions) == []


def test_every_window_and_count_comparison_matches_the_reference(event_world):
    conditions = []
    for window in [None, *WINDOWS]:
        for op, number in itertools.product(("eq", "gte", "gt", "lte", "lt"), range(4)):
            condition = {"event": "Order Completed", "count": {op: number}}
            if window is not None:
                condition["within"] = window
            conditions.append(condition)
    assert _mismatches(conditions) == []


def test_every_last_and_first_window_matches_the_reference(event_world):
    conditions = [{"event": "Order Completed", mode: window} for mode in ("last", "first") for window in WINDOWS]
    assert _mismatches(conditions) == []


def test_where_filters_and_event_names_match_the_reference(event_world):
    conditions = []
    for name in dict.fromkeys(EVENT_NAMES):
        for where in (
            [{"property": "category", "op": "eq", "value": "coffee"}],
            [{"property": "category", "op": "ne", "value": "coffee"}],
            [{"property": "price", "op": "gte", "value": 2}],
            [{"property": "price", "op": "in", "value": [0, "1", True]}],
            [{"property": "category", "op": "contains", "value": "e"}, {"property": "price", "op": "lt", "value": 3}],
            [{"property": "missing", "op": "not_exists"}],
        ):
            conditions.append({"event": name, "where": where, "within": {"days": 3}})
            conditions.append({"event": name, "where": where, "count": {"eq": 0}})
            conditions.append({"event": name, "where": where, "last": {"days_ago": [1, 5]}})
    assert _mismatches(conditions) == []
