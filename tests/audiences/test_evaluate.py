"""Materialised membership: spans open and close across evaluations, snapshots record the counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from audience_ops.audiences.models import Audience, AudienceSnapshot, MembershipSpan
from audience_ops.audiences.selectors import audience_current_member_ids
from audience_ops.audiences.services import audience_evaluate, audience_import, audience_version_create

from .helpers import NOW, audience_dict, make_profile, track

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@pytest.fixture
def recent_buyers(users):
    audience_import(payload=audience_dict("recent-buyers", {"event": "Order Completed", "within": {"days": 1}}))
    return Audience.objects.get(slug="recent-buyers")


def test_first_evaluation_opens_a_span_per_member(recent_buyers):
    # given two recent buyers and one old buyer
    first = make_profile(external_id="first")
    second = make_profile(external_id="second")
    old = make_profile(external_id="old")
    track(first, "Order Completed", NOW - HOUR)
    track(second, "Order Completed", NOW - 2 * HOUR)
    track(old, "Order Completed", NOW - 5 * DAY)
    # when evaluated
    snapshot = audience_evaluate(audience=recent_buyers, now=NOW)
    # then both entered at now, under version 1
    assert (snapshot.size, snapshot.entered, snapshot.exited, snapshot.evaluated_at) == (2, 2, 0, NOW)
    assert snapshot.version.number == 1
    spans = MembershipSpan.objects.filter(audience=recent_buyers).order_by("profile_id")
    assert [(s.profile_id, s.entered_at, s.exited_at, s.version.number) for s in spans] == [
        (first.pk, NOW, None, 1),
        (second.pk, NOW, None, 1),
    ]


def test_second_evaluation_closes_leavers_and_opens_entrants(recent_buyers):
    # given a first evaluation with one member
    leaver = make_profile(external_id="leaver")
    stayer = make_profile(external_id="stayer")
    newcomer = make_profile(external_id="newcomer")
    track(leaver, "Order Completed", NOW - 20 * HOUR)
    track(stayer, "Order Completed", NOW - HOUR)
    track(stayer, "Order Completed", NOW + 5 * HOUR)
    track(newcomer, "Order Completed", NOW + 6 * HOUR)
    audience_evaluate(audience=recent_buyers, now=NOW)
    # when evaluated again 8 hours later
    later = NOW + 8 * HOUR
    snapshot = audience_evaluate(audience=recent_buyers, now=later)
    # then the leaver's span is closed at the second now, the stayer's stays open, the newcomer has a new one
    assert (snapshot.size, snapshot.entered, snapshot.exited) == (2, 1, 1)
    spans = {s.profile_id: (s.entered_at, s.exited_at) for s in MembershipSpan.objects.filter(audience=recent_buyers)}
    assert spans == {leaver.pk: (NOW, later), stayer.pk: (NOW, None), newcomer.pk: (later, None)}
    assert set(audience_current_member_ids(audience=recent_buyers)) == {stayer.pk, newcomer.pk}


def test_re_entry_opens_a_second_span(recent_buyers):
    profile = make_profile(external_id="returning")
    track(profile, "Order Completed", NOW - HOUR)
    track(profile, "Order Completed", NOW + 3 * DAY)
    audience_evaluate(audience=recent_buyers, now=NOW)
    audience_evaluate(audience=recent_buyers, now=NOW + 2 * DAY)
    audience_evaluate(audience=recent_buyers, now=NOW + 3 * DAY)
    spans = list(
        MembershipSpan.objects.filter(audience=recent_buyers)
        .order_by("entered_at")
        .values_list("entered_at", "exited_at")
    )
    assert spans == [(NOW, NOW + 2 * DAY), (NOW + 3 * DAY, None)]
    assert list(
        AudienceSnapshot.objects.filter(audience=recent_buyers)
        .order_by("evaluated_at")
        .values_list("size", "entered", "exited")
    ) == [(1, 1, 0), (0, 0, 1), (1, 1, 0)]


def test_evaluating_twice_at_the_same_now_changes_nothing(recent_buyers):
    profile = make_profile(external_id="buyer")
    track(profile, "Order Completed", NOW - HOUR)
    audience_evaluate(audience=recent_buyers, now=NOW)
    snapshot = audience_evaluate(audience=recent_buyers, now=NOW)
    assert (snapshot.size, snapshot.entered, snapshot.exited) == (1, 0, 0)
    assert MembershipSpan.objects.count() == 1


def test_evaluation_cannot_go_back_in_time(recent_buyers):
    audience_evaluate(audience=recent_buyers, now=NOW)
    with pytest.raises(ValidationError, match="before the last evaluation"):
        audience_evaluate(audience=recent_buyers, now=NOW - HOUR)
    assert AudienceSnapshot.objects.count() == 1


def test_evaluation_uses_the_live_version_and_records_it(recent_buyers, users):
    gold = make_profile(external_id="gold", traits={"plan": "gold"})
    v2, _ = audience_version_create(
        audience=recent_buyers,
        definition={"rule": {"attribute": "plan", "op": "eq", "value": "gold"}},
        author=users["maria"],
    )
    recent_buyers.live_version = v2
    recent_buyers.save(update_fields=["live_version"])
    snapshot = audience_evaluate(audience=recent_buyers, now=NOW)
    assert (snapshot.version.number, snapshot.size) == (2, 1)
    assert MembershipSpan.objects.get().profile_id == gold.pk


def test_one_open_span_per_audience_and_profile_is_enforced(recent_buyers):
    profile = make_profile(external_id="dup")
    track(profile, "Order Completed", NOW - HOUR)
    audience_evaluate(audience=recent_buyers, now=NOW)
    span = MembershipSpan.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        MembershipSpan.objects.create(audience=recent_buyers, profile=profile, version=span.version, entered_at=NOW)
    assert MembershipSpan.objects.count() == 1
