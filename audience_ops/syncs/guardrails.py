"""The large-change guardrail: a run whose stored plan would change the destination too much waits for ops.

Most audience disasters are a sync that "succeeded": a broken definition empties the audience and the next
run removes everyone from the ad platform, or a join fans out and the audience triples. So, after a run has
stored its plan and before it sends anything, the plan is compared with the ledger (what the destination
holds). When it would remove more than ``max_remove_percent`` or add more than ``max_add_percent`` of that,
the run stops in ``awaiting_approval``, a ``large_change`` alert is raised (which notifies the owner and
ops), and nothing is sent until an ops user approves (the run resumes from exactly its stored plan) or
cancels it (nothing is ever sent). Small changes (fewer than ``guardrail_min_rows`` people) never trip the
percentages; a plan that removes *everyone* the destination holds is held whatever its size, so an empty
audience never wipes a destination without a human saying so.

The retirement run of a retired audience is an explicit admin decision and is never held (see
:mod:`.retirement`); dry runs send nothing and are never held either.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audience_ops.accounts.roles import ensure_permission
from audience_ops.audit.services import audit_record
from audience_ops.monitoring.choices import AlertKind, AlertSeverity
from audience_ops.monitoring.services import Subject, alert_clear, alert_raise

from .choices import PlanItemState, PlanOp, RunState, RunTrigger
from .conf import setting
from .dispatch import enqueue_run_on_commit
from .models import LedgerEntry, Sync, SyncPlanItem, SyncRun
from .signals import announce_run_finished

if TYPE_CHECKING:
    from .runner import RunExecution

PLAN_SAMPLE_SIZE = 10
GUARDRAIL_FIELDS = ("max_remove_percent", "max_add_percent", "guardrail_min_rows")


@dataclass(frozen=True)
class Thresholds:
    max_remove_percent: int
    max_add_percent: int
    min_rows: int


@dataclass(frozen=True)
class LargeChange:
    """Why a plan is a large change, with the figures the alert and the run page show."""

    reason: str
    held: int  # people the destination holds (the ledger) before the run
    adds: int
    removes: int
    wipes: bool  # the plan removes everyone the destination holds


def thresholds_for(sync: Sync) -> Thresholds:
    """The sync's own limits, each falling back to the site default when empty."""

    def pick(value: int | None, name: str) -> int:
        return int(setting(name) if value is None else value)

    return Thresholds(
        max_remove_percent=pick(sync.max_remove_percent, "SYNC_GUARDRAIL_MAX_REMOVE_PERCENT"),
        max_add_percent=pick(sync.max_add_percent, "SYNC_GUARDRAIL_MAX_ADD_PERCENT"),
        min_rows=pick(sync.guardrail_min_rows, "SYNC_GUARDRAIL_MIN_ROWS"),
    )


def large_change(*, sync: Sync, held: int, adds: int, removes: int) -> LargeChange | None:
    """Whether a plan of ``adds``/``removes`` against ``held`` people is too large to send unattended.

    Adds are only judged against a destination that already holds people: the first load of a sync has
    nothing to compare with and is the change everyone asked for.
    """
    limits = thresholds_for(sync)
    name = sync.destination.name

    def figures(reason: str, *, wipes: bool = False) -> LargeChange:
        return LargeChange(reason=reason, held=held, adds=adds, removes=removes, wipes=wipes)

    if held and removes >= held:
        return figures(
            f"It would remove everyone {name} holds ({held:,} people), as if the audience were empty.",
            wipes=True,
        )
    if removes >= limits.min_rows and removes * 100 > limits.max_remove_percent * held:
        share = removes * 100 / held
        return figures(
            f"It would remove {removes:,} of the {held:,} people {name} holds ({share:.0f}%; "
            f"the limit is {limits.max_remove_percent}%)."
        )
    if held and adds >= limits.min_rows and adds * 100 > limits.max_add_percent * held:
        share = adds * 100 / held
        return figures(
            f"It would add {adds:,} people to the {held:,} {name} holds ({share:.0f}%; "
            f"the limit is {limits.max_add_percent}%)."
        )
    return None


# --- the runner's hook ----------------------------------------------------------------------------------------


def before_send(execution: RunExecution) -> bool:
    """Called by the runner once the plan is stored and before anything is sent. True means the run was
    dealt with here (held for approval, or finished by retirement) and the runner stops."""
    run = execution.run
    if run.dry_run:
        return False
    if run.trigger == RunTrigger.RETIRE:
        from .retirement import retirement_before_send

        return retirement_before_send(execution)
    if run.large_change_approved or _sending_started(run):
        return False
    held = LedgerEntry.objects.filter(sync_id=run.sync_id).count()
    change = large_change(sync=execution.sync, held=held, adds=run.planned_adds, removes=run.planned_removes)
    if change is None:
        return False
    hold_run(execution, change)
    return True


def held_run_blocking(run: SyncRun) -> str:
    """Why ``run`` may not start because another run of its sync waits for approval ("" when it may).

    A newer run would plan the same large change again; ops decide on the held one first. Dry runs and the
    retirement run are never blocked.
    """
    if run.dry_run or run.trigger == RunTrigger.RETIRE:
        return ""
    held = (
        SyncRun.objects.filter(sync_id=run.sync_id, state=RunState.AWAITING_APPROVAL)
        .exclude(pk=run.pk)
        .order_by("pk")
        .first()
    )
    if held is None:
        return ""
    return f"Run {held.pk} of this sync is waiting for ops to approve a large change; approve or cancel it first."


def hold_run(execution: RunExecution, change: LargeChange) -> None:
    """Move the claimed run to ``awaiting_approval`` (giving up its lease) and raise the alert, together."""
    from .runner import LeaseLost

    run, sync = execution.run, execution.sync
    with transaction.atomic():
        held = SyncRun.objects.filter(pk=run.pk, state=RunState.RUNNING, attempts=run.attempts).update(
            state=RunState.AWAITING_APPROVAL,
            lease_expires_at=None,
            hold_reason=change.reason,
            phase_seconds=execution.phases,
        )
        if not held:
            raise LeaseLost(run.pk)
        audit_record(
            actor=None,
            action="sync.run_held",
            obj=sync,
            after={"run": run.pk, "held": change.held, "adds": change.adds, "removes": change.removes},
            reason=change.reason,
        )
        alert_raise(
            kind=AlertKind.LARGE_CHANGE,
            subject=Subject.for_sync(sync),
            message=f"Run #{run.pk} of {sync.audience.name} -> {sync.destination.name} is waiting for approval. "
            + change.reason,
            severity=AlertSeverity.CRITICAL if change.wipes else AlertSeverity.WARNING,
            details={
                "run": run.pk,
                "held": change.held,
                "adds": change.adds,
                "removes": change.removes,
                "wipes": change.wipes,
            },
        )
    run.refresh_from_db()


# --- ops decide ---------------------------------------------------------------------------------------------


def run_approve(
    *,
    actor: AbstractBaseUser | None,
    run: SyncRun,
    note: str = "",
    enqueue: bool = True,
    actor_label: str = "",
) -> SyncRun:
    """Approve a held run: it goes back to the queue and sends exactly its stored plan.

    ``enqueue=False`` leaves it for a caller that runs it in the foreground.
    """
    ensure_permission(actor, "syncs.run_sync")
    with transaction.atomic():
        run = _lock_held(run)
        _decide(run, actor=actor, state=RunState.QUEUED)
        audit_record(
            actor=actor,
            action="sync.run_approve",
            obj=run.sync,
            before={"run": run.pk, "state": RunState.AWAITING_APPROVAL},
            after={"run": run.pk, "state": RunState.QUEUED, "adds": run.planned_adds, "removes": run.planned_removes},
            reason=note or run.hold_reason,
            actor_label=actor_label,
        )
        alert_clear(kind=AlertKind.LARGE_CHANGE, subject=Subject.for_sync(run.sync))
        if enqueue:
            enqueue_run_on_commit(run.pk)
    return run


def run_cancel(*, actor: AbstractBaseUser | None, run: SyncRun, note: str = "", actor_label: str = "") -> SyncRun:
    """Cancel a held run: it ends ``cancelled`` and nothing of its plan is ever sent."""
    ensure_permission(actor, "syncs.run_sync")
    with transaction.atomic():
        run = _lock_held(run)
        _cancel(run, actor=actor, note=note, actor_label=actor_label)
    return run


def run_allow_large_change(*, actor: AbstractBaseUser | None, run: SyncRun, actor_label: str = "") -> SyncRun:
    """Approve a queued run's plan in advance (``syncs run --allow-large-change --by USER``).

    Runs of the same sync still waiting for approval are cancelled: this run plans afresh and supersedes them.
    """
    ensure_permission(actor, "syncs.run_sync")
    with transaction.atomic():
        run = SyncRun.objects.select_for_update().select_related("sync__audience", "sync__destination").get(pk=run.pk)
        if run.state != RunState.QUEUED:
            raise ValidationError({"state": f"Run {run.pk} is {run.get_state_display().lower()}, not queued."})
        for held in SyncRun.objects.select_for_update().filter(sync=run.sync, state=RunState.AWAITING_APPROVAL):
            held.sync = run.sync
            note = f"Superseded by run {run.pk}, approved in advance."
            _cancel(held, actor=actor, note=note, actor_label=actor_label)
        run.large_change_approved = True
        run.decided_by = actor
        run.decided_at = timezone.now()
        run.save(update_fields=["large_change_approved", "decided_by", "decided_at"])
        audit_record(
            actor=actor,
            action="sync.run_approve",
            obj=run.sync,
            after={"run": run.pk, "in_advance": True},
            reason="Large change allowed in advance (--allow-large-change).",
            actor_label=actor_label,
        )
    return run


def cancel_held_runs(*, sync: Sync, note: str) -> list[int]:
    """Cancel every run of ``sync`` waiting for approval, by the system (the audience was retired)."""
    cancelled = []
    with transaction.atomic():
        for run in SyncRun.objects.select_for_update().filter(sync=sync, state=RunState.AWAITING_APPROVAL):
            run.sync = sync
            _cancel(run, actor=None, note=note)
            cancelled.append(run.pk)
    return cancelled


def sync_set_guardrails(
    *,
    actor: AbstractBaseUser | None,
    sync: Sync,
    max_remove_percent: int | None,
    max_add_percent: int | None,
    min_rows: int | None,
    actor_label: str = "",
) -> Sync:
    """Set the sync's own limits; ``None`` for a limit means the site default."""
    ensure_permission(actor, "syncs.change_sync")
    errors = {}
    if max_remove_percent is not None and not 0 <= max_remove_percent <= 100:
        errors["max_remove_percent"] = "A share of what the destination holds: 0 to 100."
    for name, value in (("max_add_percent", max_add_percent), ("guardrail_min_rows", min_rows)):
        if value is not None and value < 0:
            errors[name] = "Zero or more."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        sync = Sync.objects.select_for_update().select_related("audience", "destination").get(pk=sync.pk)
        before = {name: getattr(sync, name) for name in GUARDRAIL_FIELDS}
        sync.max_remove_percent = max_remove_percent
        sync.max_add_percent = max_add_percent
        sync.guardrail_min_rows = min_rows
        sync.updated_at = timezone.now()
        sync.save(update_fields=[*GUARDRAIL_FIELDS, "updated_at"])
        audit_record(
            actor=actor,
            action="sync.guardrails",
            obj=sync,
            before=before,
            after={name: getattr(sync, name) for name in GUARDRAIL_FIELDS},
            actor_label=actor_label,
        )
    return sync


# --- what the approver sees ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeldPlan:
    """A held run's plan as the approver sees it: counts against the ledger and samples of each side."""

    held: int
    adds: int
    removes: int
    sample_adds: list[str]
    sample_removes: list[str]
    thresholds: Thresholds


def held_plan(run: SyncRun, *, sample: int = PLAN_SAMPLE_SIZE) -> HeldPlan:
    """The stored plan of ``run`` with a few profiles of each side (external id, else email, else id)."""
    from audience_ops.customers.models import Profile

    def labels(op: str) -> list[str]:
        ids = list(
            SyncPlanItem.objects.filter(run=run, op=op, state=PlanItemState.PENDING)
            .order_by("profile_id")
            .values_list("profile_id", flat=True)[:sample]
        )
        found = {p.pk: p for p in Profile.objects.filter(pk__in=ids).only("pk", "external_id", "email")}
        return [_profile_label(found.get(pk), pk) for pk in ids]

    return HeldPlan(
        held=LedgerEntry.objects.filter(sync_id=run.sync_id).count(),
        adds=run.planned_adds,
        removes=run.planned_removes,
        sample_adds=labels(PlanOp.ADD),
        sample_removes=labels(PlanOp.REMOVE),
        thresholds=thresholds_for(run.sync),
    )


def held_plan_summary(run: SyncRun) -> dict[str, Any]:
    """The held plan as JSON-ready data, for the command line."""
    plan = held_plan(run, sample=5)
    return {
        "held": plan.held,
        "planned_adds": plan.adds,
        "planned_removes": plan.removes,
        "sample_adds": plan.sample_adds,
        "sample_removes": plan.sample_removes,
    }


# --- helpers --------------------------------------------------------------------------------------------------


def _sending_started(run: SyncRun) -> bool:
    """A resumed run that already sent part of its plan was judged (and let through) before."""
    return SyncPlanItem.objects.filter(run=run).exclude(state=PlanItemState.PENDING).exists()


def _lock_held(run: SyncRun) -> SyncRun:
    run = SyncRun.objects.select_for_update().select_related("sync__audience", "sync__destination").get(pk=run.pk)
    if run.state != RunState.AWAITING_APPROVAL:
        raise ValidationError(
            {"state": f"Run {run.pk} is {run.get_state_display().lower()}; only a held run can be decided."}
        )
    return run


def _decide(run: SyncRun, *, actor: AbstractBaseUser | None, state: str, now: dt.datetime | None = None) -> None:
    now = now or timezone.now()
    run.state = state
    run.large_change_approved = state == RunState.QUEUED
    run.decided_by = actor
    run.decided_at = now
    fields = ["state", "large_change_approved", "decided_by", "decided_at"]
    if state == RunState.CANCELLED:
        run.finished_at = now
        fields.append("finished_at")
    run.save(update_fields=fields)
    if state == RunState.CANCELLED:
        announce_run_finished(run.pk)


def _cancel(run: SyncRun, *, actor: AbstractBaseUser | None, note: str, actor_label: str = "") -> None:
    _decide(run, actor=actor, state=RunState.CANCELLED)
    audit_record(
        actor=actor,
        action="sync.run_cancel",
        obj=run.sync,
        before={"run": run.pk, "state": RunState.AWAITING_APPROVAL},
        after={"run": run.pk, "state": RunState.CANCELLED},
        reason=note or run.hold_reason,
        actor_label=actor_label,
    )
    alert_clear(kind=AlertKind.LARGE_CHANGE, subject=Subject.for_sync(run.sync))


def _profile_label(profile: Any, pk: int) -> str:
    if profile is None:
        return f"profile {pk} (deleted)"
    return profile.external_id or profile.email or f"profile {pk}"
