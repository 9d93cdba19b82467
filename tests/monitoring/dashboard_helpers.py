"""Helpers for the dashboard, chart and coverage tests: live audiences with a real evaluation history and syncs
run through the sync engine against the fake destination."""

from __future__ import annotations

import datetime as dt

from audience_ops.audiences.models import Audience
from audience_ops.audiences.services import audience_evaluate
from audience_ops.customers.models import Profile
from audience_ops.syncs.models import Sync, SyncRun
from audience_ops.syncs.runner import execute_run
from audience_ops.syncs.services import sync_request_run
from tests.audiences.helpers import audience_dict, create_audiences
from tests.syncs.helpers import NOW, make_members

DAY = dt.timedelta(days=1)


def live_member_audience(slug: str, **extra) -> Audience:
    """An analytics audience of profiles whose ``seg`` trait equals the slug, made live for the test."""
    (audience,) = create_audiences(audience_dict(slug, {"attribute": "seg", "op": "eq", "value": slug}, **extra))
    Audience.objects.filter(pk=audience.pk).update(status="live", live_version=audience.versions.first())
    audience.refresh_from_db()
    return audience


def add_members(audience: Audience, count: int, *, start: int, email: bool = True) -> list[Profile]:
    return make_members(count, start=start, email=email, seg=audience.slug)


def evaluate_days(audience: Audience, sizes: list[int], *, start: dt.datetime, first_id: int = 0) -> None:
    """Grow the audience to each size in turn and evaluate it once a day from ``start`` (real evaluations)."""
    current = Profile.objects.filter(traits__seg=audience.slug).count()
    next_id = first_id + current
    for day, size in enumerate(sizes):
        if size > current:
            add_members(audience, size - current, start=next_id)
            next_id += size - current
            current = size
        audience_evaluate(audience=audience, now=start + day * DAY)


def run_sync(sync: Sync, *, as_of: dt.datetime = NOW) -> SyncRun:
    """Request and execute one real run of ``sync`` in the foreground, as the ``syncs run`` command does."""
    run = sync_request_run(actor=None, sync=sync, as_of=as_of, enqueue=False)
    return execute_run(run.pk)
