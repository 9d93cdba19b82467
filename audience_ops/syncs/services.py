"""Sync services: create and configure syncs (with the rules that keep suppression honest), request runs.

Views, the ``syncs`` command, the scheduler and the retire hook all call these. Every write checks the actor's
permission and records an audit event in its own transaction. Running a sync is in :mod:`.runner`.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audience_ops.accounts.roles import ensure_permission
from audience_ops.audiences.choices import AudienceKind, AudienceObjective, AudienceStatus
from audience_ops.audiences.models import Audience, AudienceVersion
from audience_ops.audit.services import audit_record, model_snapshot
from audience_ops.destinations.adapters.base import Capabilities, ConfigError
from audience_ops.destinations.models import Destination
from audience_ops.destinations.registry import adapter_for

from .cadence import cron_is_valid, next_run_after
from .choices import RunState, RunTrigger, SyncMode
from .dispatch import enqueue_run_on_commit
from .models import Sync, SyncRun
from .plans import PlanPreview, plan_preview

SYNC_FIELDS = ("audience", "destination", "mode", "every_minutes", "cron", "enabled", "remote_audience_id")


def destination_capabilities(destination: Destination) -> Capabilities:
    """The capabilities of ``destination`` as configured; a ValidationError when its config is invalid."""
    try:
        return adapter_for(destination).capabilities
    except (ConfigError, KeyError) as exc:
        raise ValidationError({"destination": f"{destination.name}: {exc}"}) from exc


def sync_create(
    *,
    actor: AbstractBaseUser | None,
    audience: Audience,
    destination: Destination,
    mode: str = SyncMode.MIRROR,
    every_minutes: int | None = None,
    cron: str = "",
    enabled: bool = True,
    actor_label: str = "",
) -> Sync:
    """Create the sync of ``audience`` to ``destination``; enabled at once unless ``enabled=False``.

    Refused (ValidationError) when the pair already has a sync, the mode or audience kind does not fit the
    destination, the cadence is invalid, or (when enabling) the audience may not be synced yet.
    """
    ensure_permission(actor, "syncs.add_sync")
    sync = Sync(
        audience=audience,
        destination=destination,
        mode=mode,
        every_minutes=every_minutes or None,
        cron=(cron or "").strip(),
        enabled=enabled,
        created_by=actor,
    )
    with transaction.atomic():
        if Sync.objects.filter(audience=audience, destination=destination).exists():
            raise ValidationError({"destination": f"{audience.slug} already has a sync to {destination.name}."})
        _validate(sync)
        now = timezone.now()
        sync.created_at = sync.updated_at = now
        sync.next_run_at = _next_run(sync, now)
        sync.save()
        audit_record(
            actor=actor,
            action="sync.create",
            obj=sync,
            after=model_snapshot(sync, SYNC_FIELDS),
            actor_label=actor_label,
        )
    return sync


def sync_update(
    *,
    actor: AbstractBaseUser | None,
    sync: Sync,
    mode: str | None = None,
    every_minutes: int | None = None,
    cron: str | None = None,
    actor_label: str = "",
) -> Sync:
    """Change the mode and/or cadence. Passing ``every_minutes`` clears ``cron`` and vice versa; passing
    ``every_minutes=None`` and ``cron=""`` together makes the sync manual."""
    ensure_permission(actor, "syncs.change_sync")
    with transaction.atomic():
        sync = Sync.objects.select_for_update().select_related("audience", "destination").get(pk=sync.pk)
        before = model_snapshot(sync, SYNC_FIELDS)
        if mode is not None:
            sync.mode = mode
        if every_minutes is not None:
            sync.every_minutes, sync.cron = every_minutes or None, ""
        elif cron is not None:
            sync.every_minutes, sync.cron = None, cron.strip()
        _validate(sync)
        now = timezone.now()
        sync.updated_at = now
        sync.next_run_at = _next_run(sync, now)
        sync.save()
        audit_record(
            actor=actor,
            action="sync.update",
            obj=sync,
            before=before,
            after=model_snapshot(sync, SYNC_FIELDS),
            actor_label=actor_label,
        )
    return sync


def sync_set_enabled(
    *, actor: AbstractBaseUser | None, sync: Sync, enabled: bool, reason: str = "", actor_label: str = ""
) -> Sync:
    """Resume (enable) or pause a sync. Enabling checks the audience may be synced (see :func:`sync_blockers`)."""
    ensure_permission(actor, "syncs.change_sync")
    with transaction.atomic():
        sync = Sync.objects.select_for_update().select_related("audience", "destination").get(pk=sync.pk)
        if sync.enabled == enabled:
            return sync
        before = model_snapshot(sync, SYNC_FIELDS)
        sync.enabled = enabled
        _validate(sync)
        now = timezone.now()
        sync.updated_at = now
        sync.next_run_at = _next_run(sync, now)
        sync.save(update_fields=["enabled", "updated_at", "next_run_at"])
        audit_record(
            actor=actor,
            action="sync.enable" if enabled else "sync.pause",
            obj=sync,
            before=before,
            after=model_snapshot(sync, SYNC_FIELDS),
            reason=reason,
            actor_label=actor_label,
        )
    return sync


def sync_request_run(
    *,
    actor: AbstractBaseUser | None,
    sync: Sync,
    trigger: str = RunTrigger.MANUAL,
    as_of: dt.datetime | None = None,
    dry_run: bool = False,
    enqueue: bool = True,
    actor_label: str = "",
) -> SyncRun:
    """Record a queued run of ``sync`` in the caller's transaction and enqueue its job after commit.

    This is an outbox: the run row and the request commit together, the job is enqueued only once they
    have, and a rolled-back request enqueues nothing. ``enqueue=False`` leaves the run for a caller that
    runs it itself (the ``syncs run`` command). ``as_of`` defaults to the time the run starts. A paused sync
    only takes dry runs and the final removal run of a retired audience.
    """
    ensure_permission(actor, "syncs.run_sync")
    if not sync.enabled and not dry_run and trigger != RunTrigger.RETIRE:
        raise ValidationError({"enabled": f"{sync} is paused; resume it to run it (a dry run is allowed)."})
    if as_of is not None and timezone.is_naive(as_of):
        raise ValidationError({"as_of": "as_of must be timezone-aware"})
    with transaction.atomic():
        run = SyncRun.objects.create(
            sync=sync,
            state=RunState.QUEUED,
            trigger=trigger,
            dry_run=dry_run,
            requested_by=actor,
            requested_at=timezone.now(),
            as_of=as_of,
        )
        audit_record(
            actor=actor,
            action="sync.run_requested",
            obj=sync,
            after={"run": run.pk, "trigger": trigger, "dry_run": dry_run, "as_of": as_of},
            actor_label=actor_label,
        )
        if enqueue:
            enqueue_run_on_commit(run.pk)
    return run


def sync_blockers(sync: Sync) -> list[str]:
    """Why ``sync`` may not be enabled now (empty when it may), in words shown to the user.

    A targeting ads audience is only synced when it is live and its paired suppression is live and synced
    (an enabled sync) to the same destination: otherwise people who just bought would keep seeing the ad.
    """
    audience = sync.audience
    problems = []
    if audience.status == AudienceStatus.RETIRED:
        problems.append(f"{audience.name} is retired.")
    if not sync.destination.enabled:
        problems.append(f"The destination {sync.destination.name} is disabled.")
    if audience.kind == AudienceKind.TARGETING and audience.objective == AudienceObjective.ADS:
        if audience.status != AudienceStatus.LIVE:
            problems.append(f"{audience.name} is not live (it is {audience.get_status_display().lower()}).")
        suppression_slug = _paired_suppression(audience)
        if suppression_slug:
            suppression = Audience.objects.filter(slug=suppression_slug).first()
            if suppression is None or suppression.status != AudienceStatus.LIVE:
                problems.append(f'Its paired suppression "{suppression_slug}" is not live.')
            elif not Sync.objects.filter(audience=suppression, destination=sync.destination, enabled=True).exists():
                problems.append(
                    f'Its paired suppression "{suppression_slug}" is not synced to {sync.destination.name}; '
                    "sync the suppression first."
                )
    return problems


def sync_plan_preview(*, sync: Sync, as_of: dt.datetime | None = None, sample: int = 10) -> PlanPreview:
    """The exact plan a run at ``as_of`` (default now) would store: +adds / -removes with samples, and how
    many adds have none of the destination's identifiers. Read-only: nothing is written or sent."""
    as_of = as_of or timezone.now()
    capabilities = destination_capabilities(sync.destination)
    return plan_preview(sync, as_of, identifier_types=capabilities.identifier_types, sample=sample)


# --- helpers -----------------------------------------------------------------------------------------------


def _validate(sync: Sync) -> None:
    """The rules a sync must satisfy whatever it is doing; enabling adds :func:`sync_blockers`."""
    errors: dict[str, list[str]] = {}
    if sync.mode not in SyncMode.values:
        errors.setdefault("mode", []).append(f'"{sync.mode}" is not a sync mode (mirror or add_only).')
    if sync.every_minutes is not None and sync.every_minutes < 1:
        errors.setdefault("every_minutes", []).append("Run at least every minute (a positive number).")
    if sync.every_minutes and sync.cron:
        errors.setdefault("cron", []).append("Choose an interval or a cron expression, not both.")
    if sync.cron and not cron_is_valid(sync.cron):
        errors.setdefault("cron", []).append(f'"{sync.cron}" is not a five-field cron expression.')
    capabilities = destination_capabilities(sync.destination)
    if not capabilities.supports_removal:
        if sync.mode == SyncMode.MIRROR:
            errors.setdefault("mode", []).append(
                f"{sync.destination.name} cannot remove people, so it cannot mirror an audience; use add only."
            )
        if sync.audience.kind == AudienceKind.SUPPRESSION:
            errors.setdefault("audience", []).append(
                f"{sync.destination.name} cannot remove people: a suppression audience there would keep "
                "suppressing everyone who ever entered it (people who leave it could never see ads again), "
                "so suppression audiences cannot be synced to it."
            )
    if sync.enabled:
        blockers = sync_blockers(sync)
        if blockers:
            errors.setdefault("enabled", []).append("This sync cannot be enabled: " + " ".join(blockers))
    if errors:
        raise ValidationError(errors)


def _paired_suppression(audience: Audience) -> str | None:
    """The paired suppression slug of the version destinations receive (live, else latest)."""
    version_id = audience.live_version_id
    query = AudienceVersion.objects.filter(audience=audience)
    version = query.filter(pk=version_id).first() if version_id else query.order_by("-number").first()
    return version.paired_suppression if version else None


def _next_run(sync: Sync, now: dt.datetime) -> dt.datetime | None:
    if not sync.enabled:
        return None
    return next_run_after(every_minutes=sync.every_minutes, cron=sync.cron, after=now)
