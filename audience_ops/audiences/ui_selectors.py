"""Read-side queries for the audience pages: the list with sizes and trends, members, history and traces.

The engine's selectors (``selectors.py``) answer what evaluation needs; these answer what a person reading a
page needs, built on them. Nothing here writes.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import F, Max, OuterRef, QuerySet, Subquery

from audience_ops.customers.models import Profile
from audience_ops.customers.selectors import profile_search

from .engine.explain import Trace, TraceNode
from .models import Audience, AudienceSnapshot, AudienceVersion, MembershipSpan
from .selectors import audience_list

# How far back the "change" column looks from an audience's last evaluation.
CHANGE_WINDOW = dt.timedelta(days=7)
# The size-trend chart shows at most this many of the newest snapshots: an audience evaluated every 15 minutes
# has ~2,900 a month, more points than a laptop-width line chart can show.
SIZE_TREND_POINTS = 500


def audience_list_rows() -> QuerySet[Audience]:
    """Every audience for the list page, annotated for its columns.

    On top of :func:`~.selectors.audience_list` (``version_count``, ``last_size``): ``latest_version`` (the
    newest version number), ``last_evaluated_at``, ``week_ago_size`` (the size at the newest snapshot taken at
    least 7 days before the last one, None when the history is shorter) and ``size_change`` (``last_size`` minus
    ``week_ago_size``, None when either is unknown).

    The window is anchored on the last evaluation rather than on the wall clock so that an audience which has
    not been evaluated for a while still shows how its last week went, not a meaningless zero.
    """
    snapshots = AudienceSnapshot.objects.filter(audience=OuterRef("pk")).order_by("-evaluated_at", "-id")
    week_ago = AudienceSnapshot.objects.filter(
        audience=OuterRef("pk"),
        evaluated_at__lte=OuterRef("last_evaluated_at") - CHANGE_WINDOW,
    ).order_by("-evaluated_at", "-id")
    return (
        audience_list()
        .annotate(latest_version=Max("versions__number"))
        .annotate(last_evaluated_at=Subquery(snapshots.values("evaluated_at")[:1]))
        .annotate(week_ago_size=Subquery(week_ago.values("size")[:1]))
        .annotate(size_change=F("last_size") - F("week_ago_size"))
    )


def audience_intents() -> list[str]:
    """The distinct non-empty intent labels in use, sorted: the choices of the list's intent filter."""
    return list(Audience.objects.exclude(intent="").order_by("intent").values_list("intent", flat=True).distinct())


def audience_versions(*, audience: Audience) -> QuerySet[AudienceVersion]:
    """The version history of ``audience``, newest first, with authors."""
    return audience.versions.select_related("author", "audience").order_by("-number")


def audience_size_trend(*, audience: Audience, limit: int = SIZE_TREND_POINTS) -> list[dict[str, Any]]:
    """The newest ``limit`` snapshots, oldest first, as plain data for the chart and its table.

    Each point: ``evaluated_at`` (ISO 8601, UTC), ``label`` (``YYYY-MM-DD HH:MM``, UTC, for axes and tables),
    ``size``, ``entered``, ``exited`` and ``version`` (the number of the version evaluated).
    """
    rows = (
        AudienceSnapshot.objects.filter(audience=audience)
        .order_by("-evaluated_at", "-id")
        .values("evaluated_at", "size", "entered", "exited", "version__number")[:limit]
    )
    return [
        {
            "evaluated_at": row["evaluated_at"].astimezone(dt.UTC).isoformat(),
            "label": row["evaluated_at"].astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M"),
            "size": row["size"],
            "entered": row["entered"],
            "exited": row["exited"],
            "version": row["version__number"],
        }
        for row in reversed(list(rows))
    ]


def audience_current_members(*, audience: Audience) -> QuerySet[MembershipSpan]:
    """The open membership spans (members as of the last evaluation), newest entries first, with profiles."""
    return (
        MembershipSpan.objects.filter(audience=audience, exited_at__isnull=True)
        .select_related("profile")
        .order_by("-entered_at", "-id")
    )


def audience_references(*, slugs: Iterable[str]) -> list[tuple[str, Audience | None]]:
    """``(slug, audience or None)`` for each slug, in the given order: referenced audiences to link to."""
    slugs = list(slugs)
    found = Audience.objects.in_bulk(slugs, field_name="slug")
    return [(slug, found.get(slug)) for slug in slugs]


def profile_audiences(*, profile: Profile) -> QuerySet[MembershipSpan]:
    """The audiences ``profile`` is currently in (its open membership spans), by audience name."""
    return (
        MembershipSpan.objects.filter(profile=profile, exited_at__isnull=True)
        .select_related("audience", "version")
        .order_by("audience__name", "audience__slug")
    )


def profile_is_current_member(*, audience: Audience, profile: Profile) -> MembershipSpan | None:
    """The open span of ``profile`` in ``audience`` (a member at the last evaluation), else None."""
    return MembershipSpan.objects.filter(audience=audience, profile=profile, exited_at__isnull=True).first()


@dataclass(frozen=True)
class ProfileLookup:
    """The profiles a "why" query could mean: one is the answer, several need a choice, none is a miss."""

    query: str
    profiles: list[Profile] = field(default_factory=list)

    @property
    def profile(self) -> Profile | None:
        return self.profiles[0] if len(self.profiles) == 1 else None


def profile_lookup(*, query: str, by_id: bool = False) -> ProfileLookup:
    """The profiles ``query`` names: by id when ``by_id``; else by identifier, then by id for a bare number.

    Identifiers (external id, email, phone, anonymous id) come first because shops often use numeric user
    ids: "1042" typed in the box is more likely an external id than a database id. When it is both (a profile
    with external id 1042 and another with id 1042), both are returned and the page asks which one.
    """
    query = query.strip()
    if not query:
        return ProfileLookup(query=query)
    if by_id:
        profile = Profile.objects.filter(pk=int(query)).first() if query.isdigit() else None
        return ProfileLookup(query=query, profiles=[profile] if profile else [])
    profiles = list(profile_search(query=query)[:20])
    if query.isdigit():
        by_pk = Profile.objects.filter(pk=int(query)).first()
        if by_pk is not None and by_pk not in profiles:
            profiles.append(by_pk)
    return ProfileLookup(query=query, profiles=profiles)


@dataclass(frozen=True)
class TraceRow:
    """One node of a trace as the page shows it: verdict, label, the deciding values and the children."""

    kind: str
    label: str
    matched: bool
    values: list[tuple[str, str]]
    children: list[TraceRow]


def trace_rows(node: TraceNode) -> TraceRow:
    """A :class:`TraceNode` with its values turned into display text ("missing" stays "missing")."""
    return TraceRow(
        kind=node.kind,
        label=node.label,
        matched=node.matched,
        values=[
            (key, _display(value, is_time=key in TIME_VALUES))
            for key, value in node.values.items()
            if key not in ("audience", "member")
        ],
        children=[trace_rows(child) for child in node.children],
    )


def trace_exclusion_rows(trace: Trace) -> list[TraceRow]:
    """The exclusions and paired suppression of a trace, each with the nested trace of that audience."""
    return [trace_rows(node) for node in trace.exclusions]


# Trace values that hold the engine's own UTC times (not profile data, which is shown exactly as stored).
TIME_VALUES = {"window", "last event", "first event"}
# 2026-11-24T16:29:11.958695+00:00 -> 2026-11-24 16:29:11 UTC, read at a glance.
_UTC_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?\+00:00")


def _display(value: Any, *, is_time: bool = False) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return _UTC_TIMESTAMP.sub(r"\1 \2 UTC", text) if is_time else text
