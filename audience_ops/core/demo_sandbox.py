"""The demo's answer to a sandbox that forgot everything: its syncs forget what they sent there too.

The sandbox keeps its state in memory. When ``manage.py demo`` restarts on a database whose syncs already
sent to the sandbox, the new sandbox process knows none of the audiences they created, so every run would
fail ("no such audience"). Before serving, the demo therefore resets the syncs whose destination points at
the sandbox it has just started: their ledger (what the platform holds) is emptied and their remote
audience id cleared, each in one transaction with an audit event, so the next scheduled run creates the
audience again and sends every current member. Only sandbox destinations are touched, and only when the
demo itself started the sandbox afresh (a sandbox that was already running still holds its state).
"""

from __future__ import annotations

from typing import TextIO

from django.conf import settings
from django.db import transaction

from audience_ops.audit.services import audit_record
from audience_ops.destinations.models import Destination
from audience_ops.syncs.models import LedgerEntry, RowFailure, Sync


def sandbox_destinations() -> list[Destination]:
    """Destinations whose configured URLs point at ``SANDBOX_BASE_URL``."""
    base = settings.SANDBOX_BASE_URL.rstrip("/")
    return [
        destination
        for destination in Destination.objects.all()
        if any(isinstance(value, str) and value.startswith(base) for value in (destination.config or {}).values())
    ]


def forget_sandbox_state(*, stdout: TextIO) -> int:
    """Reset every sync to a sandbox destination that holds something (see the module docstring).

    Returns how many syncs were reset.
    """
    destinations = sandbox_destinations()
    reset = 0
    for sync in Sync.objects.filter(destination__in=destinations).select_related("audience", "destination"):
        with transaction.atomic():
            held = LedgerEntry.objects.filter(sync=sync).count()
            if not held and not sync.remote_audience_id:
                continue
            LedgerEntry.objects.filter(sync=sync).delete()
            RowFailure.objects.filter(sync=sync).delete()
            before = {"remote_audience_id": sync.remote_audience_id, "held": held}
            Sync.objects.filter(pk=sync.pk).update(remote_audience_id="")
            audit_record(
                actor=None,
                action="sync.sandbox_reset",
                obj=sync,
                before=before,
                after={"remote_audience_id": "", "held": 0},
                reason="The demo started a new, empty sandbox; the next run sends every member again.",
                actor_label="demo",
            )
        reset += 1
    if reset:
        stdout.write(f"  The sandbox restarted empty: {reset} syncs to it will send their audiences again\n")
    return reset
