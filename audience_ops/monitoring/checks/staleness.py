"""Stale syncs and audiences not evaluated on schedule: things that quietly stopped happening.

A sync's "last success" is the end of its last successful real run; a scheduled sync whose last success
(or, if it never succeeded, its creation) is older than ``ALERT_STALE_FACTOR`` x its cadence is stale. Paused
and manual-only syncs have no schedule to fall behind. A live audience is late when its last evaluation
is older than ``ALERT_STALE_FACTOR`` x ``AUDIENCE_EVALUATION_INTERVAL_SECONDS``.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings

from audience_ops.audiences.choices import AudienceStatus
from audience_ops.audiences.models import Audience
from audience_ops.syncs.models import Sync

from ..choices import AlertKind, AlertSeverity
from ..conf import setting
from ..services import Subject, alert_raise, alert_resolve_missing
from .common import ago, last_success_at, sync_cadence


def sync_is_stale(sync: Sync, now: dt.datetime) -> tuple[bool, dt.datetime | None, dt.timedelta | None]:
    """(stale?, last success, cadence) of an enabled scheduled sync; never stale without a schedule."""
    cadence = sync_cadence(sync, now)
    last = last_success_at(sync)
    if not sync.enabled or cadence is None:
        return False, last, cadence
    reference = last or sync.created_at
    return now - reference > cadence * float(setting("ALERT_STALE_FACTOR")), last, cadence


def check_stale_syncs(*, now: dt.datetime, syncs: list[Sync] | None = None) -> None:
    scoped = syncs is not None
    if syncs is None:
        syncs = list(Sync.objects.filter(enabled=True).select_related("audience", "destination"))
    found, examined = set(), set()
    for sync in syncs:
        subject = Subject.for_sync(sync)
        examined.add(subject.key(AlertKind.STALE_SYNC))
        stale, last, cadence = sync_is_stale(sync, now)
        if not stale:
            continue
        since = (
            f"its last success was {ago(now - last)} ago"
            if last
            else f"it never succeeded in {ago(now - sync.created_at)}"
        )
        alert_raise(
            kind=AlertKind.STALE_SYNC,
            subject=subject,
            severity=AlertSeverity.WARNING,
            message=f"{subject.label} runs {sync.cadence_label}, but {since}.",
            details={
                "last_success": last,
                "cadence_minutes": cadence.total_seconds() / 60,
                "minutes_since": ((now - (last or sync.created_at)).total_seconds()) / 60,
            },
            now=now,
        )
        found.add(subject.key(AlertKind.STALE_SYNC))
    alert_resolve_missing(AlertKind.STALE_SYNC, found, among=examined if scoped else None, now=now)


def check_stale_evaluations(*, now: dt.datetime, audiences: list[Audience] | None = None) -> None:
    scoped = audiences is not None
    if audiences is None:
        audiences = list(Audience.objects.filter(status=AudienceStatus.LIVE))
    interval = dt.timedelta(seconds=settings.AUDIENCE_EVALUATION_INTERVAL_SECONDS)
    limit = interval * float(setting("ALERT_STALE_FACTOR"))
    found, examined = set(), set()
    for audience in audiences:
        subject = Subject.for_audience(audience)
        examined.add(subject.key(AlertKind.STALE_EVALUATION))
        if audience.status != AudienceStatus.LIVE:
            continue
        last = audience.snapshots.order_by("-evaluated_at").values_list("evaluated_at", flat=True).first()
        reference = last or audience.updated_at
        if now - reference <= limit:
            continue
        since = f"was last evaluated {ago(now - last)} ago" if last else "has never been evaluated"
        alert_raise(
            kind=AlertKind.STALE_EVALUATION,
            subject=subject,
            severity=AlertSeverity.WARNING,
            message=(
                f"{audience.name} is live but {since}; it should be evaluated every "
                f"{ago(interval)}, so its syncs send old membership."
            ),
            details={"last_evaluated": last, "interval_seconds": interval.total_seconds()},
            now=now,
        )
        found.add(subject.key(AlertKind.STALE_EVALUATION))
    alert_resolve_missing(AlertKind.STALE_EVALUATION, found, among=examined if scoped else None, now=now)
