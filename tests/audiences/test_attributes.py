"""Attribute conditions, one row of the spec's table at a time."""

from __future__ import annotations

import pytest

from audience_ops.audiences.services import audience_member_ids

from .helpers import NOW, make_profile

pytestmark = pytest.mark.django_db


def members(condition: dict) -> set[int]:
    return set(audience_member_ids(definition={"rule": condition}, now=NOW))


@pytest.fixture
def people(db):
    """Profiles whose ``plan`` trait is each interesting JSON value, or missing."""
    values = {
        "string_1": "1",
        "number_1": 1,
        "float_1": 1.0,
        "true": True,
        "false": False,
        "null": None,
        "gold": "gold",
        "Gold": "Gold",
        "number_2_5": 2.5,
        "list": [1],
        "object": {"k": 1},
    }
    result = {name: make_profile(external_id=name, traits={"plan": value}) for name, value in values.items()}
    result["missing"] = make_profile(external_id="missing", traits={"other": 1})
    return result


def pick(people, *names: str) -> set[int]:
    return {people[name].pk for name in names}


def test_eq_uses_json_equality_string_1_is_not_number_1(people):
    assert members({"attribute": "plan", "op": "eq", "value": "1"}) == pick(people, "string_1")


def test_eq_number_matches_int_and_float_but_not_true(people):
    assert members({"attribute": "plan", "op": "eq", "value": 1}) == pick(people, "number_1", "float_1")


def test_eq_true_is_not_1(people):
    assert members({"attribute": "plan", "op": "eq", "value": True}) == pick(people, "true")


def test_eq_false_is_not_0_nor_missing(people):
    assert members({"attribute": "plan", "op": "eq", "value": False}) == pick(people, "false")


def test_eq_null_matches_a_present_null_only(people):
    assert members({"attribute": "plan", "op": "eq", "value": None}) == pick(people, "null")


def test_eq_strings_are_case_sensitive(people):
    assert members({"attribute": "plan", "op": "eq", "value": "gold"}) == pick(people, "gold")


def test_ne_is_not_eq_so_missing_matches(people):
    # given everyone but "true"
    expected = {profile.pk for name, profile in people.items() if name != "true"}
    # then ne true includes the missing attribute, the null, and 1
    assert members({"attribute": "plan", "op": "ne", "value": True}) == expected


def test_gt_gte_lt_lte_only_match_json_numbers(people):
    assert members({"attribute": "plan", "op": "gt", "value": 1}) == pick(people, "number_2_5")
    assert members({"attribute": "plan", "op": "gte", "value": 1}) == pick(people, "number_1", "float_1", "number_2_5")
    assert members({"attribute": "plan", "op": "lt", "value": 2.5}) == pick(people, "number_1", "float_1")
    # true, "1", null and missing are never numbers
    assert members({"attribute": "plan", "op": "lte", "value": 100}) == pick(
        people, "number_1", "float_1", "number_2_5"
    )


def test_in_is_json_equality_against_each_item(people):
    assert members({"attribute": "plan", "op": "in", "value": ["gold", 2.5, None]}) == pick(
        people, "gold", "number_2_5", "null"
    )


def test_not_in_also_matches_missing(people):
    expected = {profile.pk for name, profile in people.items() if name not in ("gold", "true")}
    assert members({"attribute": "plan", "op": "not_in", "value": ["gold", True]}) == expected


def test_contains_is_for_strings_and_case_sensitive(people):
    assert members({"attribute": "plan", "op": "contains", "value": "old"}) == pick(people, "gold", "Gold")
    assert members({"attribute": "plan", "op": "contains", "value": "G"}) == pick(people, "Gold")
    # the number 1 does not "contain" "1": only strings do
    assert members({"attribute": "plan", "op": "contains", "value": "1"}) == pick(people, "string_1")


def test_exists_is_present_and_not_null(people):
    expected = {profile.pk for name, profile in people.items() if name not in ("null", "missing")}
    assert members({"attribute": "plan", "op": "exists"}) == expected


def test_not_exists_is_missing_or_null(people):
    assert members({"attribute": "plan", "op": "not_exists"}) == pick(people, "null", "missing")


def test_trait_names_with_dots_spaces_quotes_and_accents_are_read_literally(db):
    # given traits whose names would break naive JSON paths
    odd = make_profile(
        external_id="odd",
        traits={"a.b": 1, "sp ace": "x", 'q"uote': True, "café": "crème", "back\\slash": 2, "a": {"b": 1}},
    )
    nested = make_profile(external_id="nested", traits={"a": {"b": 1}})
    # then each name addresses exactly the key of that name, not a nested path
    assert members({"attribute": "a.b", "op": "eq", "value": 1}) == {odd.pk}
    assert members({"attribute": "sp ace", "op": "eq", "value": "x"}) == {odd.pk}
    assert members({"attribute": 'q"uote', "op": "eq", "value": True}) == {odd.pk}
    assert members({"attribute": "café", "op": "contains", "value": "crè"}) == {odd.pk}
    assert members({"attribute": "back\\slash", "op": "gte", "value": 2}) == {odd.pk}
    assert members({"attribute": "a.b", "op": "not_exists"}) == {nested.pk}


def test_identifiers_are_columns_and_missing_when_empty(db):
    # given a known profile with email and phone, and an anonymous one without
    known = make_profile(external_id="u-1", email="Ann@Example.com", phone="+15550001", traits={"email": "x@y.z"})
    anonymous = make_profile(anonymous_ids=("anon-1",))
    # then email reads the column (not a trait named email), case-sensitively
    assert members({"attribute": "email", "op": "eq", "value": "Ann@Example.com"}) == {known.pk}
    assert members({"attribute": "email", "op": "eq", "value": "x@y.z"}) == set()
    assert members({"attribute": "email", "op": "contains", "value": "example"}) == set()
    assert members({"attribute": "external_id", "op": "in", "value": ["u-1", "u-2"]}) == {known.pk}
    # and an absent identifier is missing: exists false, not_exists and ne true
    assert members({"attribute": "phone", "op": "exists"}) == {known.pk}
    assert members({"attribute": "phone", "op": "not_exists"}) == {anonymous.pk}
    assert members({"attribute": "external_id", "op": "ne", "value": "u-1"}) == {anonymous.pk}
    # and identifiers are strings: never numbers, never null-equal
    assert members({"attribute": "phone", "op": "gt", "value": 0}) == set()
    assert members({"attribute": "phone", "op": "eq", "value": None}) == set()
