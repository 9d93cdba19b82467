"""Failing syncs and rejected credentials.

``failing_sync``: the last ``ALERT_FAILING_RUNS`` finished real runs of an enabled sync all failed (a single
failure is usually a blip the next run repairs). ``credentials_rejected``: a destination whose most recent
word on its credentials was a refusal - its latest finished run failed with an authentication error
(invalid or expired token, HTTP 401/403, Meta code 190) or its last connection test failed, whichever is
more recent. Every sync to that destination fails until an admin replaces the credentials.
"""

from __future__ import annotations

import datetime as dt
import re

from audience_ops.destinations.models import Destination
from audience_ops.syncs.choices import RunState
from audience_ops.syncs.models import Sync, SyncRun

from ..choices import AlertKind, AlertSeverity
from ..conf import setting
from ..services import Subject, alert_raise, alert_resolve_missing
from .common import finished_runs

# Platform messages that mean "these credentials are not accepted", not "try again" or "bad data".
AUTH_ERROR = re.compile(
    r"\(code (190|102|104|401|403|40001|40100|40104|40105)\)|access token|oauth|unauthori[sz]ed|"
    r"authenticat|credential|permission denied|forbidden",
    re.IGNORECASE,
)


def is_auth_error(message: str) -> bool:
    return bool(message and AUTH_ERROR.search(message))


def check_failing_syncs(*, now: dt.datetime, syncs: list[Sync] | None = None) -> None:
    scoped = syncs is not None
    if syncs is None:
        syncs = list(Sync.objects.filter(enabled=True).select_related("audience", "destination"))
    limit = max(1, int(setting("ALERT_FAILING_RUNS")))
    found, examined = set(), set()
    for sync in syncs:
        subject = Subject.for_sync(sync)
        examined.add(subject.key(AlertKind.FAILING_SYNC))
        if not sync.enabled:
            continue
        latest = list(finished_runs(sync).filter(finished_at__lte=now).values("pk", "state", "error")[:limit])
        if len(latest) < limit or any(run["state"] != RunState.FAILED for run in latest):
            continue
        streak = _failure_streak(sync, now)
        alert_raise(
            kind=AlertKind.FAILING_SYNC,
            subject=subject,
            severity=AlertSeverity.CRITICAL,
            message=f"{subject.label} failed its last {streak} runs; the latest said: {latest[0]['error'][:300]}",
            details={"consecutive_failures": streak, "last_run": latest[0]["pk"], "last_error": latest[0]["error"]},
            now=now,
        )
        found.add(subject.key(AlertKind.FAILING_SYNC))
    alert_resolve_missing(AlertKind.FAILING_SYNC, found, among=examined if scoped else None, now=now)


def _failure_streak(sync: Sync, now: dt.datetime) -> int:
    last_success = (
        finished_runs(sync)
        .filter(state=RunState.SUCCEEDED, finished_at__lte=now)
        .values_list("finished_at", flat=True)
        .first()
    )
    failures = finished_runs(sync).filter(state=RunState.FAILED, finished_at__lte=now)
    if last_success is not None:
        failures = failures.filter(finished_at__gt=last_success)
    return failures.count()


def check_credentials(*, now: dt.datetime, destinations: list[Destination] | None = None) -> None:
    scoped = destinations is not None
    if destinations is None:
        destinations = list(Destination.objects.filter(enabled=True))
    found, examined = set(), set()
    for destination in destinations:
        subject = Subject.for_destination(destination)
        examined.add(subject.key(AlertKind.CREDENTIALS_REJECTED))
        if not destination.enabled:
            continue
        run = (
            SyncRun.objects.filter(
                sync__destination=destination,
                dry_run=False,
                state__in=(RunState.SUCCEEDED, RunState.FAILED),
                finished_at__isnull=False,
            )
            .order_by("-finished_at", "-pk")
            .values("pk", "state", "error", "finished_at")
            .first()
        )
        run_rejected = run is not None and run["state"] == RunState.FAILED and is_auth_error(run["error"])
        test_rejected = destination.last_test_ok is False
        if run and destination.last_test_at:
            # Whichever spoke last decides: a later passing test or successful run clears an older refusal.
            if destination.last_test_at > run["finished_at"]:
                run_rejected = False
            else:
                test_rejected = False
        if not (run_rejected or test_rejected):
            continue
        if run_rejected:
            why = f"run {run['pk']} was refused: {run['error'][:300]}"
        else:
            why = f"the last connection test failed: {destination.last_test_message[:300]}"
        alert_raise(
            kind=AlertKind.CREDENTIALS_REJECTED,
            subject=subject,
            severity=AlertSeverity.CRITICAL,
            message=(
                f"{destination.name} rejected its credentials ({why}); every sync to it fails until they are replaced."
            ),
            details={
                "run": run["pk"] if run_rejected else None,
                "error": run["error"] if run_rejected else destination.last_test_message,
                "source": "run" if run_rejected else "connection test",
            },
            now=now,
        )
        found.add(subject.key(AlertKind.CREDENTIALS_REJECTED))
    alert_resolve_missing(AlertKind.CREDENTIALS_REJECTED, found, among=examined if scoped else None, now=now)
