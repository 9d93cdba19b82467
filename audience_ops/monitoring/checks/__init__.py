"""Every alert check, one module per family; each computes its condition and reports it to the services.

A check takes ``now`` and optionally the subjects to examine (the hooks after an evaluation or a sync run
pass just those); without subjects it examines everything, so an alert whose subject vanished resolves.
"""

from __future__ import annotations

import datetime as dt

from audience_ops.audiences.models import Audience
from audience_ops.syncs.models import Sync

from .common import paired_suppression
from .failures import check_credentials, check_failing_syncs
from .match_rate import check_match_rates
from .retirement import check_near_retirement
from .size import check_size
from .staleness import check_stale_evaluations, check_stale_syncs
from .suppression import check_suppression_leaks

ALL_CHECKS = (
    check_size,
    check_suppression_leaks,
    check_stale_syncs,
    check_stale_evaluations,
    check_match_rates,
    check_failing_syncs,
    check_credentials,
    check_near_retirement,
)


def for_audience(*, audience: Audience, now: dt.datetime) -> None:
    """After ``audience`` was evaluated: its size and schedule, its retirement date, and the leak checks of
    every sync its membership bears on (its own syncs, and those of targeting audiences it suppresses)."""
    audience.refresh_from_db()
    check_size(now=now, audiences=[audience])
    check_stale_evaluations(now=now, audiences=[audience])
    check_near_retirement(now=now, audiences=[audience])
    syncs = list(Sync.objects.filter(audience=audience).select_related("audience", "destination"))
    targeting = Sync.objects.filter(audience__kind="targeting").exclude(audience=audience)
    for sync in targeting.select_related("audience", "destination"):
        suppression = paired_suppression(sync.audience)
        if suppression is not None and suppression.pk == audience.pk:
            syncs.append(sync)
    check_suppression_leaks(now=now, syncs=syncs)


def for_sync(*, sync: Sync, now: dt.datetime) -> None:
    """After a run of ``sync`` finished: everything a run can change, for that sync and its destination."""
    sync = Sync.objects.select_related("audience", "destination").get(pk=sync.pk)
    partners = [sync]
    if sync.audience.kind == "suppression":
        for other in Sync.objects.filter(destination=sync.destination, audience__kind="targeting").select_related(
            "audience", "destination"
        ):
            suppression = paired_suppression(other.audience)
            if suppression is not None and suppression.pk == sync.audience_id:
                partners.append(other)
    check_suppression_leaks(now=now, syncs=partners)
    check_stale_syncs(now=now, syncs=[sync])
    check_match_rates(now=now, syncs=[sync])
    check_failing_syncs(now=now, syncs=[sync])
    check_credentials(now=now, destinations=[sync.destination])
