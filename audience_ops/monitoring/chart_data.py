"""The data behind the monitoring charts, as plain JSON-ready structures for ``json_script``.

Each function returns what one chart *and its table view* show, so the chart (drawn by ``static/js/charts.js``)
and the accessible table can never disagree. Times are UTC and labelled ``YYYY-MM-DD HH:MM``. Every series is
bounded (the newest ``limit`` runs), oldest first, read with a single query.

A run is placed at its ``as_of`` (the membership time it brought the destination to), falling back to when it
finished: for live runs the two are seconds apart, and a simulated or replayed history keeps its own timeline.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from audience_ops.audiences.models import Audience
from audience_ops.syncs.choices import RunState
from audience_ops.syncs.models import Sync, SyncRun

RUN_POINTS = 60


def _label(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


def audience_match_rate_series(*, audience: Audience, limit: int = RUN_POINTS) -> dict[str, Any]:
    """Match rate per destination over time for one audience: ``{"labels": [...], "series": [...]}``.

    One series per sync (named after its destination) with a value (0..1) or None per label, so runs of
    different destinations at different times share one time axis. Only successful runs with a rate count.
    """
    syncs = {
        sync.pk: sync.destination.name for sync in Sync.objects.filter(audience=audience).select_related("destination")
    }
    runs = list(
        SyncRun.objects.filter(
            sync__audience=audience,
            dry_run=False,
            state=RunState.SUCCEEDED,
            match_rate__isnull=False,
            finished_at__isnull=False,
        )
        .order_by("-finished_at", "-pk")
        .values_list("sync_id", "as_of", "finished_at", "match_rate")[: limit * max(1, len(syncs))]
    )
    runs.sort(key=lambda run: run[1] or run[2])
    labels: list[str] = []
    values: dict[int, dict[str, float]] = {sync_id: {} for sync_id in syncs}
    for sync_id, as_of, finished_at, rate in runs:
        label = _label(as_of or finished_at)
        if not labels or labels[-1] != label:
            labels.append(label)
        values.setdefault(sync_id, {})[label] = round(rate, 4)
    series = [
        {"label": name, "values": [values[sync_id].get(label) for label in labels]}
        for sync_id, name in sorted(syncs.items(), key=lambda item: item[1].lower())
        if values.get(sync_id)
    ]
    return {"labels": labels, "series": series}


def sync_run_points(*, sync: Sync, limit: int = RUN_POINTS) -> list[dict[str, Any]]:
    """The newest ``limit`` finished real runs of a sync, oldest first: volume, duration and match rate each.

    ``label``/``at`` are the run's time (see the module docstring); ``duration`` is seconds from start to
    finish; ``match_rate`` is None for failed runs or runs without one.
    """
    runs = list(
        SyncRun.objects.filter(
            sync=sync,
            dry_run=False,
            state__in=[RunState.SUCCEEDED, RunState.FAILED],
            finished_at__isnull=False,
        )
        .order_by("-finished_at", "-pk")
        .values(
            "pk",
            "state",
            "as_of",
            "started_at",
            "finished_at",
            "added",
            "removed",
            "unmatchable",
            "invalid",
            "failed_rows",
            "match_rate",
        )[:limit]
    )
    runs.sort(key=lambda run: run["as_of"] or run["finished_at"])
    return [
        {
            "run": run["pk"],
            "label": _label(run["as_of"] or run["finished_at"]),
            "at": (run["as_of"] or run["finished_at"]).astimezone(dt.UTC).isoformat(),
            "state": run["state"],
            "duration": round((run["finished_at"] - run["started_at"]).total_seconds(), 3)
            if run["started_at"]
            else None,
            "added": run["added"],
            "removed": run["removed"],
            "unmatchable": run["unmatchable"],
            "invalid": run["invalid"],
            "failed": run["failed_rows"],
            "match_rate": round(run["match_rate"], 4) if run["match_rate"] is not None else None,
        }
        for run in runs
    ]


def match_rate_from_runs(points: list[dict[str, Any]], *, label: str) -> dict[str, Any]:
    """The sync's run points as a one-series match-rate chart (successful runs with a rate only)."""
    rated = [point for point in points if point["match_rate"] is not None]
    return {
        "labels": [point["label"] for point in rated],
        "series": [{"label": label, "values": [point["match_rate"] for point in rated]}] if rated else [],
    }


def match_rate_table(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows for the table view of a match-rate chart: one per label with a value (or None) per series."""
    return [
        {"label": label, "values": [series["values"][index] for series in data["series"]]}
        for index, label in enumerate(data["labels"])
    ]
