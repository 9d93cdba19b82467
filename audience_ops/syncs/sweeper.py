"""Periodic jobs that keep runs moving: the sweeper (lost requests, dead workers) and the scheduler (cadence).

RQ alone is not the source of truth: a run whose enqueue failed (Redis down at commit) or whose worker died
is found here from the SyncRun rows, every minute (``audience_ops/cron.py``).
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone

from .cadence import next_run_after
from .choices import ACTIVE_RUN_STATES, RunState, RunTrigger
from .conf import setting
from .dispatch import enqueue_run
from .models import Sync, SyncRun
from .services import sync_request_run
from .signals import announce_run_finished

logger = logging.getLogger(__name__)


def sweep_runs(*, now: dt.datetime | None = None) -> dict[str, list[int]]:
    """Re-enqueue queued runs nobody picked up, and recover running runs whose lease expired.

    Recovery resumes the same run (it continues from its pending plan items) up to
    ``SYNC_MAX_RUN_ATTEMPTS`` pick-ups; after that the run is failed ("worker lost") and the next scheduled
    or manual run plans again from the ledger. Returns the ids per action.
    """
    now = now or timezone.now()
    requeued, resumed, failed = [], [], []
    stale = now - dt.timedelta(seconds=setting("SYNC_REQUEUE_AFTER_SECONDS"))
    for run_id in SyncRun.objects.filter(state=RunState.QUEUED, requested_at__lte=stale).values_list("pk", flat=True):
        if enqueue_run(run_id):
            requeued.append(run_id)
    expired = SyncRun.objects.filter(state=RunState.RUNNING, lease_expires_at__lt=now).values_list("pk", flat=True)
    for run_id in list(expired):
        with transaction.atomic():
            run = SyncRun.objects.select_for_update().filter(pk=run_id, state=RunState.RUNNING).first()
            if run is None or run.lease_expires_at is None or run.lease_expires_at >= now:
                continue
            run.lease_expires_at = None
            if run.attempts >= setting("SYNC_MAX_RUN_ATTEMPTS"):
                run.state = RunState.FAILED
                run.finished_at = now
                run.error = f"Worker lost {run.attempts} times (lease expired); the next run sends what is missing."
                failed.append(run.pk)
                announce_run_finished(run.pk)
            else:
                # Back to queued: the lease is given up, so the resumed claim (attempts + 1) owns the run.
                run.state = RunState.QUEUED
                resumed.append(run.pk)
            run.save(update_fields=["state", "finished_at", "lease_expires_at", "error"])
    for run_id in resumed:
        enqueue_run(run_id)
    if requeued or resumed or failed:
        logger.info("sync sweeper: requeued %s, resumed %s, failed %s", requeued, resumed, failed)
    return {"requeued": requeued, "resumed": resumed, "failed": failed}


def schedule_due_syncs(*, now: dt.datetime | None = None) -> list[int]:
    """Request a run for every enabled sync whose ``next_run_at`` has come, and compute its next time.

    A sync that still has a queued or running run is not requested again (its next time still advances),
    so a slow destination does not pile up skipped runs. Returns the ids of the runs requested.
    """
    now = now or timezone.now()
    requested = []
    due = Sync.objects.filter(enabled=True, next_run_at__lte=now).values_list("pk", flat=True)
    for sync_id in list(due):
        with transaction.atomic():
            sync = Sync.objects.select_for_update().filter(pk=sync_id, enabled=True, next_run_at__lte=now).first()
            if sync is None:
                continue
            sync.next_run_at = next_run_after(every_minutes=sync.every_minutes, cron=sync.cron, after=now)
            sync.save(update_fields=["next_run_at"])
            if SyncRun.objects.filter(sync=sync, state__in=ACTIVE_RUN_STATES).exists():
                continue
            run = sync_request_run(actor=None, sync=sync, trigger=RunTrigger.SCHEDULE, actor_label="schedule")
            requested.append(run.pk)
    return requested
