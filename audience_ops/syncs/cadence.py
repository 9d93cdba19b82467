"""When a sync runs next: every N minutes, a cron expression (UTC), or never (manual)."""

from __future__ import annotations

import datetime as dt

from croniter import croniter


def cron_is_valid(expression: str) -> bool:
    """True for a five-field cron expression croniter understands."""
    return len(expression.split()) == 5 and croniter.is_valid(expression)


def next_run_after(*, every_minutes: int | None, cron: str, after: dt.datetime) -> dt.datetime | None:
    """The first scheduled time strictly after ``after``; None for a manual sync."""
    if every_minutes:
        return after + dt.timedelta(minutes=every_minutes)
    if cron:
        return croniter(cron, after.astimezone(dt.UTC)).get_next(dt.datetime)
    return None
