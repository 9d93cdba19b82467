"""Read-only queries behind the sync pages: list rows, a sync's health figures, a run's breakdown.

Kept apart from the engine's modules so the pages never change how runs execute; every function here only
reads. Counts come from the database in a few aggregate queries, never by loading ledgers or plans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, FloatField, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from audience_ops.customers.models import Profile

from .choices import PlanItemState, PlanOp, RunState
from .models import LedgerEntry, RowFailure, Sync, SyncPlanItem, SyncRowError, SyncRun

RECENT_RUNS_FOR_MATCH_RATE = 10


def _ledger_size_subquery() -> Coalesce:
    counts = (
        LedgerEntry.objects.filter(sync=OuterRef("pk"))
        .order_by()
        .values("sync")
        .annotate(total=Count("pk"))
        .values("total")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


def sync_list_rows(*, audience_id: int | None = None, destination_id: int | None = None) -> list[dict[str, Any]]:
    """Every sync with its ledger size, its last real run (not dry runs) and the match rate of its last success."""
    latest_rate = (
        SyncRun.objects.filter(sync=OuterRef("pk"), state=RunState.SUCCEEDED, match_rate__isnull=False)
        .order_by("-finished_at", "-pk")
        .values("match_rate")[:1]
    )
    syncs: QuerySet[Sync] = Sync.objects.select_related("audience", "destination").annotate(
        ledger_size=_ledger_size_subquery(),
        match_rate=Subquery(latest_rate, output_field=FloatField()),
    )
    if audience_id is not None:
        syncs = syncs.filter(audience_id=audience_id)
    if destination_id is not None:
        syncs = syncs.filter(destination_id=destination_id)
    syncs = syncs.order_by("audience__name", "destination__name")
    sync_list = list(syncs)
    last_runs = _last_runs([sync.pk for sync in sync_list])
    return [{"sync": sync, "last_run": last_runs.get(sync.pk)} for sync in sync_list]


def _last_runs(sync_ids: list[int]) -> dict[int, SyncRun]:
    """The latest non-dry run of each sync, in one query."""
    if not sync_ids:
        return {}
    latest = (
        SyncRun.objects.filter(sync=OuterRef("sync_id"), dry_run=False)
        .order_by("-requested_at", "-pk")
        .values("pk")[:1]
    )
    runs = SyncRun.objects.filter(sync_id__in=sync_ids, pk=Subquery(latest))
    return {run.sync_id: run for run in runs}


@dataclass(frozen=True)
class SyncHealth:
    """The figures at the top of a sync page."""

    ledger_size: int
    last_success: SyncRun | None
    last_run: SyncRun | None
    active_run: SyncRun | None
    recent_match_rates: list[float]  # newest first
    average_match_rate: float | None
    given_up_rows: int


def sync_health(*, sync: Sync) -> SyncHealth:
    """Ledger size, last success, the run in progress, and the match rate over recent successful runs."""
    runs = SyncRun.objects.filter(sync=sync, dry_run=False)
    last_success = runs.filter(state=RunState.SUCCEEDED).order_by("-finished_at", "-pk").first()
    last_run = runs.order_by("-requested_at", "-pk").first()
    active_run = runs.filter(state__in=[RunState.QUEUED, RunState.RUNNING]).order_by("requested_at", "pk").first()
    rates = list(
        runs.filter(state=RunState.SUCCEEDED, match_rate__isnull=False)
        .order_by("-finished_at", "-pk")
        .values_list("match_rate", flat=True)[:RECENT_RUNS_FOR_MATCH_RATE]
    )
    return SyncHealth(
        ledger_size=LedgerEntry.objects.filter(sync=sync).count(),
        last_success=last_success,
        last_run=last_run,
        active_run=active_run,
        recent_match_rates=rates,
        average_match_rate=(sum(rates) / len(rates)) if rates else None,
        given_up_rows=RowFailure.objects.filter(sync=sync, gave_up=True).count(),
    )


def sync_runs(*, sync: Sync) -> QuerySet[SyncRun]:
    """A sync's runs, newest first, with who asked for them (for the paginated run history)."""
    return SyncRun.objects.filter(sync=sync).select_related("requested_by").order_by("-requested_at", "-pk")


def run_plan_breakdown(*, run: SyncRun) -> list[dict[str, Any]]:
    """How the stored plan of ``run`` ended: rows per operation and item state (pending, sent, ...)."""
    counts = (
        SyncPlanItem.objects.filter(run=run)
        .order_by()
        .values("op", "state")
        .annotate(total=Count("pk"))
        .values_list("op", "state", "total")
    )
    table: dict[str, dict[str, int]] = {op: {state: 0 for state in PlanItemState.values} for op in PlanOp.values}
    for op, state, total in counts:
        table.setdefault(op, {})[state] = total
    return [
        {
            "op": PlanOp(op).label,
            "states": [(PlanItemState(s).label, n) for s, n in states.items()],
            "total": sum(states.values()),
        }
        for op, states in table.items()
    ]


def run_row_errors(*, run: SyncRun) -> QuerySet[SyncRowError]:
    """Per-row errors of ``run`` in the order they happened (paginated by the run page)."""
    return SyncRowError.objects.filter(run=run).order_by("pk")


def given_up_rows(*, sync: Sync) -> QuerySet[RowFailure]:
    """Rows of ``sync`` given up after repeated consecutive failures: no longer sent until they succeed."""
    return RowFailure.objects.filter(sync=sync, gave_up=True).order_by("-updated_at", "profile_id")


def existing_profile_ids(profile_ids: list[int | None]) -> set[int]:
    """Which of ``profile_ids`` still exist, so pages link only to profiles that can be opened."""
    ids = [pk for pk in profile_ids if pk is not None]
    return set(Profile.objects.filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()


def run_platform_summary(*, run: SyncRun) -> dict[str, Any]:
    """What the platform said about the rows this run sent: received, reported invalid, per-row errors, matched.

    Rows sent = added + removed + rejected rows; the platform's per-batch responses are folded into the
    run's counters by the engine, so this is their sum.
    """
    sent = run.added + run.removed + run.failed_rows
    return {
        "sent": sent,
        "accepted": run.added + run.removed,
        "invalid": run.invalid,
        "failed_rows": run.failed_rows,
        "matched": run.matched,
        "match_rate": run.match_rate,
    }


def run_phase_rows(*, run: SyncRun) -> list[tuple[str, float]]:
    """Seconds per engine phase in the order they happen (plan, prepare, send, ledger)."""
    labels = {
        "plan": "Plan (membership vs ledger)",
        "prepare": "Prepare (normalise and hash)",
        "send": "Send (platform calls)",
        "ledger": "Ledger (record acknowledged rows)",
    }
    phases = run.phase_seconds or {}
    return [(label, float(phases[key])) for key, label in labels.items() if key in phases]
