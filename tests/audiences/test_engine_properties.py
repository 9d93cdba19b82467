"""Differential property tests: the SQL engine and the naive Python reference agree on random worlds.

Runs on whichever database the suite runs on (CI: PostgreSQL and SQLite). The search size is the
``audience-engine`` Hypothesis profile (60 examples); ``AUDIENCE_ENGINE_PROFILE=audience-engine-thorough``
searches much longer.
"""

from __future__ import annotations

from django.db import transaction
from hypothesis import given

from audience_ops.audiences.services import (
    audience_member_ids,
    audience_size,
    profile_explain,
    rule_condition_sizes,
)
from audience_ops.audiences.validation import validate_audience_payload

from .helpers import NOW, audience_dict
from .reference import ReferenceEvaluator
from .strategies import ENGINE_SETTINGS, Scenario, materialise, scenarios


@ENGINE_SETTINGS
@given(scenario=scenarios())
def test_engine_matches_reference_evaluator(users, scenario: Scenario):
    with transaction.atomic():
        # given a random world and random audiences referencing each other
        materialise(scenario, owner=users["maria"])
        reference = ReferenceEvaluator(NOW)
        main = scenario.main.definition

        # then each single condition selects the same profiles in both
        for probe in scenario.probes:
            assert set(audience_member_ids(definition={"rule": probe}, now=NOW)) == reference.members(
                {"rule": probe}
            ), probe

        # and every helper audience (live version when there is one) has the same members in both
        for helper in scenario.helpers:
            engine = set(audience_member_ids(definition=_stored(helper.slug), now=NOW))
            assert engine == reference.audience_members(helper.slug), helper.slug

        # and so has the main definition, with its exclusions and paired suppression
        engine = set(audience_member_ids(definition=main, now=NOW))
        assert engine == reference.members(main)
        assert audience_size(main, NOW) == len(engine)
        transaction.set_rollback(True)


@ENGINE_SETTINGS
@given(scenario=scenarios())
def test_explanations_and_condition_sizes_agree_with_the_engine(users, scenario: Scenario):
    with transaction.atomic():
        profiles = materialise(scenario, owner=users["maria"])
        reference = ReferenceEvaluator(NOW)
        main = scenario.main.definition
        engine = set(audience_member_ids(definition=main, now=NOW))

        # the generated definition is valid for the one validator
        payload = audience_dict(
            "main-audience",
            main["rule"],
            kind=scenario.main.kind,
            exclude=main["exclude"],
            **({"paired_suppression": main["paired_suppression"]} if main["paired_suppression"] else {}),
        )
        assert validate_audience_payload(payload) == []

        # every profile's explanation reaches the engine's verdict
        for profile in profiles:
            trace = profile_explain(definition=main, profile=profile, now=NOW)
            assert trace.member == (profile.pk in engine), profile.pk

        # each top-level condition's size is that condition's reference size
        rule = main["rule"]
        conditions = rule.get("all", rule.get("any")) if ("all" in rule or "any" in rule) else [rule]
        expected = [len(reference.members({"rule": condition})) for condition in conditions]
        assert rule_condition_sizes(main, NOW) == expected
        transaction.set_rollback(True)


def _stored(slug: str):
    from audience_ops.audiences.models import Audience

    return Audience.objects.get(slug=slug)
