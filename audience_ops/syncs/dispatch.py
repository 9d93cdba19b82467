"""Putting a run on the ``syncs`` queue: after commit (the outbox), and again by the sweeper when it was lost.

The SyncRun row is the source of truth; Redis only carries the run id. Enqueueing never raises into the
caller: a request that committed while Redis was down is picked up by the sweeper once Redis is back.
"""

from __future__ import annotations

import logging

import django_rq
from django.db import transaction

logger = logging.getLogger(__name__)

SYNC_QUEUE = "syncs"
# A job in these states will still be picked up. "started" is not among them: a run the sweeper hands back
# is queued in the database, so a job of it that RQ still calls started belonged to a worker that died.
PENDING_JOB_STATES = ("queued", "deferred", "scheduled")


def run_job_id(run_id: int) -> str:
    """One RQ job id per run, so re-enqueueing a run never creates a second job for it."""
    return f"sync-run-{run_id}"


def enqueue_run(run_id: int) -> bool:
    """Enqueue the job of run ``run_id`` now unless its job is already waiting or running; False on failure."""
    from .jobs import run_sync_job

    try:
        # "auto": enqueue now. The caller already waited for the commit (or is the sweeper, which must not
        # wait for a transaction of its own), so django-rq's own deferral would only lose the job.
        queue = django_rq.get_queue(SYNC_QUEUE, commit_mode="auto")
        existing = queue.fetch_job(run_job_id(run_id))
        if existing is not None and existing.get_status(refresh=True) in PENDING_JOB_STATES:
            return True
        queue.enqueue(run_sync_job, run_id, job_id=run_job_id(run_id))
    except Exception as exc:  # Redis down: the sweeper enqueues the run later
        logger.warning("sync run %s not enqueued (%s); the sweeper will retry", run_id, exc)
        return False
    return True


def enqueue_run_on_commit(run_id: int) -> None:
    """Enqueue run ``run_id`` once the current transaction commits; a rollback enqueues nothing."""
    transaction.on_commit(lambda: enqueue_run(run_id))
