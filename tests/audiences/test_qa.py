"""QA against known test profiles: the fixture library, cases as new versions, runs and the QA gate."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from audience_ops.audiences.models import Audience, QARun, QATestProfile
from audience_ops.audiences.qa import (
    qa_cases_save,
    qa_gate_problems,
    qa_latest_run,
    qa_run,
    qa_test_profile_create,
    qa_test_profile_delete,
    qa_test_profile_update,
)
from audience_ops.audiences.services import audience_export, audience_import
from audience_ops.audit.models import AuditEvent
from audience_ops.customers.models import Profile

from .governance import CART_QA, DAY, SUPPRESSION_QA, fresh, make_live
from .helpers import NOW, make_profile

pytestmark = pytest.mark.django_db


# --- the fixture library -----------------------------------------------------------------------------------


def test_a_marketer_names_a_profile_as_a_qa_fixture_and_it_is_audited(pair, people):
    profile = Profile.objects.get(external_id="qa-cart-abandoner")
    fixture = qa_test_profile_create(
        actor=people["maria"], profile=profile, name="cart abandoner", description="added to cart yesterday"
    )
    event = AuditEvent.objects.get(action="qa_test_profile.create")
    assert event.actor == people["maria"]
    assert event.after == {
        "profile": profile.pk,
        "name": "cart abandoner",
        "description": "added to cart yesterday",
        "external_id": "qa-cart-abandoner",
    }
    qa_test_profile_update(actor=people["mark"], fixture=fixture, name="Cart abandoner", description="")
    update = AuditEvent.objects.get(action="qa_test_profile.update")
    assert update.changes == {
        "description": ["added to cart yesterday", ""],
        "name": ["cart abandoner", "Cart abandoner"],
    }
    qa_test_profile_delete(actor=people["maria"], fixture=fixture)
    assert not QATestProfile.objects.exists()
    assert AuditEvent.objects.get(action="qa_test_profile.delete").before["name"] == "Cart abandoner"
    assert Profile.objects.filter(pk=profile.pk).exists()


def test_an_anonymous_profile_cannot_be_a_fixture(pair, people):
    anonymous = make_profile(anonymous_ids=("anon-1",))
    with pytest.raises(ValidationError) as excinfo:
        qa_test_profile_create(actor=people["maria"], profile=anonymous, name="anonymous browser")
    assert "QA cases refer to profiles by external id" in str(excinfo.value)
    assert not QATestProfile.objects.exists()


def test_fixture_names_are_unique_and_ops_cannot_manage_fixtures(pair, people):
    qa_test_profile_create(
        actor=people["maria"], profile=Profile.objects.get(external_id="qa-suppressed"), name="suppressed user"
    )
    with pytest.raises(ValidationError):
        qa_test_profile_create(
            actor=people["maria"], profile=Profile.objects.get(external_id="qa-converter"), name="suppressed user"
        )
    with pytest.raises(PermissionDenied):
        qa_test_profile_create(
            actor=people["omar"], profile=Profile.objects.get(external_id="qa-converter"), name="converter"
        )
    assert QATestProfile.objects.count() == 1


# --- cases -------------------------------------------------------------------------------------------------


def test_saving_cases_writes_a_new_version_with_the_same_definition(pair, people):
    _suppression, cart = pair
    cases = [*CART_QA, {"profile": "qa-browser", "expect": "out", "note": "  only browsed  "}]
    version = qa_cases_save(actor=people["mark"], audience=cart, cases=cases)
    first = cart.versions.get(number=1)
    assert version.number == 2 and version.author == people["mark"]
    assert (version.rule, version.exclude, version.paired_suppression) == (
        first.rule,
        first.exclude,
        first.paired_suppression,
    )
    assert version.qa[-1] == {"profile": "qa-browser", "expect": "out", "note": "only browsed"}
    event = AuditEvent.objects.filter(action="audience.version_create").latest("id")
    assert event.actor == people["mark"]
    assert set(event.changes) == {"author", "qa", "version"}
    # saving the same cases again changes nothing
    assert qa_cases_save(actor=people["mark"], audience=cart, cases=cases) == version
    assert cart.versions.count() == 2


def test_invalid_cases_are_refused_with_their_path(pair, people):
    _suppression, cart = pair
    cases = [*CART_QA[:2], {"profile": "qa-suppressed", "expect": "maybe"}, {"expect": "in"}]
    with pytest.raises(ValidationError) as excinfo:
        qa_cases_save(actor=people["maria"], audience=cart, cases=cases)
    errors = excinfo.value.message_dict
    assert errors["qa[2].expect"] == ['must be "in" or "out", got string "maybe"']
    assert "qa[3].profile" in errors
    assert cart.versions.count() == 1


def test_ops_cannot_change_cases(pair, people):
    _suppression, cart = pair
    with pytest.raises(PermissionDenied):
        qa_cases_save(actor=people["omar"], audience=cart, cases=CART_QA)


def test_saving_cases_of_a_live_audience_keeps_the_live_version(pair, people):
    suppression, _cart = pair
    suppression = make_live(suppression, by=people["maria"], approver=people["omar"])
    qa_cases_save(actor=people["maria"], audience=suppression, cases=SUPPRESSION_QA[:3])
    suppression = fresh(suppression)
    assert (suppression.status, suppression.live_version.number) == ("live", 1)
    assert suppression.versions.count() == 2


# --- runs --------------------------------------------------------------------------------------------------


def test_a_run_stores_each_case_with_the_engines_explanation(pair, people):
    _suppression, cart = pair
    QATestProfile.objects.create(profile=Profile.objects.get(external_id="qa-cart-abandoner"), name="cart abandoner")
    run = qa_run(actor=people["maria"], audience=cart, now=NOW)
    assert run.passed and run.as_of == NOW and run.ran_by == people["maria"]
    assert [(r["profile"], r["expect"], r["actual"], r["passed"]) for r in run.results] == [
        ("qa-cart-abandoner", "in", "in", True),
        ("qa-recent-purchaser", "out", "out", True),
        ("qa-suppressed", "out", "out", True),
        ("qa-converter", "in", "in", True),
    ]
    abandoner, purchaser, suppressed, _converter = run.results
    assert abandoner["fixture"] == "cart abandoner" and abandoner["note"] == "added to cart yesterday, no order"
    # the trace is the engine's: the suppressed user fails the "not unsubscribed" condition
    assert suppressed["trace"]["member"] is False
    assert [child["matched"] for child in suppressed["trace"]["rule"]["children"]] == [True, True, False]
    # the recent purchaser is removed by the paired suppression
    assert purchaser["trace"]["exclusions"][0]["matched"] is True
    assert purchaser["explanation"][0].startswith("qa-recent-purchaser is OUT")
    event = AuditEvent.objects.get(action="audience.qa_run")
    assert event.after == {
        "qa_run": run.pk,
        "version": 1,
        "as_of": "2026-11-28T12:00:00Z",
        "passed": True,
        "cases": 4,
        "failed": 0,
    }


def test_a_case_with_an_unknown_profile_is_missing_and_fails(pair, people):
    _suppression, cart = pair
    qa_cases_save(actor=people["maria"], audience=cart, cases=[*CART_QA, {"profile": "nobody", "expect": "out"}])
    run = qa_run(actor=people["maria"], audience=fresh(cart), now=NOW)
    assert not run.passed
    missing = run.results[-1]
    assert (missing["actual"], missing["passed"], missing["trace"]) == ("missing", False, None)
    assert missing["explanation"] == ['no profile has the external id "nobody"']


def test_a_wrong_expectation_fails_the_run(pair, people):
    _suppression, cart = pair
    cases = [dict(case) for case in CART_QA]
    cases[1]["expect"] = "in"  # the recent purchaser is not in
    qa_cases_save(actor=people["maria"], audience=cart, cases=cases)
    run = qa_run(actor=people["maria"], audience=fresh(cart), now=NOW)
    assert not run.passed
    assert [result["passed"] for result in run.results] == [True, False, True, True]


def test_a_run_without_cases_does_not_pass(pair, people):
    _suppression, cart = pair
    qa_cases_save(actor=people["maria"], audience=cart, cases=[])
    run = qa_run(actor=people["maria"], audience=fresh(cart), now=NOW)
    assert run.results == [] and not run.passed


def test_runs_a_chosen_version_and_needs_change_permission(pair, people):
    _suppression, cart = pair
    qa_cases_save(actor=people["maria"], audience=cart, cases=CART_QA[:2])
    run = qa_run(actor=people["maria"], audience=fresh(cart), version=1, now=NOW)
    assert run.version.number == 1 and len(run.results) == 4
    with pytest.raises(ValidationError):
        qa_run(actor=people["maria"], audience=cart, version=7, now=NOW)
    with pytest.raises(PermissionDenied):
        qa_run(actor=people["omar"], audience=cart, now=NOW)
    assert QARun.objects.count() == 1


def test_a_new_version_invalidates_the_last_qa_run(pair, people):
    _suppression, cart = pair
    qa_run(actor=people["maria"], audience=cart, now=NOW)
    assert qa_gate_problems(version=cart.versions.get(number=1)) == []
    # a definition change (here: through import, from the builder or a file) is a new version without a run
    changed = audience_export(["cart-abandoners-3d"])["audiences"][0]
    changed["rule"]["all"][0]["within"] = {"days": 2}
    audience_import(payload=changed, actor_or_username="maria")
    latest = fresh(cart).versions.get(number=2)
    assert qa_latest_run(version=latest) is None
    assert qa_gate_problems(version=latest) == ["no QA run of version 2"]


def test_the_gate_looks_at_the_latest_run_only(pair, people):
    _suppression, cart = pair
    version = cart.versions.get()
    qa_run(actor=people["maria"], audience=cart, now=NOW)
    # four days later nobody has added to cart within 3 days: the abandoner and converter fall out
    later = qa_run(actor=people["maria"], audience=cart, now=NOW + 4 * DAY)
    assert qa_latest_run(version=version) == later
    assert qa_gate_problems(version=version) == ["last QA run failed (2 of 4 cases)"]


# --- files -------------------------------------------------------------------------------------------------


def test_qa_cases_round_trip_through_export_and_import(pair, people):
    _suppression, cart = pair
    exported = audience_export(["cart-abandoners-3d"])
    assert exported["audiences"][0]["qa"] == CART_QA
    # importing the export changes nothing; importing changed cases is a new version that leaves status alone
    result = audience_import(payload=exported, actor_or_username="maria")
    assert [change.action for change in result.changes] == ["unchanged"]
    Audience.objects.filter(pk=cart.pk).update(status="in_review")
    exported["audiences"][0]["qa"] = CART_QA[:3]
    result = audience_import(payload=exported, actor_or_username="maria")
    assert [str(change) for change in result.changes] == ["cart-abandoners-3d: new version 2"]
    cart = fresh(cart)
    assert (cart.status, cart.live_version_id) == ("in_review", None)
    assert audience_export(["cart-abandoners-3d"])["audiences"][0]["qa"] == CART_QA[:3]
