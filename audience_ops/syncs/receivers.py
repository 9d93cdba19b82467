"""Reacting to the audience lifecycle: a paused or retired audience stops feeding its destinations.

Retired: every sync of the audience is disabled and, per destination as the admin chose, a final run removes
its members or deletes the remote audience (see :mod:`.retirement`). Paused: its syncs are paused (resuming the
audience does not resume them; ops do, so nothing restarts by surprise).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from audience_ops.audiences.choices import AudienceStatus
from audience_ops.audiences.models import Audience
from audience_ops.audiences.signals import audience_status_changed
from audience_ops.audit.services import audit_record

from .choices import RunTrigger, SyncMode
from .models import Sync
from .retirement import syncs_retire
from .services import sync_request_run

logger = logging.getLogger(__name__)


@receiver(audience_status_changed, sender=Audience, dispatch_uid="syncs.audience_status_changed")
def on_audience_status_changed(
    sender: Any,
    *,
    audience: Audience,
    before: str,
    after: str,
    actor: Any = None,
    sync_actions: Mapping[int, str] | None = None,
    **_,
) -> None:
    if after == AudienceStatus.RETIRED:
        # Per sync: remove the members (default), delete the remote audience, or keep it (see .retirement).
        syncs_retire(audience=audience, actions=sync_actions)
    elif after == AudienceStatus.PAUSED:
        syncs_wind_down(audience=audience, remove_everyone=False)


def syncs_wind_down(*, audience: Audience, remove_everyone: bool) -> list[int]:
    """Disable every sync of ``audience``; with ``remove_everyone``, request a final removal run for each
    mirror sync (the system acts: no user permission is needed to stop feeding a retired audience).
    Returns the ids of the final runs requested."""
    runs = []
    reason = "audience retired" if remove_everyone else "audience paused"
    with transaction.atomic():
        for sync in Sync.objects.select_for_update().filter(audience=audience):
            if sync.enabled:
                sync.enabled = False
                sync.next_run_at = None
                sync.updated_at = timezone.now()
                sync.save(update_fields=["enabled", "next_run_at", "updated_at"])
                audit_record(
                    actor=None,
                    action="sync.pause",
                    obj=sync,
                    before={"enabled": True},
                    after={"enabled": False},
                    reason=reason,
                )
            if remove_everyone and sync.mode == SyncMode.MIRROR:
                runs.append(sync_request_run(actor=None, sync=sync, trigger=RunTrigger.RETIRE, actor_label="system").pk)
    return runs
