"""RQ jobs of the sync engine: one job per run. Jobs take ids, never objects, and call the runner."""

from __future__ import annotations

import os
import socket
from typing import Any

from .models import SyncRun
from .runner import execute_run, run_summary


def worker_label() -> str:
    """host:pid of the process running the job, recorded on the run (which worker held the lease)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def run_sync_job(run_id: int) -> dict[str, Any]:
    """Run (or resume) sync run ``run_id``; the returned summary is what RQ stores as the job result.

    A run deleted since it was enqueued (its sync or audience was deleted) is nothing to do.
    """
    if not SyncRun.objects.filter(pk=run_id).exists():
        return {"run": run_id, "state": "deleted"}
    return run_summary(execute_run(run_id, worker=worker_label()))
