"""The demo's journey-state chapter: audiences synced to the analytics, webhook and warehouse destinations.

- Gold VIPs (``vip-gold``) to the analytics sandbox: every tier change is an ``Audience Entered`` /
  ``Audience Exited`` event there (when the audience is live).
- The cart-abandoner pair (suppression first) to the analytics and webhook sandboxes and, when the demo
  runs on PostgreSQL (or ``WAREHOUSE_DEMO_URL`` is set), to the warehouse, whose ``membership_changes``
  table then records every entry and exit with its run.

Called by ``manage.py demo`` after :func:`audience_ops.core.demo_syncs.ensure_demo_syncs`; idempotent, and
each new sync runs once (in this process when the sandbox answers, else on the worker).
"""

from __future__ import annotations

from typing import TextIO
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from audience_ops.audiences.choices import AudienceStatus
from audience_ops.audiences.models import Audience
from audience_ops.core.demo_syncs import DEMO_OPERATOR, DEMO_SYNC_EVERY_MINUTES, ensure_demo_syncs
from audience_ops.core.embedded import port_is_open
from audience_ops.destinations.demo import DEMO_ANALYTICS_NAME, ensure_demo_event_destinations
from audience_ops.syncs.choices import RunTrigger, SyncMode
from audience_ops.syncs.jobs import run_sync_job
from audience_ops.syncs.models import Sync, SyncRun
from audience_ops.syncs.services import sync_create, sync_request_run

VIP_AUDIENCE = "vip-gold"


def ensure_demo_journey_syncs(*, stdout: TextIO, run_now: bool = True) -> list[Sync]:
    """Create the destinations and syncs above; returns every sync (new or existing)."""
    destinations = ensure_demo_event_destinations(stdout=stdout)
    syncs = ensure_demo_syncs(stdout=stdout, destinations=destinations)
    analytics = next((d for d in destinations if d.name == DEMO_ANALYTICS_NAME), None)
    operator = get_user_model().objects.filter(username=DEMO_OPERATOR).first()
    vip = Audience.objects.filter(slug=VIP_AUDIENCE).first()
    if analytics is None or operator is None or vip is None:
        return syncs
    if vip.status != AudienceStatus.LIVE:
        stdout.write(f"  {VIP_AUDIENCE}: not live, not synced to {analytics.name}\n")
        return syncs
    sync = Sync.objects.filter(audience=vip, destination=analytics).first()
    if sync is None:
        try:
            sync = sync_create(
                actor=operator,
                audience=vip,
                destination=analytics,
                mode=SyncMode.MIRROR,
                every_minutes=DEMO_SYNC_EVERY_MINUTES,
            )
        except ValidationError as exc:
            stdout.write(f"  {VIP_AUDIENCE} -> {analytics.name}: not synced ({'; '.join(exc.messages)})\n")
            return syncs
    if run_now and not SyncRun.objects.filter(sync=sync).exists():
        parts = urlsplit(analytics.config.get("host", ""))
        listening = bool(parts.hostname) and port_is_open(parts.hostname, parts.port or 80)
        run = sync_request_run(actor=operator, sync=sync, trigger=RunTrigger.MANUAL, enqueue=not listening)
        if listening:
            summary = run_sync_job(run.pk)
            stdout.write(f"  {sync}: run {summary['run']} {summary['state']}, +{summary['added']}\n")
    return [*syncs, sync]
