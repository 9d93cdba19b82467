"""Read-side queries for the governance pages: the review queue, QA results as the page shows them, the
membership impact of a proposed version, and why a given user may not approve a review.

Nothing here writes. The impact is computed in the database (``EXCEPT`` and counts over the engine's member
queries) so a review of a million-member audience never pulls the members into Python.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.db.models import QuerySet

from audience_ops.customers.models import Profile

from .choices import AudienceKind, AudienceObjective, AudienceStatus, ReviewState
from .engine.compiler import CompileError
from .engine.explain import TraceNode
from .models import Audience, AudienceVersion, QARun, QATestProfile, VersionReview
from .services import audience_members_sql
from .ui_selectors import TraceRow, trace_rows

# How many entering / leaving profiles the review page lists as examples.
IMPACT_SAMPLE_SIZE = 10


# --- reviews -----------------------------------------------------------------------------------------------


def pending_reviews() -> QuerySet[VersionReview]:
    """Reviews waiting for a decision, oldest submission first (the order ops should work through them)."""
    return (
        VersionReview.objects.filter(state=ReviewState.PENDING)
        .select_related("version__audience__owner", "version__author", "submitted_by", "qa_run")
        .order_by("submitted_at", "id")
    )


def pending_review_count() -> int:
    """How many reviews are waiting: the number beside "Reviews" in the navigation."""
    return VersionReview.objects.filter(state=ReviewState.PENDING).count()


def audience_pending_review(*, audience: Audience) -> VersionReview | None:
    """The review of ``audience`` waiting for a decision, if any (at most one per version; newest first)."""
    return (
        VersionReview.objects.filter(version__audience=audience, state=ReviewState.PENDING)
        .select_related("version__author", "submitted_by", "qa_run__version")
        .order_by("-submitted_at", "-id")
        .first()
    )


def audience_last_decision(*, audience: Audience) -> VersionReview | None:
    """The most recent decided review of ``audience`` (approved or rejected): what the author hears back."""
    return (
        VersionReview.objects.filter(version__audience=audience, state__in=[ReviewState.APPROVED, ReviewState.REJECTED])
        .select_related("version", "decided_by")
        .order_by("-decided_at", "-id")
        .first()
    )


def audience_scheduled_launch(*, audience: Audience) -> VersionReview | None:
    """An approved review whose launch time has not come yet (the version shows as approved until then)."""
    return (
        VersionReview.objects.filter(
            version__audience=audience, state=ReviewState.APPROVED, launched_at__isnull=True, launch_at__isnull=False
        )
        .select_related("version", "decided_by")
        .order_by("launch_at", "id")
        .first()
    )


def approval_blockers(*, user: AbstractBaseUser | AnonymousUser, review: VersionReview | None) -> list[str]:
    """Why ``user`` cannot approve or reject ``review``, as sentences for the disabled buttons (empty: they can).

    The four-eyes rule is checked again by the service; this only lets the page say so before anyone clicks.
    """
    if review is None:
        return ["There is no version waiting for review."]
    if not user.has_perm("audiences.approve_audience"):
        return ["Only the ops role approves or rejects versions."]
    problems = []
    version = review.version
    if version.author_id == user.pk:
        problems.append(f"You wrote version {version.number}: another ops user must review it (four eyes).")
    if version.audience.owner_id == user.pk:
        problems.append("You own this audience: another ops user must review it (four eyes).")
    return problems


def paired_suppression_warning(*, audience: Audience, version: AudienceVersion) -> str:
    """A sentence when a targeting ads audience's paired suppression is not live (approval would be refused)."""
    if audience.kind != AudienceKind.TARGETING or audience.objective != AudienceObjective.ADS:
        return ""
    slug = version.paired_suppression
    if not slug:
        return "This targeting ads audience has no paired suppression; it cannot go live without one."
    suppression = Audience.objects.filter(slug=slug).first()
    if suppression is None:
        return f'Its paired suppression "{slug}" does not exist.'
    if suppression.status != AudienceStatus.LIVE or suppression.live_version_id is None:
        return (
            f"Its paired suppression {suppression.name} is {suppression.get_status_display().lower()}: "
            "it must be live before this audience can go live."
        )
    return ""


# --- QA ----------------------------------------------------------------------------------------------------


def qa_test_profiles() -> QuerySet[QATestProfile]:
    """The library of named QA profiles with their profiles, by name."""
    return QATestProfile.objects.select_related("profile", "created_by").order_by("name")


def audience_latest_qa_run(*, audience: Audience) -> QARun | None:
    """The newest QA run of any version of ``audience`` (to tell the user when a newer version made it stale)."""
    return (
        QARun.objects.filter(version__audience=audience)
        .select_related("version", "ran_by")
        .order_by("-ran_at", "-id")
        .first()
    )


def qa_profile_names(*, external_ids: list[str]) -> dict[str, QATestProfile]:
    """external id -> QA test profile, for labelling cases with the fixture's name."""
    return {
        fixture.profile.external_id: fixture
        for fixture in QATestProfile.objects.select_related("profile").filter(profile__external_id__in=external_ids)
    }


@dataclass(frozen=True)
class QAResultRow:
    """One case of a QA run as the results table shows it, with the trace ready for ``_trace_node.html``."""

    index: int
    profile: str
    fixture_name: str
    profile_obj: Profile | None
    expect: str
    actual: str
    passed: bool
    note: str
    rule: TraceRow | None
    exclusions: list[TraceRow] = field(default_factory=list)


def qa_result_rows(*, run: QARun) -> list[QAResultRow]:
    """The results of ``run`` with fixture names, profile links and the stored trace turned into rows."""
    results = run.results or []
    external_ids = [str(result.get("profile", "")) for result in results]
    fixtures = qa_profile_names(external_ids=external_ids)
    profiles = {profile.external_id: profile for profile in Profile.objects.filter(external_id__in=external_ids)}
    rows = []
    for index, result in enumerate(results, start=1):
        external_id = str(result.get("profile", ""))
        rule, exclusions = _trace_from_json(result.get("trace"))
        fixture = fixtures.get(external_id)
        rows.append(
            QAResultRow(
                index=index,
                profile=external_id,
                fixture_name=fixture.name if fixture else "",
                profile_obj=profiles.get(external_id),
                expect=str(result.get("expect", "")),
                actual=str(result.get("actual", "")),
                passed=bool(result.get("passed")),
                note=str(result.get("note", "")),
                rule=rule,
                exclusions=exclusions,
            )
        )
    return rows


def _node_from_json(data: dict[str, Any]) -> TraceNode:
    return TraceNode(
        kind=str(data.get("kind", "")),
        label=str(data.get("label", "")),
        matched=bool(data.get("matched")),
        values=dict(data.get("values") or {}),
        children=[_node_from_json(child) for child in data.get("children") or []],
    )


def _trace_from_json(trace: Any) -> tuple[TraceRow | None, list[TraceRow]]:
    """A stored trace (``Trace.as_dict()``) back to display rows; a missing profile has no trace."""
    if not isinstance(trace, dict) or not isinstance(trace.get("rule"), dict):
        return None, []
    rule = trace_rows(_node_from_json(trace["rule"]))
    exclusions = [trace_rows(_node_from_json(node)) for node in trace.get("exclusions") or [] if isinstance(node, dict)]
    return rule, exclusions


# --- impact ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionImpact:
    """Membership of the live version vs a proposed one at ``now``: sizes, who enters, who leaves (samples)."""

    now: dt.datetime
    live_version: AudienceVersion | None
    proposed_version: AudienceVersion
    live_size: int
    proposed_size: int
    entering: int
    leaving: int
    entering_sample: list[Profile]
    leaving_sample: list[Profile]
    error: str = ""

    @property
    def net_change(self) -> int:
        return self.proposed_size - self.live_size


def version_impact(
    *, audience: Audience, proposed: AudienceVersion, now: dt.datetime, sample_size: int = IMPACT_SAMPLE_SIZE
) -> VersionImpact:
    """What approving ``proposed`` would change at ``now`` compared with the live version (none: nobody is in).

    Counts and samples run as ``EXCEPT`` queries over the engine's member SQL, so only the numbers and at most
    ``sample_size`` ids per side leave the database. A definition that cannot be compiled is reported in
    ``error`` with zero counts rather than failing the review page.
    """
    live = audience.live_version if audience.live_version_id else None
    try:
        proposed_sql, proposed_params = audience_members_sql(audience=audience, version=proposed, now=now)
        if live is not None:
            live_sql, live_params = audience_members_sql(audience=audience, version=live, now=now)
        else:
            live_sql, live_params = None, []
        proposed_size = _count(proposed_sql, proposed_params)
        if live_sql is None:
            entering, leaving, live_size = proposed_size, 0, 0
            entering_ids = _ids(f"SELECT p.profile_id FROM ({proposed_sql}) AS p", proposed_params, sample_size)
            leaving_ids: list[int] = []
        else:
            live_size = _count(live_sql, live_params)
            entering_sql, entering_params = _except(proposed_sql, proposed_params, live_sql, live_params)
            leaving_sql, leaving_params = _except(live_sql, live_params, proposed_sql, proposed_params)
            entering = _count(entering_sql, entering_params)
            leaving = _count(leaving_sql, leaving_params)
            entering_ids = _ids(entering_sql, entering_params, sample_size)
            leaving_ids = _ids(leaving_sql, leaving_params, sample_size)
    except CompileError as exc:
        return VersionImpact(
            now=now,
            live_version=live,
            proposed_version=proposed,
            live_size=0,
            proposed_size=0,
            entering=0,
            leaving=0,
            entering_sample=[],
            leaving_sample=[],
            error=str(exc),
        )
    return VersionImpact(
        now=now,
        live_version=live,
        proposed_version=proposed,
        live_size=live_size,
        proposed_size=proposed_size,
        entering=entering,
        leaving=leaving,
        entering_sample=_profiles(entering_ids),
        leaving_sample=_profiles(leaving_ids),
    )


def _except(left_sql: str, left_params: list[Any], right_sql: str, right_params: list[Any]) -> tuple[str, list[Any]]:
    """Ids in ``left`` but not in ``right``, as one statement (both engines support ``EXCEPT``)."""
    sql = (
        f"SELECT d.profile_id FROM (SELECT l.profile_id FROM ({left_sql}) AS l "
        f"EXCEPT SELECT r.profile_id FROM ({right_sql}) AS r) AS d"
    )
    return sql, [*left_params, *right_params]


def _count(sql: str, params: list[Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({sql}) AS c", params)
        return cursor.fetchone()[0]


def _ids(sql: str, params: list[Any], limit: int) -> list[int]:
    """Up to ``limit`` ids of ``sql``, newest profiles first (like the builder's sample)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT s.profile_id FROM ({sql}) AS s ORDER BY s.profile_id DESC LIMIT %s", [*params, limit])
        return [row[0] for row in cursor.fetchall()]


def _profiles(ids: list[int]) -> list[Profile]:
    found = Profile.objects.in_bulk(ids)
    return [found[pk] for pk in ids if pk in found]
