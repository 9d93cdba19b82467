"""Match rate: the share of an audience the platform could match to its users, per enabled sync.

A low rate means ads reach far fewer people than the audience size suggests (usually missing or badly
formatted identifiers; the identifier coverage on the dashboard says which). Two conditions:
``low_match_rate`` when the latest rate is below the destination's threshold
(``ALERT_MATCH_RATE_MIN_BY_DESTINATION[name]``, else ``ALERT_MATCH_RATE_MIN``), and ``match_rate_drop``
when it fell below ``(1 - ALERT_MATCH_RATE_DROP)`` x the median of the previous runs' rates.
"""

from __future__ import annotations

import datetime as dt

from audience_ops.syncs.choices import RunState
from audience_ops.syncs.models import Sync, SyncRun

from ..choices import AlertKind, AlertSeverity
from ..conf import setting
from ..services import Subject, alert_raise, alert_resolve_missing
from .common import median, pct


def match_rate_threshold(destination_name: str) -> float:
    per_destination = setting("ALERT_MATCH_RATE_MIN_BY_DESTINATION") or {}
    return float(per_destination.get(destination_name, setting("ALERT_MATCH_RATE_MIN")))


def check_match_rates(*, now: dt.datetime, syncs: list[Sync] | None = None) -> None:
    scoped = syncs is not None
    if syncs is None:
        syncs = list(Sync.objects.filter(enabled=True).select_related("audience", "destination"))
    history = int(setting("ALERT_MATCH_RATE_HISTORY"))
    min_history = int(setting("ALERT_MATCH_RATE_MIN_HISTORY"))
    drop = float(setting("ALERT_MATCH_RATE_DROP"))
    found = {AlertKind.LOW_MATCH_RATE: set(), AlertKind.MATCH_RATE_DROP: set()}
    examined: set[str] = set()
    for sync in syncs:
        subject = Subject.for_sync(sync)
        examined.add(subject.ref)
        if not sync.enabled:
            continue
        rates = list(
            SyncRun.objects.filter(
                sync=sync, dry_run=False, state=RunState.SUCCEEDED, match_rate__isnull=False, finished_at__lte=now
            )
            .order_by("-finished_at", "-pk")
            .values_list("match_rate", "pk")[: history + 1]
        )
        if not rates:
            continue
        (rate, run_id), previous = rates[0], [r for r, _ in rates[1:]]
        threshold = match_rate_threshold(sync.destination.name)
        if rate < threshold:
            alert_raise(
                kind=AlertKind.LOW_MATCH_RATE,
                subject=subject,
                severity=AlertSeverity.WARNING,
                message=(
                    f"{sync.destination.name} matched {pct(rate)} of {sync.audience.name} in run {run_id}, "
                    f"below the {pct(threshold)} threshold for this destination."
                ),
                details={"match_rate": rate, "threshold": threshold, "run": run_id},
                now=now,
            )
            found[AlertKind.LOW_MATCH_RATE].add(subject.key(AlertKind.LOW_MATCH_RATE))
        base = median(previous)
        if len(previous) >= min_history and base and rate < (1 - drop) * base:
            alert_raise(
                kind=AlertKind.MATCH_RATE_DROP,
                subject=subject,
                severity=AlertSeverity.WARNING,
                message=(
                    f"{sync.destination.name} matched {pct(rate)} of {sync.audience.name} in run {run_id}, "
                    f"down from a median of {pct(base)} over the previous {len(previous)} runs."
                ),
                details={"match_rate": rate, "median": base, "runs": len(previous), "drop": drop, "run": run_id},
                now=now,
            )
            found[AlertKind.MATCH_RATE_DROP].add(subject.key(AlertKind.MATCH_RATE_DROP))
    for kind, keys in found.items():
        among = {f"{kind}:{ref}" for ref in examined} if scoped else None
        alert_resolve_missing(kind, keys, among=among, now=now)
