"""Suppression leaks: people the platform still targets although they are in the paired suppression audience.

For a sync of a targeting audience, the leak is its ledger (what the platform holds) intersected with the
current members of the audience's paired suppression (open membership spans), counted in SQL. Right after a
targeting run it is zero by construction (membership always applies the paired suppression); someone who
converted since then is expected to stay in the ledger until the next run, so only a leak older than one
cadence of the targeting sync (``ALERT_LEAK_GRACE_MINUTES`` for a manual sync) raises an alert - a leaked
person's age is counted from the later of their entry into the suppression and their addition to the ledger.

The alert is raised at once (critical) when the suppression's own sync to the same destination is missing,
paused, failing (its last run failed) or stale while the targeting sync has succeeded since the
suppression's last success: the platform's suppression list is then out of date while targeting carries on.
Its figures also say how many current suppression members that list lacks.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef

from audience_ops.audiences.choices import AudienceKind
from audience_ops.audiences.models import Audience, MembershipSpan
from audience_ops.syncs.choices import RunState
from audience_ops.syncs.models import LedgerEntry, Sync

from ..choices import AlertKind, AlertSeverity
from ..conf import setting
from ..services import Subject, alert_raise, alert_resolve_missing
from .common import ago, finished_runs, last_success_at, paired_suppression, people, sync_cadence
from .staleness import sync_is_stale


def leak_figures(*, targeting_sync: Sync, suppression: Audience, cutoff: dt.datetime) -> tuple[int, int]:
    """(leaked now, leaked since before ``cutoff``) for one targeting sync, computed in the database."""
    members = MembershipSpan.objects.filter(
        audience=suppression, exited_at__isnull=True, profile_id=OuterRef("profile_id")
    )
    leaked = LedgerEntry.objects.filter(sync=targeting_sync).filter(Exists(members))
    aged = leaked.filter(added_at__lt=cutoff).filter(Exists(members.filter(entered_at__lt=cutoff)))
    return leaked.count(), aged.count()


def suppression_missing(*, suppression_sync: Sync | None, suppression: Audience) -> int:
    """Current suppression members the destination's suppression list does not hold."""
    members = MembershipSpan.objects.filter(audience=suppression, exited_at__isnull=True)
    if suppression_sync is None:
        return members.count()
    held = LedgerEntry.objects.filter(sync=suppression_sync, profile_id=OuterRef("profile_id"))
    return members.exclude(Exists(held)).count()


def partner_problem(*, targeting_sync: Sync, suppression_sync: Sync | None, now: dt.datetime) -> str | None:
    """Why the suppression's sync lets the targeting partner down, or None while it keeps up."""
    targeting_success = last_success_at(targeting_sync)
    if targeting_success is None:
        return None  # targeting has not synced either: nothing is being shown yet
    if suppression_sync is None:
        return "the suppression audience is not synced to this destination"
    suppression_success = last_success_at(suppression_sync)
    if suppression_success is not None and suppression_success >= targeting_success:
        return None  # the suppression list is at least as fresh as the targeting one
    if not suppression_sync.enabled:
        return "the suppression's sync to this destination is paused"
    latest = finished_runs(suppression_sync).values_list("state", flat=True).first()
    if latest == RunState.FAILED:
        return "the suppression's sync to this destination is failing"
    if sync_is_stale(suppression_sync, now)[0]:
        return "the suppression's sync to this destination is stale"
    return None


def check_suppression_leaks(*, now: dt.datetime, syncs: list[Sync] | None = None) -> None:
    scoped = syncs is not None
    if syncs is None:
        syncs = list(
            Sync.objects.filter(audience__kind=AudienceKind.TARGETING).select_related("audience", "destination")
        )
    grace_default = dt.timedelta(minutes=float(setting("ALERT_LEAK_GRACE_MINUTES")))
    found, examined = set(), set()
    for sync in syncs:
        subject = Subject.for_sync(sync)
        examined.add(subject.key(AlertKind.SUPPRESSION_LEAK))
        if sync.audience.kind != AudienceKind.TARGETING:
            continue
        suppression = paired_suppression(sync.audience)
        if suppression is None:
            continue
        grace = sync_cadence(sync, now) or grace_default
        leaked, aged = leak_figures(targeting_sync=sync, suppression=suppression, cutoff=now - grace)
        suppression_sync = Sync.objects.filter(audience=suppression, destination=sync.destination).first()
        problem = partner_problem(targeting_sync=sync, suppression_sync=suppression_sync, now=now)
        missing = suppression_missing(suppression_sync=suppression_sync, suppression=suppression) if problem else 0
        details = {
            "leaked": leaked,
            "leaked_longer_than_cadence": aged,
            "grace_minutes": grace.total_seconds() / 60,
            "suppression": suppression.slug,
            "suppression_sync": suppression_sync.pk if suppression_sync else None,
            "partner_problem": problem,
            "suppression_members_missing_at_destination": missing,
        }
        if problem and (leaked or missing):
            severity = AlertSeverity.CRITICAL
            message = (
                f"{sync.destination.name} holds {people(leaked)} in {sync.audience.name} who are in "
                f"{suppression.name}, and {problem} ({missing:,} suppression members missing there) while "
                "targeting keeps syncing."
            )
        elif aged:
            severity = AlertSeverity.WARNING
            message = (
                f"{sync.destination.name} holds {people(aged)} in {sync.audience.name} who have been in "
                f"{suppression.name} for longer than one cadence of the sync ({ago(grace)}); "
                f"{leaked:,} leaked in all."
            )
        else:
            continue
        alert_raise(
            kind=AlertKind.SUPPRESSION_LEAK,
            subject=subject,
            severity=severity,
            message=message,
            details=details,
            now=now,
        )
        found.add(subject.key(AlertKind.SUPPRESSION_LEAK))
    alert_resolve_missing(AlertKind.SUPPRESSION_LEAK, found, among=examined if scoped else None, now=now)
