"""Membership: groups, in_audience, exclusions, paired suppression, versions used, identity."""

from __future__ import annotations

import datetime as dt

import pytest

from audience_ops.audiences.engine import CompileError
from audience_ops.audiences.models import Audience, AudienceVersion
from audience_ops.audiences.services import audience_member_ids, audience_members_sql, audience_version_create

from .helpers import NOW, audience_dict, create_audiences, ids, make_profile, member_ids, track

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@pytest.fixture
def shoppers(users):
    """vip (gold plan), buyer (ordered an hour ago), browser (viewed), anon (anonymous, viewed)."""
    vip = make_profile(external_id="vip", traits={"plan": "gold"})
    buyer = make_profile(external_id="buyer", traits={"plan": "basic"})
    browser = make_profile(external_id="browser")
    anon = make_profile(anonymous_ids=("anon-1",))
    track(buyer, "Order Completed", NOW - HOUR)
    track(vip, "Product Viewed", NOW - HOUR)
    track(browser, "Product Viewed", NOW - HOUR)
    track(anon, "Product Viewed", NOW - HOUR)
    return {"vip": vip, "buyer": buyer, "browser": browser, "anon": anon}


def definition(rule, **extra):
    return {"rule": rule, **extra}


def test_empty_all_matches_every_profile_anonymous_too(shoppers):
    assert set(audience_member_ids(definition=definition({"all": []}), now=NOW)) == ids(*shoppers.values())


def test_all_any_not_combine(shoppers):
    viewed = {"event": "Product Viewed", "within": {"days": 1}}
    gold = {"attribute": "plan", "op": "eq", "value": "gold"}
    assert set(audience_member_ids(definition=definition({"all": [viewed, {"not": gold}]}), now=NOW)) == ids(
        shoppers["browser"], shoppers["anon"]
    )
    assert set(
        audience_member_ids(definition=definition({"any": [gold, {"event": "Order Completed"}]}), now=NOW)
    ) == ids(shoppers["vip"], shoppers["buyer"])


def test_exclude_removes_members_of_each_listed_audience(shoppers):
    # given audiences of buyers and of gold-plan profiles
    create_audiences(
        audience_dict("buyers", {"event": "Order Completed", "within": {"days": 1}}),
        audience_dict("gold", {"attribute": "plan", "op": "eq", "value": "gold"}),
    )
    # when everyone minus both is evaluated
    result = set(audience_member_ids(definition=definition({"all": []}, exclude=["buyers", "gold"]), now=NOW))
    # then buyers and gold-plan profiles are removed
    assert result == ids(shoppers["browser"], shoppers["anon"])


def test_paired_suppression_is_always_applied(shoppers):
    create_audiences(audience_dict("buyers", {"event": "Order Completed", "within": {"days": 1}}, kind="suppression"))
    result = set(audience_member_ids(definition=definition({"all": []}, paired_suppression="buyers"), now=NOW))
    assert result == ids(shoppers["vip"], shoppers["browser"], shoppers["anon"])
    assert shoppers["buyer"].pk not in result


def test_exclusions_of_a_referenced_audience_apply_inside_in_audience(shoppers):
    # given "viewers" = viewed minus gold, with gold excluded
    create_audiences(
        audience_dict("gold", {"attribute": "plan", "op": "eq", "value": "gold"}, kind="suppression"),
        audience_dict("viewers", {"event": "Product Viewed"}, exclude=["gold"]),
    )
    # then in_audience viewers does not include the gold viewer
    result = set(audience_member_ids(definition=definition({"in_audience": "viewers"}), now=NOW))
    assert result == ids(shoppers["browser"], shoppers["anon"])


def test_referenced_audiences_use_their_live_version_else_the_latest(shoppers):
    # given "segment" whose v1 selects gold and v2 selects buyers
    (segment,) = create_audiences(audience_dict("segment", {"attribute": "plan", "op": "eq", "value": "gold"}))
    _v2, created = audience_version_create(
        audience=segment, definition={"rule": {"event": "Order Completed"}}, author=segment.owner
    )
    assert created is True
    uses_segment = definition({"in_audience": "segment"})
    # when there is no live version, the latest (v2) is used
    assert set(audience_member_ids(definition=uses_segment, now=NOW)) == ids(shoppers["buyer"])
    # when v1 is live, v1 is used
    segment.live_version = segment.versions.get(number=1)
    segment.save(update_fields=["live_version"])
    assert set(audience_member_ids(definition=uses_segment, now=NOW)) == ids(shoppers["vip"])
    # and an explicit version of the audience itself can be asked for
    assert member_ids(segment) == ids(shoppers["vip"])
    assert set(audience_member_ids(audience=segment, now=NOW, version=2)) == ids(shoppers["buyer"])


def test_membership_is_deterministic_for_the_same_now(shoppers):
    (audience,) = create_audiences(audience_dict("viewed", {"event": "Product Viewed", "within": {"hours": 2}}))
    assert member_ids(audience, NOW) == member_ids(audience, NOW)
    # and two hours later the views have left the window
    assert member_ids(audience, NOW + 2 * HOUR) == set()


def test_anonymous_to_known_converter_is_evaluated_with_its_full_history(users):
    # given a profile that browsed anonymously and was merged (its anonymous id now points at it)
    converter = make_profile(external_id="converted", anonymous_ids=("anon-before-login",))
    track(converter, "Product Added", NOW - 2 * DAY)
    track(converter, "Order Completed", NOW - HOUR)
    # then conditions see the anonymous-era event and the known-era event together
    rule = {
        "all": [{"event": "Product Added", "within": {"days": 3}}, {"event": "Order Completed", "within": {"days": 1}}]
    }
    assert set(audience_member_ids(definition=definition(rule), now=NOW)) == {converter.pk}


def test_a_cycle_in_stored_references_is_reported_not_looped(users):
    # given two audiences that (bypassing validation) reference each other
    first = Audience.objects.create(
        slug="first",
        name="First",
        kind="targeting",
        objective="analytics",
        owner=users["maria"],
        purpose="x",
        retire_on=dt.date(2027, 1, 1),
    )
    second = Audience.objects.create(
        slug="second",
        name="Second",
        kind="targeting",
        objective="analytics",
        owner=users["maria"],
        purpose="x",
        retire_on=dt.date(2027, 1, 1),
    )
    AudienceVersion.objects.create(audience=first, number=1, rule={"in_audience": "second"}, author=users["maria"])
    AudienceVersion.objects.create(audience=second, number=1, rule={"in_audience": "first"}, author=users["maria"])
    # then compiling fails with the chain instead of recursing forever
    with pytest.raises(CompileError, match="first -> second -> first"):
        audience_members_sql(audience=first, now=NOW)
