"""The validator: every problem, each with its JSON path and what is wrong."""

from __future__ import annotations

import copy

import pytest

from audience_ops.audiences.validation import ExistingAudience, Problem, validate_audience_payload, validate_rule

from .helpers import SPEC_EXAMPLE, audience_dict, create_audiences

USERS = {"maria", "ops"}


def check(payload, existing=None) -> list[str]:
    return [str(problem) for problem in validate_audience_payload(payload, existing=existing or {}, usernames=USERS)]


def with_rule(rule) -> dict:
    return audience_dict("some-audience", rule)


def test_the_spec_example_is_valid():
    assert check(SPEC_EXAMPLE) == []


def test_problem_reads_path_colon_message():
    assert str(Problem("rule.all[1].within", "bad")) == "rule.all[1].within: bad"
    assert str(Problem("", "bad")) == "bad"


def test_days_ago_needs_a_before_b():
    rule = {
        "all": [{"attribute": "plan", "op": "exists"}, {"event": "Order Completed", "within": {"days_ago": [5, 5]}}]
    }
    assert check(with_rule(rule)) == [
        'rule.all[1].within: "days_ago" needs [A, B] with integers 0 <= A < B, got a list of 2'
    ]


def test_paths_in_a_file_start_with_the_audience_index():
    payload = copy.deepcopy(SPEC_EXAMPLE)
    payload["audiences"][2]["rule"]["last"] = {"days_ago": [45, 25]}
    assert check(payload) == [
        'audiences[2].rule.last: "days_ago" needs [A, B] with integers 0 <= A < B, got a list of 2'
    ]


def test_all_problems_are_returned_not_just_the_first():
    payload = copy.deepcopy(SPEC_EXAMPLE)
    payload["audiences"][0]["kind"] = "retargeting"
    payload["audiences"][1]["rule"]["all"][0]["within"] = {"days": 0}
    payload["audiences"][1]["colour"] = "red"
    payload["audiences"][2]["retire_on"] = "2027-02-30"
    assert check(payload) == [
        'audiences[0].kind: must be one of targeting, suppression, got string "retargeting"',
        "audiences[1].colour: unknown key (allowed: slug, name, kind, objective, owner, purpose, retire_on, "
        "paired_suppression, exclude, offer, intent, rule, qa)",
        "audiences[1].rule.all[0].within.days: N must be a positive integer, got number 0",
        'audiences[2].retire_on: "2027-02-30" is not a real date',
        # purchased-24h is no longer a suppression audience, so the pairs are wrong too
        'audiences[1].paired_suppression: "purchased-24h" is a retargeting audience; a paired suppression must be '
        "kind suppression",
        'audiences[2].paired_suppression: "purchased-24h" is a retargeting audience; a paired suppression must be '
        "kind suppression",
    ]


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"attribute": "age", "op": "gt", "value": "5"}, 'rule.value: "gt" needs a number, got string "5"'),
        ({"attribute": "age", "op": "gte", "value": True}, 'rule.value: "gte" needs a number, got true'),
        (
            {"attribute": "tier", "op": "in", "value": []},
            'rule.value: "in" needs a non-empty list of JSON scalars, got an empty list',
        ),
        (
            {"attribute": "tier", "op": "not_in", "value": "gold"},
            'rule.value: "not_in" needs a non-empty list of JSON scalars, got string "gold"',
        ),
        (
            {"attribute": "tier", "op": "in", "value": ["a", ["b"]]},
            "rule.value[1]: must be a JSON scalar, got a list of 1",
        ),
        ({"attribute": "email", "op": "contains", "value": 5}, 'rule.value: "contains" needs a string, got number 5'),
        ({"attribute": "email", "op": "exists", "value": True}, 'rule.value: "exists" takes no value'),
        ({"attribute": "email", "op": "eq"}, 'rule.value: is required for "eq"'),
        (
            {"attribute": "email", "op": "eq", "value": {"a": 1}},
            'rule.value: "eq" needs a JSON scalar (string, number, true, false or null), got an object',
        ),
        (
            {"attribute": "email", "op": "like", "value": "x"},
            "rule.op: must be one of eq, ne, gt, gte, lt, lte, in, not_in, contains, exists, not_exists, "
            'got string "like"',
        ),
        ({"attribute": "", "op": "exists"}, 'rule.attribute: must be a non-empty trait name, got string ""'),
        (
            {"attribute": "x", "op": "exists", "case": "insensitive"},
            "rule.case: unknown key (allowed: attribute, op, value)",
        ),
    ],
)
def test_attribute_value_types_per_op(condition, message):
    assert check(with_rule(condition)) == [message]


@pytest.mark.parametrize(
    ("condition", "messages"),
    [
        ({"any": []}, ['rule.any: must not be empty (an empty "any" would match nobody)']),
        (
            {"event": "X", "count": {"gte": 1, "lte": 3}},
            ["rule.count: needs exactly one comparison (eq, gte, gt, lte, lt), got 2"],
        ),
        ({"event": "X", "count": {"gte": -1}}, ["rule.count.gte: N must be a non-negative integer, got number -1"]),
        ({"event": "X", "count": {"gte": 1.5}}, ["rule.count.gte: N must be a non-negative integer, got number 1.5"]),
        (
            {"event": "X", "count": {"ge": 1}},
            [
                "rule.count.ge: unknown comparison (allowed: eq, gte, gt, lte, lt)",
                "rule.count: needs exactly one comparison (eq, gte, gt, lte, lt), got 0",
            ],
        ),
        (
            {"event": "X", "count": {"gte": 1}, "last": {"days": 3}},
            [
                "rule: has both count and last: an event condition takes exactly one of count, last, first",
            ],
        ),
        (
            {"event": "X", "last": {"days": 3}, "within": {"days": 3}},
            [
                'rule.within: cannot be combined with "last": the window of "last" is its value',
            ],
        ),
        (
            {"event": "X", "first": {"weeks": 1}},
            [
                "rule.first.weeks: unknown window unit (allowed: minutes, hours, days, days_ago)",
                "rule.first: needs exactly one of minutes, hours, days, days_ago, got 0",
            ],
        ),
        ({"event": "X", "within": {"hours": 2.5}}, ["rule.within.hours: N must be a positive integer, got number 2.5"]),
        (
            {"event": "X", "within": {"days": 3, "hours": 1}},
            ["rule.within: needs exactly one of minutes, hours, days, days_ago, got 2"],
        ),
        (
            {"event": "X", "within": {"days_ago": [-1, 3]}},
            ['rule.within: "days_ago" needs [A, B] with integers 0 <= A < B, got a list of 2'],
        ),
        (
            {"event": "X", "where": [{"property": "p", "op": "gt", "value": "1"}]},
            ['rule.where[0].value: "gt" needs a number, got string "1"'],
        ),
        (
            {"event": "", "colour": 1},
            [
                "rule.colour: unknown key (allowed: event, where, count, within, last, first)",
                'rule.event: must be a non-empty event name, got string ""',
            ],
        ),
        (
            {"all": [{"event": "X"}], "any": [{"event": "Y"}]},
            [
                "rule: mixes all and any: a condition is exactly one of all, any, not, attribute, event, in_audience",
            ],
        ),
        (
            {"everything": True},
            ["rule: is not a condition: expected exactly one of all, any, not, attribute, event, in_audience"],
        ),
        ({"not": [{"event": "X"}]}, ["rule.not: must be a condition object, got a list of 1"]),
        (
            {"in_audience": "Bad_Slug"},
            [
                'rule.in_audience: "Bad_Slug" is not a valid slug: use lowercase letters and digits in words joined by '
                "single hyphens"
            ],
        ),
    ],
)
def test_condition_tree_problems(condition, messages):
    assert check(with_rule(condition)) == messages


def test_nesting_of_five_group_levels_is_allowed_and_six_is_not():
    leaf = {"event": "X"}
    five = {"all": [{"any": [{"not": {"all": [{"any": [leaf]}]}}]}]}
    six = {"all": [{"any": [{"not": {"all": [{"any": [{"not": leaf}]}]}}]}]}
    assert check(with_rule(five)) == []
    assert check(with_rule(six)) == [
        "rule.all[0].any[0].not.all[0].any[0]: nesting is deeper than 5 levels: this is group level 6 "
        "(all/any/not nodes counted from the rule down)"
    ]


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("ab", 'slug: "ab" must be 3 to 64 characters long, not 2'),
        ("a" * 65, f'slug: "{"a" * 65}" must be 3 to 64 characters long, not 65'),
        (
            "Cart-3d",
            'slug: "Cart-3d" is not a valid slug: use lowercase letters and digits in words joined by single hyphens',
        ),
        (
            "cart--3d",
            'slug: "cart--3d" is not a valid slug: use lowercase letters and digits in words joined by single hyphens',
        ),
        (
            "-cart",
            'slug: "-cart" is not a valid slug: use lowercase letters and digits in words joined by single hyphens',
        ),
        (12, "slug: must be an audience slug (a string), got number 12"),
    ],
)
def test_slug_pattern_and_length(slug, message):
    assert check(audience_dict(slug, {"all": []})) == [message]


def test_missing_required_keys_and_bad_choices():
    payload = {"slug": "lonely", "kind": "targeting", "objective": "email", "offer": "free", "owner": "nobody"}
    assert check(payload) == [
        "name: is required",
        "purpose: is required",
        "retire_on: is required",
        "rule: is required",
        'objective: must be one of ads, warehouse, analytics, got string "email"',
        'offer: must be one of discount, full_price, none, got string "free"',
        'owner: unknown user "nobody"',
    ]


def test_numbers_must_fit_64_bits():
    assert check(with_rule({"attribute": "score", "op": "gt", "value": 1e300})) == [
        "rule.value: numbers must lie between -9223372036854775807 and 9223372036854775807"
    ]
    assert check(with_rule({"attribute": "score", "op": "in", "value": [1, -(2**64)]})) == [
        "rule.value[1]: numbers must lie between -9223372036854775807 and 9223372036854775807"
    ]


def test_retire_on_must_be_an_iso_date():
    assert check(audience_dict("dated", {"all": []}, retire_on="31/03/2027")) == [
        'retire_on: must be an ISO date YYYY-MM-DD, got string "31/03/2027"'
    ]


def test_targeting_ads_needs_a_paired_suppression():
    assert check(audience_dict("ads-audience", {"all": []}, objective="ads")) == [
        'paired_suppression: is required for a targeting audience with objective "ads" '
        "(the slug of a suppression audience)"
    ]
    assert check(audience_dict("ads-suppression", {"all": []}, objective="ads", kind="suppression")) == []


def test_paired_suppression_must_be_kind_suppression():
    payload = {
        "audiences": [
            audience_dict("target-a", {"all": []}),
            audience_dict("target-b", {"all": []}, objective="ads", paired_suppression="target-a"),
        ]
    }
    assert check(payload) == [
        'audiences[1].paired_suppression: "target-a" is a targeting audience; '
        "a paired suppression must be kind suppression"
    ]


def test_unknown_references_are_reported_where_they_are():
    payload = audience_dict(
        "refs", {"any": [{"in_audience": "ghost-one"}]}, exclude=["ghost-two"], paired_suppression="ghost-three"
    )
    assert check(payload) == [
        'exclude[0]: unknown audience "ghost-two" (not in this file nor in the database)',
        'paired_suppression: unknown audience "ghost-three" (not in this file nor in the database)',
        'rule.any[0].in_audience: unknown audience "ghost-one" (not in this file nor in the database)',
    ]


def test_references_may_point_forward_in_the_same_file_or_to_the_database():
    payload = {
        "audiences": [
            audience_dict("uses-later", {"in_audience": "defined-later"}, exclude=["stored"]),
            audience_dict("defined-later", {"all": []}),
        ]
    }
    existing = {"stored": ExistingAudience(slug="stored", kind="suppression")}
    assert check(payload, existing) == []


def test_cycles_within_a_file_are_reported_with_their_chain():
    payload = {
        "audiences": [
            audience_dict("loop-a", {"in_audience": "loop-b"}),
            audience_dict("loop-b", {"all": []}, exclude=["loop-a"]),
            audience_dict("selfish", {"not": {"in_audience": "selfish"}}),
        ]
    }
    assert check(payload) == [
        'audiences[0].rule.in_audience: "loop-b" leads back to "loop-a" (loop-a -> loop-b -> loop-a): references must '
        "not form a cycle",
        'audiences[1].exclude[0]: "loop-a" leads back to "loop-b" (loop-b -> loop-a -> loop-b): references must not '
        "form a cycle",
        'audiences[2].rule.not.in_audience: "selfish" leads back to "selfish" (selfish -> selfish): references must '
        "not form a cycle",
    ]


def test_cycles_through_the_database_are_reported():
    # given a stored audience that (through its live version) refers to "new-one"
    existing = {"stored": ExistingAudience(slug="stored", kind="targeting", refs=frozenset({"new-one"}))}
    payload = audience_dict("new-one", {"in_audience": "stored"})
    assert check(payload, existing) == [
        'rule.in_audience: "stored" leads back to "new-one" (new-one -> stored -> new-one): references must not form '
        "a cycle"
    ]


@pytest.mark.django_db
def test_cycles_against_stored_audiences_use_the_real_database(users):
    create_audiences(audience_dict("stored-a", {"all": []}), audience_dict("stored-b", {"in_audience": "stored-a"}))
    # re-defining stored-a to refer to stored-b closes the loop
    problems = [str(p) for p in validate_audience_payload(audience_dict("stored-a", {"in_audience": "stored-b"}))]
    assert problems == [
        'rule.in_audience: "stored-b" leads back to "stored-a" (stored-a -> stored-b -> stored-a): references must '
        "not form a cycle"
    ]


def test_duplicate_slugs_in_a_file():
    payload = {"audiences": [audience_dict("twice", {"all": []}), audience_dict("twice", {"all": []})]}
    assert check(payload) == ['audiences[1].slug: "twice" appears more than once (first at audiences[0])']


def test_exclude_entries_must_be_distinct_slugs():
    existing = {"other": ExistingAudience(slug="other", kind="suppression")}
    assert check(audience_dict("excl", {"all": []}, exclude=["other", "other", 3]), existing) == [
        'exclude[1]: "other" is listed more than once',
        "exclude[2]: must be an audience slug (a string), got number 3",
    ]


@pytest.mark.parametrize(
    ("qa", "messages"),
    [
        ([{"profile": "u-1", "expect": "in", "note": "abandoner"}], []),
        ([{"profile": "u-1", "expect": "in"}], []),
        ("u-1", ['qa: must be a list of QA cases, got string "u-1"']),
        (
            [{"profile": "", "expect": "maybe", "why": "x"}],
            [
                "qa[0].why: unknown key (allowed: profile, expect, note)",
                'qa[0].profile: must be a non-empty external id, got string ""',
                'qa[0].expect: must be "in" or "out", got string "maybe"',
            ],
        ),
        (
            [{"expect": "out", "note": 3}],
            [
                "qa[0].profile: is required (the external id of a profile)",
                "qa[0].note: must be a string, got number 3",
            ],
        ),
        ([["u-1", "in"]], ['qa[0]: must be an object {"profile": ..., "expect": "in" or "out"}, got a list of 2']),
    ],
)
def test_qa_cases(qa, messages):
    assert check(audience_dict("qa-audience", {"all": []}, qa=qa)) == messages


def test_the_payload_shape_itself():
    assert check(["not", "objects"]) == [
        'audiences[0]: must be an audience object, got string "not"',
        'audiences[1]: must be an audience object, got string "objects"',
    ]
    assert check({"audiences": {"slug": "x"}}) == ["audiences: must be a list of audience objects, got an object"]
    assert check({"audiences": [], "version": 1}) == [
        'version: unknown key; a file holds one audience object or {"audiences": [...]}'
    ]
    assert check("text") == ['expected an audience object or {"audiences": [...]}, got string "text"']


def test_validate_rule_checks_a_tree_alone():
    assert [str(p) for p in validate_rule({"any": []})] == [
        'rule.any: must not be empty (an empty "any" would match nobody)'
    ]
    assert validate_rule({"in_audience": "anything-at-all"}) == []
