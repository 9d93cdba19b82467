"""Ballooning and collapse: an audience's latest size against the median of its previous snapshots.

A definition bug or a broken upstream feed shows up as a size that suddenly doubles (everyone matches) or
halves (nobody does) while every run "succeeds". Small audiences swing by nature (3 -> 9 is noise), so the
check ignores audiences below ``ALERT_SIZE_MIN_SIZE`` on both sides of the comparison.
"""

from __future__ import annotations

import datetime as dt

from audience_ops.audiences.choices import AudienceStatus
from audience_ops.audiences.models import Audience

from ..choices import AlertKind, AlertSeverity
from ..conf import setting
from ..services import Subject, alert_raise, alert_resolve_missing
from .common import median


def check_size(*, now: dt.datetime, audiences: list[Audience] | None = None) -> None:
    """Raise ballooning/collapse for live audiences whose latest size left the band around the median."""
    factor = float(setting("ALERT_SIZE_FACTOR"))
    history = int(setting("ALERT_SIZE_HISTORY"))
    min_history = int(setting("ALERT_SIZE_MIN_HISTORY"))
    min_size = int(setting("ALERT_SIZE_MIN_SIZE"))
    scoped = audiences is not None
    if audiences is None:
        audiences = list(Audience.objects.filter(status=AudienceStatus.LIVE))
    found: dict[str, set[str]] = {AlertKind.BALLOONING: set(), AlertKind.COLLAPSE: set()}
    examined: set[str] = set()
    for audience in audiences:
        subject = Subject.for_audience(audience)
        examined.add(subject.ref)
        if audience.status != AudienceStatus.LIVE:
            continue
        snapshots = list(
            audience.snapshots.filter(evaluated_at__lte=now)
            .order_by("-evaluated_at", "-pk")
            .values_list("size", "evaluated_at")[: history + 1]
        )
        if len(snapshots) < min_history + 1:
            continue
        (size, at), previous = snapshots[0], [s for s, _ in snapshots[1:]]
        base = median(previous)
        details = {"size": size, "median": base, "snapshots": len(previous), "factor": factor, "at": at}
        if max(size, base) < min_size:
            continue
        if size > factor * base:
            ratio = size / base if base else None
            severity = AlertSeverity.CRITICAL if ratio is None or ratio >= 2 * factor else AlertSeverity.WARNING
            times = f"{ratio:.1f}x" if ratio else "from zero"
            alert_raise(
                kind=AlertKind.BALLOONING,
                subject=subject,
                severity=severity,
                message=(
                    f"{audience.name} has {size:,} members, {times} the median of its last {len(previous)} "
                    f"evaluations ({base:,.0f}); the alert threshold is {factor:g}x."
                ),
                details={**details, "ratio": ratio},
                now=now,
            )
            found[AlertKind.BALLOONING].add(subject.key(AlertKind.BALLOONING))
        elif size * factor < base:
            ratio = size / base
            severity = AlertSeverity.CRITICAL if size == 0 else AlertSeverity.WARNING
            alert_raise(
                kind=AlertKind.COLLAPSE,
                subject=subject,
                severity=severity,
                message=(
                    f"{audience.name} has {size:,} members, {ratio * 100:.0f}% of the median of its last "
                    f"{len(previous)} evaluations ({base:,.0f}); the alert threshold is 1/{factor:g}."
                ),
                details={**details, "ratio": ratio},
                now=now,
            )
            found[AlertKind.COLLAPSE].add(subject.key(AlertKind.COLLAPSE))
    for kind, keys in found.items():
        among = {f"{kind}:{ref}" for ref in examined} if scoped else None
        alert_resolve_missing(kind, keys, among=among, now=now)
