"""Signals of the sync engine.

``sync_run_finished`` is sent once a run has ended (succeeded, failed, cancelled or skipped) and the
transaction that recorded the end has committed, with ``run`` (the run as stored). Receivers that react to
a run's outcome (monitoring's alert checks) therefore see what every other reader sees, and a rolled-back
end sends nothing. Receivers must not raise: the engine sends with ``send_robust`` and only logs failures.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

sync_run_finished = Signal()


def announce_run_finished(run_id: int) -> None:
    """Send :data:`sync_run_finished` for run ``run_id`` after the current transaction commits (at once
    outside a transaction)."""

    def send() -> None:
        from .models import SyncRun

        run = SyncRun.objects.select_related("sync").filter(pk=run_id).first()
        if run is None:
            return
        for receiver, response in sync_run_finished.send_robust(sender=SyncRun, run=run):
            if isinstance(response, Exception):
                logger.error("sync_run_finished receiver %r failed for run %s: %r", receiver, run_id, response)

    transaction.on_commit(send)
