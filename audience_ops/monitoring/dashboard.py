"""Read-only selectors behind the ops dashboard: live audiences with their size, 7-day change, syncs and alerts.

The dashboard is the first page ops open, so it must stay cheap however many audiences there are: every
figure is a database annotation (subqueries on the snapshot, run and alert indexes) or comes from one
prefetch, and the number of queries does not depend on the number of audiences or syncs. Nothing here
writes.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from croniter import croniter
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    FloatField,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from audience_ops.audiences.choices import AudienceStatus
from audience_ops.audiences.models import Audience, AudienceSnapshot
from audience_ops.syncs.choices import RunState
from audience_ops.syncs.models import Sync, SyncRun

from .choices import AlertSeverity, AlertState
from .conf import setting
from .models import Alert

SIZE_CHANGE_DAYS = 7
ALERTS_SHOWN = 10


@dataclass(frozen=True)
class SyncHealth:
    """One sync of a dashboard row: its last run, last success, match rate and a one-word health."""

    sync: Sync
    health: str  # healthy, stale, failing, paused, never, pending
    label: str
    color: str
    explanation: str
    last_run: SyncRun | None
    last_success_at: dt.datetime | None
    match_rate: float | None
    cadence: dt.timedelta | None


@dataclass(frozen=True)
class AudienceRow:
    """One live audience on the dashboard."""

    audience: Audience
    size: int | None
    evaluated_at: dt.datetime | None
    size_before: int | None  # the size at the last evaluation at or before SIZE_CHANGE_DAYS ago
    open_alerts: int
    syncs: list[SyncHealth] = field(default_factory=list)

    @property
    def change(self) -> int | None:
        if self.size is None or self.size_before is None:
            return None
        return self.size - self.size_before

    @property
    def change_magnitude(self) -> int | None:
        return abs(self.change) if self.change is not None else None

    @property
    def change_ratio(self) -> float | None:
        """Relative change (0.25 = +25%); None without a baseline or from an empty audience."""
        if self.change is None or not self.size_before:
            return None
        return self.change / self.size_before

    @property
    def needs_attention(self) -> bool:
        return bool(self.open_alerts) or any(item.health in ("failing", "stale") for item in self.syncs)


@dataclass(frozen=True)
class DashboardSummary:
    """The figures across the top of the dashboard."""

    audiences: int
    members: int
    syncs: int
    syncs_by_health: dict[str, int]
    open_alerts: int
    open_alerts_by_severity: dict[str, int]


def live_audiences() -> QuerySet[Audience]:
    """The audiences the dashboard lists (live ones), before filters; the filter set narrows this."""
    return Audience.objects.filter(status=AudienceStatus.LIVE)


def dashboard_rows(
    *,
    audiences: QuerySet[Audience],
    destination_id: int | None = None,
    now: dt.datetime | None = None,
) -> list[AudienceRow]:
    """One row per audience in ``audiences`` (already filtered), busiest problems first, in two queries.

    ``destination_id`` limits the syncs shown to that destination (the destination filter). The 7-day
    change compares the latest snapshot with the last one taken at or before ``now - 7 days``.
    """
    now = now or timezone.now()
    week_ago = now - dt.timedelta(days=SIZE_CHANGE_DAYS)
    snapshots = AudienceSnapshot.objects.filter(audience=OuterRef("pk")).order_by("-evaluated_at", "-id")
    open_alerts = (
        Alert.objects.filter(Q(audience=OuterRef("pk")) | Q(sync__audience=OuterRef("pk")), state=AlertState.OPEN)
        .order_by()
        .values("state")
        .annotate(total=Count("pk"))
        .values("total")
    )
    syncs = _syncs_with_runs()
    if destination_id is not None:
        syncs = syncs.filter(destination_id=destination_id)
    queryset = (
        audiences.select_related("owner")
        .annotate(
            latest_size=Subquery(snapshots.values("size")[:1], output_field=IntegerField()),
            latest_evaluated_at=Subquery(snapshots.values("evaluated_at")[:1], output_field=DateTimeField()),
            size_before=Subquery(
                snapshots.filter(evaluated_at__lte=week_ago).values("size")[:1], output_field=IntegerField()
            ),
            open_alert_count=Coalesce(Subquery(open_alerts, output_field=IntegerField()), 0),
        )
        .prefetch_related(Prefetch("syncs", queryset=syncs, to_attr="dashboard_syncs"))
        .order_by("name")
    )
    audience_list = list(queryset)
    last_runs = SyncRun.objects.in_bulk(
        [sync.last_run_id for audience in audience_list for sync in audience.dashboard_syncs if sync.last_run_id]
    )
    rows = [
        AudienceRow(
            audience=audience,
            size=audience.latest_size,
            evaluated_at=audience.latest_evaluated_at,
            size_before=audience.size_before,
            open_alerts=audience.open_alert_count,
            syncs=[
                sync_health(sync=sync, last_run=last_runs.get(sync.last_run_id), now=now)
                for sync in audience.dashboard_syncs
            ],
        )
        for audience in audience_list
    ]
    rows.sort(key=lambda row: (not row.needs_attention, -row.open_alerts, row.audience.name.lower()))
    return rows


def _syncs_with_runs() -> QuerySet[Sync]:
    """Syncs with the id of their last real run, their last success and the match rate of that success."""
    real_runs = SyncRun.objects.filter(sync=OuterRef("pk"), dry_run=False)
    successes = real_runs.filter(state=RunState.SUCCEEDED).order_by("-finished_at", "-pk")
    return (
        Sync.objects.select_related("destination")
        .annotate(
            last_run_id=Subquery(real_runs.order_by("-requested_at", "-pk").values("pk")[:1]),
            last_success_at=Subquery(successes.values("finished_at")[:1], output_field=DateTimeField()),
            last_match_rate=Subquery(
                successes.filter(match_rate__isnull=False).values("match_rate")[:1], output_field=FloatField()
            ),
        )
        .order_by("destination__name")
    )


def cadence_interval(sync: Sync, *, now: dt.datetime) -> dt.timedelta | None:
    """How often ``sync`` is meant to run; for a cron expression, the gap between its next two firings."""
    if sync.every_minutes:
        return dt.timedelta(minutes=sync.every_minutes)
    if sync.cron:
        try:
            schedule = croniter(sync.cron, now.astimezone(dt.UTC))
            first = schedule.get_next(dt.datetime)
            second = schedule.get_next(dt.datetime)
        except (ValueError, KeyError):
            return None
        return second - first
    return None


def sync_health(*, sync: Sync, last_run: SyncRun | None, now: dt.datetime) -> SyncHealth:
    """Classify one sync from its last run and the age of its last success against its cadence.

    Failing: the last run failed. Stale: the last success is older than ``ALERT_STALE_FACTOR`` (2) times the
    cadence, the stale-sync alert's rule, or there is none while runs keep being attempted. Paused and manual
    syncs are never stale: nobody promised a run.
    """
    factor = float(setting("ALERT_STALE_FACTOR"))
    cadence = cadence_interval(sync, now=now)
    last_success_at = getattr(sync, "last_success_at", None)
    match_rate = getattr(sync, "last_match_rate", None)

    def result(health: str, label: str, color: str, explanation: str) -> SyncHealth:
        return SyncHealth(
            sync=sync,
            health=health,
            label=label,
            color=color,
            explanation=explanation,
            last_run=last_run,
            last_success_at=last_success_at,
            match_rate=match_rate,
            cadence=cadence,
        )

    if last_run is not None and last_run.state == RunState.FAILED:
        return result("failing", "failing", "red", f"The last run failed: {last_run.error or 'no reason recorded'}")
    if not sync.enabled:
        return result("paused", "paused", "secondary", "Paused: the schedule does not run it.")
    if last_run is None:
        return result("never", "never run", "secondary", "No run yet.")
    if last_success_at is None:
        if last_run.state in (RunState.QUEUED, RunState.RUNNING):
            return result("pending", "first run", "blue", "The first run is in progress.")
        return result("stale", "no success", "yellow", "No run has succeeded yet.")
    age = now - last_success_at
    if cadence is not None and age > factor * cadence:
        return result(
            "stale",
            "stale",
            "yellow",
            f"Last success {_duration(age)} ago, more than {factor:g}x its cadence ({sync.cadence_label}).",
        )
    return result("healthy", "healthy", "green", f"Last success {_duration(age)} ago ({sync.cadence_label}).")


def dashboard_summary(*, rows: list[AudienceRow], alerts: QuerySet[Alert]) -> DashboardSummary:
    """Totals for the cards: from the rows already loaded, plus one grouped count of open alerts."""
    by_health = Counter(item.health for row in rows for item in row.syncs)
    by_severity = dict(
        alerts.filter(state=AlertState.OPEN)
        .order_by()
        .values_list("severity")
        .annotate(total=Count("pk"))
        .values_list("severity", "total")
    )
    return DashboardSummary(
        audiences=len(rows),
        members=sum(row.size or 0 for row in rows),
        syncs=sum(len(row.syncs) for row in rows),
        syncs_by_health=dict(by_health),
        open_alerts=sum(by_severity.values()),
        open_alerts_by_severity={severity: by_severity.get(severity, 0) for severity in reversed(AlertSeverity.values)},
    )


def dashboard_alerts(*, audience_ids: list[int] | None = None, destination_id: int | None = None) -> QuerySet[Alert]:
    """Active alerts (open first, then acknowledged), narrowed to the filtered audiences and destination.

    ``audience_ids=None`` means no audience filter: every active alert, including those about a destination
    alone (rejected credentials).
    """
    alerts = Alert.objects.active().select_related(
        "audience", "sync__audience", "sync__destination", "destination", "acknowledged_by"
    )
    if audience_ids is not None:
        alerts = alerts.filter(Q(audience_id__in=audience_ids) | Q(sync__audience_id__in=audience_ids))
    if destination_id is not None:
        alerts = alerts.filter(
            Q(destination_id=destination_id)
            | Q(sync__destination_id=destination_id)
            | Q(sync__isnull=True, destination__isnull=True)
        )
    # Open before acknowledged, critical first, newest first.
    return alerts.annotate(
        state_rank=Case(When(state=AlertState.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField()),
        severity_rank=Case(
            When(severity=AlertSeverity.CRITICAL, then=Value(0)),
            When(severity=AlertSeverity.WARNING, then=Value(1)),
            default=Value(2),
            output_field=IntegerField(),
        ),
    ).order_by("state_rank", "severity_rank", "-last_seen", "-id")


def _duration(delta: dt.timedelta) -> str:
    """A short human duration: "12 min", "3 h", "2 days"."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
