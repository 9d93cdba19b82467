"""Figures several checks share: a sync's cadence and last success, an audience's paired suppression."""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable

from audience_ops.audiences.models import Audience, AudienceVersion
from audience_ops.syncs.cadence import next_run_after
from audience_ops.syncs.choices import RunState
from audience_ops.syncs.models import Sync, SyncRun


def sync_cadence(sync: Sync, now: dt.datetime) -> dt.timedelta | None:
    """The time between two scheduled runs of ``sync`` around ``now``; None for manual-only syncs."""
    if sync.every_minutes:
        return dt.timedelta(minutes=sync.every_minutes)
    if sync.cron:
        first = next_run_after(every_minutes=None, cron=sync.cron, after=now)
        second = next_run_after(every_minutes=None, cron=sync.cron, after=first) if first else None
        if first and second:
            return second - first
    return None


def finished_runs(sync: Sync):
    """Real (not dry) runs that ended in success or failure, newest first; skipped runs say nothing."""
    return SyncRun.objects.filter(
        sync=sync, dry_run=False, state__in=(RunState.SUCCEEDED, RunState.FAILED), finished_at__isnull=False
    ).order_by("-finished_at", "-pk")


def last_success_at(sync: Sync) -> dt.datetime | None:
    return finished_runs(sync).filter(state=RunState.SUCCEEDED).values_list("finished_at", flat=True).first()


def paired_suppression(audience: Audience) -> Audience | None:
    """The paired suppression audience of the version destinations receive (live, else latest)."""
    query = AudienceVersion.objects.filter(audience=audience)
    version = query.filter(pk=audience.live_version_id).first() if audience.live_version_id else None
    version = version or query.order_by("-number").first()
    if version is None or not version.paired_suppression:
        return None
    return Audience.objects.filter(slug=version.paired_suppression).first()


def median(values: Iterable[float]) -> float | None:
    values = list(values)
    return statistics.median(values) if values else None


def pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def people(count: int) -> str:
    """ "1 person", "1,204 people"."""
    return "1 person" if count == 1 else f"{count:,} people"


def ago(delta: dt.timedelta) -> str:
    """A duration in words: "3 h 20 min", "2 days 4 h"."""
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"
