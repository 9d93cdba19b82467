"""Plain-English rendering, and the shape of the compiled SQL (one set-based statement)."""

from __future__ import annotations

import datetime as dt

import pytest

from audience_ops.audiences.definitions import Definition
from audience_ops.audiences.engine import PostgresDialect, SqliteDialect, compile_members, definition_text, node_text
from audience_ops.audiences.engine.compiler import CompileError
from audience_ops.audiences.services import audience_sample, audience_size, definition_to_text, rule_condition_sizes

from .helpers import NOW, make_profile, track

HOUR = dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("node", "text"),
    [
        ({"attribute": "plan", "op": "eq", "value": "gold"}, 'plan is "gold"'),
        ({"attribute": "plan", "op": "ne", "value": None}, "plan is not null"),
        ({"attribute": "age", "op": "gte", "value": 30}, "age is at least 30"),
        ({"attribute": "age", "op": "lt", "value": 2.5}, "age is less than 2.5"),
        ({"attribute": "tier", "op": "in", "value": ["a", 1]}, 'tier is one of "a", 1'),
        ({"attribute": "tier", "op": "not_in", "value": [True]}, "tier is none of true"),
        ({"attribute": "email", "op": "contains", "value": "@x"}, 'email contains "@x"'),
        ({"attribute": "phone", "op": "exists"}, "phone is set"),
        ({"attribute": "phone", "op": "not_exists"}, "phone is not set"),
        ({"event": "Order Completed"}, "did Order Completed at least once"),
        ({"event": "Order Completed", "count": {"eq": 0}}, "never did Order Completed"),
        (
            {"event": "Viewed", "count": {"gte": 3}, "within": {"days": 7}},
            "did Viewed at least 3 times in the last 7 days",
        ),
        ({"event": "Viewed", "count": {"eq": 1}, "within": {"hours": 1}}, "did Viewed exactly once in the last hour"),
        (
            {"event": "Viewed", "count": {"lt": 2}, "within": {"minutes": 30}},
            "did Viewed fewer than twice in the last 30 minutes",
        ),
        ({"event": "Viewed", "first": {"days": 30}}, "first did Viewed in the last 30 days"),
        ({"event": "Viewed", "last": {"days_ago": [0, 2]}}, "last did Viewed in the last 2 days"),
        ({"in_audience": "vip"}, "is a member of vip"),
        ({"not": {"event": "X"}}, "not (did X at least once)"),
        ({"all": []}, "every profile"),
    ],
)
def test_node_text(node, text):
    assert node_text(node, top=True) == text


def test_nested_groups_are_parenthesised_and_exclusions_named():
    definition = Definition(
        rule={"any": [{"all": [{"event": "A"}, {"event": "B"}]}, {"attribute": "vip", "op": "eq", "value": True}]},
        exclude=("staff",),
        paired_suppression="buyers",
    )
    assert definition_text(definition, names={"staff": "Staff accounts"}) == (
        "(did A at least once and did B at least once), or vip is true; minus members of Staff accounts; "
        "minus members of buyers"
    )


@pytest.mark.django_db
def test_definition_to_text_uses_audience_names_from_the_database(users):
    from .helpers import audience_dict, create_audiences

    create_audiences(audience_dict("staff", {"attribute": "staff", "op": "eq", "value": True}, kind="suppression"))
    assert definition_to_text({"rule": {"in_audience": "staff"}, "exclude": ["staff"]}) == (
        "Is a member of Staff; minus members of Staff"
    )


def never(slug):
    raise AssertionError(f"unexpected reference to {slug}")


@pytest.mark.parametrize("dialect", [PostgresDialect(), SqliteDialect()])
def test_one_statement_with_one_join_per_distinct_event_set(dialect):
    # given a rule that uses the same event set twice (and a different one once)
    recent = {"event": "Product Added", "within": {"days": 3}}
    definition = Definition(rule={"all": [recent, {"not": recent}, {"event": "Order Completed", "count": {"gte": 2}}]})
    sql, params = compile_members(definition, now=NOW, resolver=never, dialect=dialect)
    # then it is a single SELECT driven by the first event set, with the other one joined, grouped per profile
    assert sql.startswith("SELECT j2.profile_id AS profile_id FROM (SELECT e.profile_id FROM customers_event AS e ")
    assert sql.count("LEFT JOIN") == 1
    assert sql.count("GROUP BY e.profile_id") == 2
    assert "HAVING COUNT(*) >= %s" in sql
    # and the profile table is not read: no condition needs a profile's own columns
    assert "customers_profile" not in sql
    assert sql.count("%s") == len(params)


@pytest.mark.parametrize("dialect", [PostgresDialect(), SqliteDialect()])
def test_profile_table_is_joined_only_for_attributes_or_without_a_positive_event_set(dialect):
    added = {"event": "Product Added", "within": {"days": 3}}
    gold = {"attribute": "plan", "op": "eq", "value": "gold"}
    # an attribute beside an event set: the set drives, the profile row is joined for the attribute
    sql, _params = compile_members(Definition(rule={"all": [added, gold]}), now=NOW, resolver=never, dialect=dialect)
    assert "FROM (SELECT e.profile_id" in sql
    assert "INNER JOIN customers_profile AS p1 ON p1.id = j2.profile_id" in sql
    # no positive event set (attributes only, a negated set, a count zero satisfies): start from the profiles
    for rule in (gold, {"not": added}, {"event": "Order Completed", "count": {"eq": 0}}):
        sql, _params = compile_members(Definition(rule=rule), now=NOW, resolver=never, dialect=dialect)
        assert sql.startswith("SELECT p1.id AS profile_id FROM customers_profile AS p1"), rule


@pytest.mark.parametrize("dialect", [PostgresDialect(), SqliteDialect()])
def test_any_of_event_sets_is_one_union_and_last_is_one_aggregated_set(dialect):
    viewed = {"event": "Product Viewed", "within": {"days": 7}}
    added = {"event": "Product Added", "count": {"gte": 2}, "within": {"days": 7}}
    last_order = {"event": "Order Completed", "last": {"days_ago": [90, 180]}}
    rule = {"any": [viewed, added, last_order, {"attribute": "vip", "op": "eq", "value": True}]}
    sql, params = compile_members(Definition(rule=rule), now=NOW, resolver=never, dialect=dialect)
    # the three event children share one derived table; the attribute stays beside it
    assert sql.count("UNION") == 2
    assert sql.count("LEFT JOIN") == 1
    # a branch keeps its GROUP BY only for a count or a time bound
    assert sql.count("GROUP BY e.profile_id") == 2
    assert "HAVING COUNT(*) >= %s" in sql
    # last in (180 days ago, 90 days ago]: events since 180 days ago whose latest is at most 90 days ago
    assert "HAVING MAX(e.occurred_at) <= %s" in sql
    assert dialect.datetime_param(NOW - dt.timedelta(days=90)) in params
    # plain "did it in the window" children with the same window and filters are one scan over several names
    rule = {
        "any": [viewed, {"event": "Product Added", "within": {"hours": 168}}, {**viewed, "event": "Order Completed"}]
    }
    sql, params = compile_members(Definition(rule=rule), now=NOW, resolver=never, dialect=dialect)
    assert "e.name IN (%s, %s, %s)" in sql
    assert "UNION" not in sql
    assert params[:3] == ["Product Viewed", "Product Added", "Order Completed"]
    # first is the same with MIN
    first = Definition(rule={"event": "Order Completed", "first": {"days": 30}})
    sql, params = compile_members(first, now=NOW, resolver=never, dialect=dialect)
    assert "HAVING MIN(e.occurred_at) > %s" in sql
    assert "customers_profile" not in sql


def test_json_comparisons_are_two_valued_only_under_a_negation():
    gold = {"attribute": "plan", "op": "eq", "value": "gold"}
    sql, _params = compile_members(Definition(rule=gold), now=NOW, resolver=never, dialect=PostgresDialect())
    assert "COALESCE" not in sql  # estimable by PostgreSQL; a NULL drops the row as FALSE would
    for rule in ({"not": gold}, {**gold, "op": "ne"}, {"any": [{"not": {"all": [gold]}}]}):
        sql, _params = compile_members(Definition(rule=rule), now=NOW, resolver=never, dialect=PostgresDialect())
        assert "COALESCE((p1.traits -> CAST(%s AS text)) = CAST(%s AS jsonb), FALSE)" in sql, rule


def test_compiler_refuses_naive_now():
    with pytest.raises(ValueError, match="timezone-aware"):
        compile_members(
            Definition(rule={"all": []}), now=dt.datetime(2026, 1, 1), resolver=never, dialect=SqliteDialect()
        )


def test_compiler_reports_self_reference():
    definition = Definition(rule={"in_audience": "me"}, slug="me")
    with pytest.raises(CompileError, match="me -> me"):
        compile_members(definition, now=NOW, resolver=lambda slug: definition, dialect=SqliteDialect())


def test_referenced_audiences_are_inlined_once_per_query():
    calls = []

    def resolver(slug):
        calls.append(slug)
        return Definition(rule={"event": "Order Completed"}, slug=slug)

    definition = Definition(
        rule={"any": [{"in_audience": "buyers"}, {"not": {"in_audience": "buyers"}}]}, exclude=("buyers",)
    )
    sql, _params = compile_members(definition, now=NOW, resolver=resolver, dialect=SqliteDialect())
    assert calls == ["buyers"]
    assert sql.count("FROM customers_event") == 1


@pytest.mark.django_db
def test_size_condition_sizes_and_sample(users):
    added = [make_profile(external_id=f"a{index}") for index in range(3)]
    for profile in added:
        track(profile, "Product Added", NOW - HOUR)
    track(added[0], "Order Completed", NOW - HOUR)
    make_profile(external_id="idle")
    definition = {
        "rule": {
            "all": [{"event": "Product Added", "within": {"days": 1}}, {"event": "Order Completed", "count": {"eq": 0}}]
        }
    }
    assert audience_size(definition, NOW) == 2
    assert rule_condition_sizes(definition, NOW) == [3, 3]
    assert rule_condition_sizes({"rule": {"all": []}}, NOW) == []
    assert rule_condition_sizes({"rule": {"event": "Order Completed"}}, NOW) == [1]
    assert [profile.external_id for profile in audience_sample(definition, NOW, limit=1)] == ["a2"]
    assert [profile.external_id for profile in audience_sample(definition, NOW, limit=5)] == ["a2", "a1"]
