"""``audiences members``, ``evaluate``, ``list`` and ``explain`` from the command line."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audience_ops.audiences.models import Audience, AudienceSnapshot
from audience_ops.audiences.services import audience_import, audience_version_create, parse_as_of

from .helpers import NOW, SPEC_EXAMPLE, audience_dict, make_profile, track

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def run(*args) -> str:
    out = io.StringIO()
    call_command("audiences", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def everyone(users):
    audience_import(payload=audience_dict("everyone", {"all": []}))
    return Audience.objects.get(slug="everyone")


def test_members_csv_header_values_and_byte_order_sorting(everyone):
    # given known and anonymous profiles with awkward values
    make_profile(external_id="b", email="z@example.com")
    make_profile(external_id="B", phone="+1555")
    make_profile(external_id="a,comma", email='quote"d@example.com')
    make_profile(external_id="é-accent")
    make_profile(anonymous_ids=("anon-9", "anon-10"), email="anon@example.com")
    make_profile(anonymous_ids=("zz-anon",))
    make_profile(external_id="", anonymous_ids=("empty-external",))
    # when the members are listed
    out = run("members", "everyone", "--as-of", "2026-11-28T12:00:00Z")
    # then: header, empty external ids first, anonymous_id only for anonymous profiles (their smallest id),
    # byte order ("B" < "a" < "b" < "é"), CSV quoting for commas and quotes
    assert out == (
        "external_id,email,phone,anonymous_id\n"
        ",,,empty-external\n"
        ",,,zz-anon\n"
        ",anon@example.com,,anon-10\n"
        "B,,+1555,\n"
        '"a,comma","quote""d@example.com",,\n'
        "b,z@example.com,,\n"
        "é-accent,,,\n"
    )


def test_members_as_of_accepts_iso_8601_forms(everyone):
    # given one order 2 days before NOW
    buyer = make_profile(external_id="buyer")
    track(buyer, "Order Completed", NOW - 2 * DAY)
    audience_import(payload=audience_dict("recent-buyers", {"event": "Order Completed", "within": {"hours": 24}}))
    header = "external_id,email,phone,anonymous_id\n"
    # at the order + 23h it is a member; expressed in UTC, with an offset, without an offset, and as a date
    order_at = NOW - 2 * DAY
    assert run("members", "recent-buyers", "--as-of", "2026-11-27T11:00:00Z") == header + "buyer,,,\n"
    assert run("members", "recent-buyers", "--as-of", "2026-11-27T12:00:00+01:00") == header + "buyer,,,\n"
    assert run("members", "recent-buyers", "--as-of", "2026-11-27T11:00:00") == header + "buyer,,,\n"
    assert run("members", "recent-buyers", "--as-of", "2026-11-27") == header + "buyer,,,\n"
    # and exactly 24 hours after the order it has left
    assert run("members", "recent-buyers", "--as-of", (order_at + DAY).isoformat()) == header


def test_parse_as_of():
    assert parse_as_of("2026-11-28T12:00:00Z") == dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
    assert parse_as_of("2026-11-28T12:00:00+01:00") == dt.datetime(2026, 11, 28, 11, tzinfo=dt.UTC)
    assert parse_as_of("2026-11-28T12:00:00") == dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
    assert parse_as_of("2026-11-28") == dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="not an ISO 8601 time"):
        parse_as_of("yesterday")


def test_members_version_picks_a_version_and_default_is_live_else_latest(users):
    gold = make_profile(external_id="gold", traits={"plan": "gold"})
    make_profile(external_id="silver", traits={"plan": "silver"})
    audience_import(payload=audience_dict("tiered", {"attribute": "plan", "op": "eq", "value": "gold"}))
    tiered = Audience.objects.get(slug="tiered")
    audience_version_create(
        audience=tiered,
        definition={"rule": {"attribute": "plan", "op": "eq", "value": "silver"}},
        author=users["maria"],
    )
    header = "external_id,email,phone,anonymous_id\n"
    # latest (v2) without a live version
    assert run("members", "tiered", "--as-of", "2026-11-28") == header + "silver,,,\n"
    assert run("members", "tiered", "--version", "1", "--as-of", "2026-11-28") == header + "gold,,,\n"
    # live (v1) once there is one
    tiered.live_version = tiered.versions.get(number=1)
    tiered.save(update_fields=["live_version"])
    assert run("members", "tiered", "--as-of", "2026-11-28") == header + f"{gold.external_id},,,\n"
    assert run("members", "tiered", "--version", "2", "--as-of", "2026-11-28") == header + "silver,,,\n"


def test_members_errors(everyone):
    with pytest.raises(CommandError, match='unknown audience "nope"'):
        run("members", "nope")
    with pytest.raises(CommandError, match='audience "everyone" has no version 7'):
        run("members", "everyone", "--version", "7")
    with pytest.raises(CommandError, match="--as-of"):
        run("members", "everyone", "--as-of", "soon")


def test_evaluate_prints_size_entered_exited_and_records_snapshots(users):
    audience_import(payload=SPEC_EXAMPLE)
    buyer = make_profile(external_id="buyer")
    track(buyer, "Order Completed", NOW - HOUR)
    # with no live audience, every non-retired audience is evaluated
    out = run("evaluate", "--as-of", "2026-11-28T12:00:00Z")
    assert out == (
        "cart-abandoners-3d: size 0, entered 0, exited 0\n"
        "coffee-replenish: size 0, entered 0, exited 0\n"
        "purchased-24h: size 1, entered 1, exited 0\n"
    )
    # a day later the buyer leaves purchased-24h
    out = run("evaluate", "purchased-24h", "--as-of", "2026-11-29T12:00:00Z")
    assert out == "purchased-24h: size 0, entered 0, exited 1\n"
    assert list(
        AudienceSnapshot.objects.filter(audience__slug="purchased-24h")
        .order_by("evaluated_at")
        .values_list("size", "entered", "exited")
    ) == [(1, 1, 0), (0, 0, 1)]


def test_evaluate_defaults_to_live_audiences_when_there_are_some(users):
    audience_import(payload=SPEC_EXAMPLE)
    Audience.objects.filter(slug="purchased-24h").update(status="live")
    out = run("evaluate", "--as-of", "2026-11-28")
    assert out == "purchased-24h: size 0, entered 0, exited 0\n"
    assert AudienceSnapshot.objects.exclude(audience__slug="purchased-24h").exists() is False


def test_evaluate_refuses_to_go_back_in_time(users):
    audience_import(payload=SPEC_EXAMPLE)
    run("evaluate", "purchased-24h", "--as-of", "2026-11-28")
    with pytest.raises(CommandError, match="before the last evaluation"):
        run("evaluate", "purchased-24h", "--as-of", "2026-11-27")
    assert AudienceSnapshot.objects.count() == 1


def test_list_shows_slug_status_versions_and_last_size(users):
    audience_import(payload=SPEC_EXAMPLE)
    make_profile(external_id="buyer")
    run("evaluate", "coffee-replenish", "--as-of", "2026-11-28")
    assert run("list") == (
        "slug                status  versions  last_size\n"
        "cart-abandoners-3d  draft   1         -\n"
        "coffee-replenish    draft   1         0\n"
        "purchased-24h       draft   1         -\n"
    )


def test_explain_prints_the_trace(users):
    audience_import(payload=SPEC_EXAMPLE)
    shopper = make_profile(external_id="shopper")
    track(shopper, "Product Added", NOW - HOUR)
    out = run("explain", "cart-abandoners-3d", "shopper", "--as-of", "2026-11-28T12:00:00Z")
    assert out.splitlines()[0] == "shopper is IN Cart abandoners, last 3 days at 2026-11-28T12:00:00+00:00"
    assert (
        "  [no ] minus members of Purchased in last 24 hours (paired suppression)  "
        "(audience: purchased-24h, member: false)" in out
    )
    with pytest.raises(CommandError, match='no profile with external id, anonymous id or email "ghost"'):
        run("explain", "cart-abandoners-3d", "ghost")
