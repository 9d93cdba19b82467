"""Chapter 4 of the demo story: the cart-abandoner pair goes to the Meta sandbox, mirrored every 15 minutes.

Called by ``manage.py demo`` once the audiences are live and the sandbox listens. Omar (ops) creates the
suppression's sync first (a targeting ads audience is only synced once its paired suppression is synced to
the same destination), then the targeting audience's, and runs each once. The runs go through the job's own
code path (``run_sync_job``) in this process, so the UI shows real runs with real match rates (the sandbox
computes them from the hashes it receives) as soon as the demo is up, without waiting for the worker. From
then on the scheduler runs them every 15 minutes.

Idempotent: an existing sync is left as it is, and a sync that already has a run is not run again here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError

from audience_ops.audiences.choices import AudienceStatus
from audience_ops.audiences.models import Audience
from audience_ops.core.embedded import port_is_open
from audience_ops.destinations.demo import ensure_demo_destination
from audience_ops.destinations.models import Destination
from audience_ops.syncs.choices import RunTrigger, SyncMode
from audience_ops.syncs.jobs import run_sync_job
from audience_ops.syncs.models import Sync, SyncRun
from audience_ops.syncs.services import sync_create, sync_request_run

# Synced in this order: the paired suppression before the targeting audience it protects.
DEMO_SYNCED_AUDIENCES = ("purchased-24h", "cart-abandoners-3d")
DEMO_SYNC_EVERY_MINUTES = 15
DEMO_OPERATOR = "omar"


def ensure_demo_syncs(
    *,
    stdout: TextIO,
    destinations: Sequence[Destination] | None = None,
    every_minutes: int = DEMO_SYNC_EVERY_MINUTES,
) -> list[Sync]:
    """Create the demo's mirror syncs (default: to the Meta sandbox) and run each new one once; returns them.

    Pass ``destinations`` to sync the pair to more sandboxes (for example Meta and TikTok, whose match rates
    differ by identifier). When a sandbox does not answer (the demo was prepared with ``--no-serve``), the
    first runs are only requested: the worker runs them once the demo serves (the sweeper re-enqueues
    requests nobody ran).
    """
    operator = get_user_model().objects.filter(username=DEMO_OPERATOR).first()
    if operator is None:
        stdout.write("  (demo user omar missing: no syncs created)\n")
        return []
    syncs: list[Sync] = []
    for destination in destinations or [ensure_demo_destination(stdout=stdout)]:
        syncs += _ensure_pair_synced(
            stdout=stdout, operator=operator, destination=destination, every_minutes=every_minutes
        )
    return syncs


def _ensure_pair_synced(
    *, stdout: TextIO, operator: AbstractBaseUser, destination: Destination, every_minutes: int
) -> list[Sync]:
    """The suppression, then the targeting audience, mirrored to ``destination``; new syncs run once."""
    syncs: list[Sync] = []
    for slug in DEMO_SYNCED_AUDIENCES:
        audience = Audience.objects.filter(slug=slug).first()
        if audience is None or audience.status != AudienceStatus.LIVE:
            stdout.write(f"  {slug}: not live, not synced\n")
            continue
        sync = Sync.objects.filter(audience=audience, destination=destination).first()
        if sync is None:
            try:
                sync = sync_create(
                    actor=operator,
                    audience=audience,
                    destination=destination,
                    mode=SyncMode.MIRROR,
                    every_minutes=every_minutes,
                )
            except ValidationError as exc:
                stdout.write(f"  {slug} -> {destination.name}: not synced ({'; '.join(exc.messages)})\n")
                continue
        syncs.append(sync)
    sandbox_up = _sandbox_listens(destination)
    for sync in syncs:
        if SyncRun.objects.filter(sync=sync).exists():
            continue
        run = sync_request_run(actor=operator, sync=sync, trigger=RunTrigger.MANUAL, enqueue=not sandbox_up)
        if not sandbox_up:
            stdout.write(f"  {sync}: first run requested (the worker runs it once the sandbox is up)\n")
            continue
        summary = run_sync_job(run.pk)
        rate = f"{summary['match_rate']:.0%}" if summary["match_rate"] is not None else "n/a"
        stdout.write(
            f"  {sync}: run {summary['run']} {summary['state']}, +{summary['added']} / -{summary['removed']}, "
            f"{summary['unmatchable']} unmatchable, match rate {rate}\n"
        )
    return syncs


def _sandbox_listens(destination: Destination) -> bool:
    """True when the destination's base URL is a local port that accepts connections."""
    config = destination.config
    parts = urlsplit(config.get("base_url") or config.get("host") or config.get("url") or "")
    return bool(parts.hostname) and port_is_open(parts.hostname, parts.port or 80)
