"""QA of audience versions against known test profiles: the fixture library, the cases and the runs.

A QA case is ``{"profile": EXTERNAL_ID, "expect": "in" | "out", "note": TEXT}`` stored in the version's ``qa``
list (the v1 format's ``qa`` key), so a file and the UI hold the same cases and changing them is a new
version like any other definition change. A run evaluates every case of one version at one ``now`` with the
engine's own explanation, so a QA result and the "why" page can never disagree. The launch gate
(:func:`qa_gate_problems`) asks for a passing run of the version being submitted, with at least
:data:`MIN_QA_CASES` cases and one expected in and one out; a new version has no run, so any change to the
definition invalidates the last run by construction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audience_ops.accounts.roles import ensure_permission
from audience_ops.audit.services import CLI_LABEL, audit_record, model_snapshot
from audience_ops.customers.models import Profile

from . import selectors
from .choices import QaExpectation
from .definitions import audience_to_dict, definition_from_dict
from .engine.compiler import CompileError
from .models import Audience, AudienceVersion, QARun, QATestProfile
from .validation import validate_audience_payload

MIN_QA_CASES = 4
MISSING = "missing"
QA_PROFILE_FIELDS = ("profile", "name", "description")


# --- the fixture library -----------------------------------------------------------------------------------


@transaction.atomic
def qa_test_profile_create(
    *, actor: AbstractBaseUser | None, profile: Profile, name: str, description: str = ""
) -> QATestProfile:
    """Mark ``profile`` as the named QA fixture ``name`` ("cart abandoner", ...); audited.

    Only a profile with an external id can be a fixture: QA cases (in files and in the UI) refer to profiles
    by external id, so an anonymous profile could never be named in a case.
    """
    ensure_permission(actor, "audiences.add_qatestprofile")
    _require_external_id(profile)
    if QATestProfile.objects.filter(profile=profile).exists():
        raise ValidationError({"profile": f"{profile.external_id} is already a QA test profile"})
    fixture = QATestProfile(profile=profile, name=name.strip(), description=description.strip(), created_by=actor)
    fixture.full_clean()
    fixture.save()
    audit_record(
        actor=actor,
        actor_label="" if actor else CLI_LABEL,
        action="qa_test_profile.create",
        obj=fixture,
        after=_fixture_snapshot(fixture),
    )
    return fixture


@transaction.atomic
def qa_test_profile_update(
    *, actor: AbstractBaseUser | None, fixture: QATestProfile, name: str, description: str
) -> QATestProfile:
    """Rename or re-describe a QA fixture (the profile it points at stays); audited when something changed."""
    ensure_permission(actor, "audiences.change_qatestprofile")
    fixture = QATestProfile.objects.select_for_update().get(pk=fixture.pk)
    before = _fixture_snapshot(fixture)
    fixture.name = name.strip()
    fixture.description = description.strip()
    fixture.full_clean()
    fixture.save(update_fields=["name", "description"])
    after = _fixture_snapshot(fixture)
    if after != before:
        audit_record(
            actor=actor,
            actor_label="" if actor else CLI_LABEL,
            action="qa_test_profile.update",
            obj=fixture,
            before=before,
            after=after,
        )
    return fixture


@transaction.atomic
def qa_test_profile_delete(*, actor: AbstractBaseUser | None, fixture: QATestProfile) -> None:
    """Remove a profile from the fixture library (the profile and existing QA cases are untouched); audited."""
    ensure_permission(actor, "audiences.delete_qatestprofile")
    fixture = QATestProfile.objects.select_for_update().get(pk=fixture.pk)
    audit_record(
        actor=actor,
        actor_label="" if actor else CLI_LABEL,
        action="qa_test_profile.delete",
        obj=fixture,
        before=_fixture_snapshot(fixture),
    )
    fixture.delete()


def qa_fixture_names(*, external_ids: Sequence[str]) -> dict[str, str]:
    """external id -> fixture name, for the given ids that are QA fixtures (to label cases)."""
    return dict(
        QATestProfile.objects.filter(profile__external_id__in=list(external_ids)).values_list(
            "profile__external_id", "name"
        )
    )


# --- cases -------------------------------------------------------------------------------------------------


def qa_cases_save(
    *, actor: AbstractBaseUser | None, audience: Audience, cases: list[dict[str, Any]]
) -> AudienceVersion:
    """Write a new version of ``audience`` with ``cases`` as its QA cases (same rule, exclusions and paired
    suppression as the latest version); returns it, or the latest version when the cases did not change.

    Versions are immutable, so this is how cases change; the new version has no QA run yet and goes through
    QA and review again, while a live version stays live. Cases are checked by the one validator and errors
    are keyed by JSON path (``qa[2].expect``). Audited as ``audience.version_create``.
    """
    from .services import _version_create  # the one place versions are written (and audited)

    ensure_permission(actor, "audiences.change_audience")
    cleaned = [_case_from_input(case) for case in cases]
    with transaction.atomic():
        audience = Audience.objects.select_for_update(of=("self",)).select_related("owner").get(pk=audience.pk)
        latest = selectors.audience_latest_version(audience=audience)
        payload = audience_to_dict(audience=audience, version=latest)
        payload.pop("qa", None)
        if cleaned:
            payload["qa"] = cleaned
        problems = validate_audience_payload(payload)
        if problems:
            errors: dict[str, list[str]] = {}
            for problem in problems:
                errors.setdefault(problem.path or "__all__", []).append(problem.message)
            raise ValidationError(errors)
        version, _created = _version_create(
            audience=audience,
            definition=definition_from_dict(payload),
            author=actor or audience.owner,
            actor=actor,
            actor_label="" if actor else CLI_LABEL,
        )
    return version


def _case_from_input(case: Any) -> Any:
    """A case as the format stores it: strings stripped, an empty note left out. Non-dicts go to validation."""
    if not isinstance(case, Mapping):
        return case
    cleaned = {key: (value.strip() if isinstance(value, str) else value) for key, value in case.items()}
    if cleaned.get("note") == "":
        cleaned.pop("note")
    return cleaned


# --- runs --------------------------------------------------------------------------------------------------


def qa_run(
    *,
    actor: AbstractBaseUser | None,
    audience: Audience,
    version: AudienceVersion | int | None = None,
    now: dt.datetime,
) -> QARun:
    """Evaluate every QA case of ``version`` (default: the latest version) at one ``now`` and store the run.

    Each case records ``actual`` ("in", "out", or "missing" when no profile has that external id, which
    fails), ``passed``, the engine's trace (``trace``, as a dict) and the same trace as text lines
    (``explanation``). The run passes when there is at least one case and every case passed. Audited as
    ``audience.qa_run``. Raises ``ValidationError`` when the version cannot be evaluated (for example a
    referenced audience has no version).
    """
    from .services import profile_explain

    ensure_permission(actor, "audiences.change_audience")
    if timezone.is_naive(now):
        raise ValueError("now must be timezone-aware (times are compared in UTC)")
    version = _version_for(audience=audience, version=version)
    cases = list(version.qa or [])
    ids = [case["profile"] for case in cases]
    profiles = {profile.external_id: profile for profile in Profile.objects.filter(external_id__in=ids)}
    names = qa_fixture_names(external_ids=ids)
    results = []
    for case in cases:
        result: dict[str, Any] = {
            "profile": case["profile"],
            "fixture": names.get(case["profile"], ""),
            "expect": case["expect"],
            "note": case.get("note", ""),
        }
        profile = profiles.get(case["profile"])
        if profile is None:
            result.update(
                actual=MISSING,
                passed=False,
                trace=None,
                explanation=[f'no profile has the external id "{case["profile"]}"'],
            )
        else:
            try:
                trace = profile_explain(audience=audience, profile=profile, now=now, version=version)
            except CompileError as exc:
                raise ValidationError(
                    f"version {version.number} of {audience.name} cannot be evaluated: {exc}"
                ) from exc
            actual = QaExpectation.IN.value if trace.member else QaExpectation.OUT.value
            result.update(
                actual=actual,
                passed=actual == case["expect"],
                trace=trace.as_dict(),
                explanation=trace.as_text().splitlines(),
            )
        results.append(result)
    passed = bool(results) and all(result["passed"] for result in results)
    with transaction.atomic():
        run = QARun.objects.create(version=version, as_of=now, passed=passed, results=results, ran_by=actor)
        failed = qa_run_failures(run)
        audit_record(
            actor=actor,
            actor_label="" if actor else CLI_LABEL,
            action="audience.qa_run",
            obj=audience,
            after={
                "qa_run": run.pk,
                "version": version.number,
                "as_of": now,
                "passed": passed,
                "cases": len(results),
                "failed": failed,
            },
        )
    return run


def qa_latest_run(*, version: AudienceVersion) -> QARun | None:
    """The most recent QA run of ``version`` (what the gate and the review look at), or None."""
    return version.qa_runs.order_by("-ran_at", "-id").first()


def qa_run_failures(run: QARun) -> int:
    """How many cases of ``run`` did not get their expected result."""
    return sum(1 for result in run.results if not result.get("passed"))


def qa_gate_problems(*, version: AudienceVersion) -> list[str]:
    """Why ``version`` may not be submitted yet as far as QA goes, as sentences; empty when QA is satisfied.

    The gate: at least :data:`MIN_QA_CASES` cases, at least one expected in and one expected out, and the
    latest QA run of this very version passed.
    """
    problems = []
    cases = list(version.qa or [])
    if len(cases) < MIN_QA_CASES:
        problems.append(f"needs at least {MIN_QA_CASES} QA cases (has {len(cases)})")
    expectations = {case.get("expect") for case in cases}
    if QaExpectation.IN not in expectations:
        problems.append("needs a case expected in")
    if QaExpectation.OUT not in expectations:
        problems.append("needs a case expected out")
    run = qa_latest_run(version=version)
    if run is None:
        problems.append(f"no QA run of version {version.number}")
    elif not run.passed:
        problems.append(f"last QA run failed ({qa_run_failures(run)} of {len(run.results)} cases)")
    return problems


# --- helpers -----------------------------------------------------------------------------------------------


def _version_for(*, audience: Audience, version: AudienceVersion | int | None) -> AudienceVersion:
    if version is None:
        latest = selectors.audience_latest_version(audience=audience)
        if latest is None:
            raise ValidationError(f"{audience.name} has no version to QA")
        return latest
    if isinstance(version, int):
        try:
            return selectors.audience_version_get(audience=audience, number=version)
        except AudienceVersion.DoesNotExist as exc:
            raise ValidationError(f"{audience.name} has no version {version}") from exc
    if version.audience_id != audience.pk:
        raise ValidationError(f"version {version.number} does not belong to {audience.name}")
    return version


def _require_external_id(profile: Profile) -> None:
    if not profile.external_id:
        raise ValidationError(
            {
                "profile": "this profile has no external id; QA cases refer to profiles by external id, "
                "so only a known (identified) profile can be a QA test profile"
            }
        )


def _fixture_snapshot(fixture: QATestProfile) -> dict[str, Any]:
    snapshot = model_snapshot(fixture, QA_PROFILE_FIELDS)
    snapshot["external_id"] = fixture.profile.external_id
    return snapshot
