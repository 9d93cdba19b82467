"""Retiring an audience at its destinations: pause every sync, then per destination remove its members, delete
the remote audience, or leave it as it is (the admin chooses on the retire page or with ``audiences retire
--destinations``), and record what happened on a run with the ``retire`` trigger.

- ``remove_members`` (the default): a final run whose plan is "no members" removes everyone the ledger says
  the destination holds. Only a mirror sync removes people; an add-only sync is left as it is (recorded).
- ``delete_remote_audience``: the final run asks the platform to delete the audience itself (Meta supports
  it). A destination that cannot delete audiences falls back to removing the members, and the run's outcome
  says so. After a delete the ledger is emptied and the sync forgets the remote id.
- ``keep``: the sync is only paused; what the destination holds stays there (e.g. a platform that expires
  audiences itself). Recorded in the audit log.

The final run is an explicit admin decision, so the large-change guardrail never holds it; a run that was
waiting for approval when the audience was retired is cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from audience_ops.audiences.models import Audience
from audience_ops.audit.services import audit_record
from audience_ops.destinations.adapters.base import ConfigError, NotSupported
from audience_ops.destinations.registry import adapter_for

from .choices import PlanItemState, PlanOp, RetirementAction, RunState, RunTrigger, SyncMode
from .guardrails import cancel_held_runs
from .models import LedgerEntry, Sync, SyncPlanItem, SyncRun
from .services import sync_request_run

if TYPE_CHECKING:
    from .runner import RunExecution

logger = logging.getLogger(__name__)

DEFAULT_ACTION = RetirementAction.REMOVE_MEMBERS
# The short names the command line takes (``--destinations remove|delete|keep``).
CLI_ACTIONS = {
    "remove": RetirementAction.REMOVE_MEMBERS,
    "delete": RetirementAction.DELETE_REMOTE_AUDIENCE,
    "keep": RetirementAction.KEEP,
}


@dataclass(frozen=True)
class RetirementOption:
    """One sync of an audience as the retire page lists it, with what its destination can do."""

    sync: Sync
    can_remove: bool  # a mirror sync to a destination that removes people
    can_delete: bool  # the destination's adapter deletes remote audiences
    has_remote: bool  # something was ever sent (there is a remote audience)

    @property
    def field_name(self) -> str:
        return f"sync_{self.sync.pk}"

    @property
    def default(self) -> str:
        return DEFAULT_ACTION if self.can_remove else RetirementAction.KEEP


def retirement_options(audience: Audience) -> list[RetirementOption]:
    """The audience's syncs with the choices each supports, for the retire page."""
    options = []
    for sync in Sync.objects.filter(audience=audience).select_related("destination").order_by("destination__name"):
        try:
            adapter = adapter_for(sync.destination)
            removes = adapter.capabilities.supports_removal
        except (ConfigError, KeyError):
            adapter, removes = None, False
        options.append(
            RetirementOption(
                sync=sync,
                can_remove=removes and sync.mode == SyncMode.MIRROR,
                can_delete=bool(adapter is not None and adapter.can_delete_audience),
                has_remote=bool(sync.remote_audience_id),
            )
        )
    return options


def actions_from_form(audience: Audience, data: Mapping[str, str]) -> dict[int, str]:
    """Per-sync choices posted by the retire page (``sync_<id>`` fields); unknown values are ignored."""
    actions = {}
    for option in retirement_options(audience):
        value = data.get(option.field_name, "")
        if value in RetirementAction.values:
            actions[option.sync.pk] = value
    return actions


def actions_for_all(audience: Audience, action: str) -> dict[int, str]:
    """The same choice for every sync of ``audience`` (the command line's ``--destinations``)."""
    return {sync_id: action for sync_id in Sync.objects.filter(audience=audience).values_list("pk", flat=True)}


def syncs_retire(*, audience: Audience, actions: Mapping[int, str] | None = None) -> list[int]:
    """Pause every sync of the retired ``audience`` and carry out the chosen action per sync (default: remove
    the members). The system acts: the admin's decision was checked when the audience was retired. Returns
    the ids of the final runs requested."""
    actions = actions or {}
    runs = []
    with transaction.atomic():
        for sync in (
            Sync.objects.select_for_update().select_related("audience", "destination").filter(audience=audience)
        ):
            _pause(sync)
            cancel_held_runs(sync=sync, note="The audience was retired; its retirement run replaces this run.")
            action = actions.get(sync.pk, DEFAULT_ACTION)
            if action not in RetirementAction.values:
                action = DEFAULT_ACTION
            if action == RetirementAction.KEEP or (
                action == RetirementAction.REMOVE_MEMBERS and sync.mode != SyncMode.MIRROR
            ):
                why = (
                    "kept at the destination, as chosen"
                    if action == RetirementAction.KEEP
                    else "kept at the destination: an add-only sync never removes anyone"
                )
                audit_record(
                    actor=None,
                    action="sync.retire_keep",
                    obj=sync,
                    after={"retirement_action": action, "remote_audience_id": sync.remote_audience_id},
                    reason=f"Audience retired; {why}.",
                )
                continue
            run = sync_request_run(actor=None, sync=sync, trigger=RunTrigger.RETIRE, actor_label="system")
            SyncRun.objects.filter(pk=run.pk).update(retirement_action=action)
            runs.append(run.pk)
    return runs


def _pause(sync: Sync) -> None:
    if not sync.enabled:
        return
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
        reason="audience retired",
    )


# --- the final run ---------------------------------------------------------------------------------------------


def retirement_before_send(execution: RunExecution) -> bool:
    """The retire run's hook before sending: delete the remote audience when that was chosen and possible.

    True when the run is finished here (deleted, or nothing was ever sent); False lets the runner send the
    stored plan, which removes everyone (also the fall-back when the destination cannot delete).
    """
    run, sync = execution.run, execution.sync
    if run.retirement_action != RetirementAction.DELETE_REMOTE_AUDIENCE:
        return False  # the stored plan removes everyone; the run's counts tell the outcome
    remote_id = sync.remote_audience_id
    if not remote_id:
        _set_outcome(run, f"Nothing to delete: nothing was ever sent to {sync.destination.name}.")
        return False
    adapter = adapter_for(sync.destination)
    execution.adapter = adapter
    try:
        execution.with_retries(lambda: adapter.delete_audience(remote_id=remote_id), "deleting the remote audience")
    except NotSupported as exc:
        fallback = (
            "its members are removed instead"
            if sync.mode == SyncMode.MIRROR and adapter.capabilities.supports_removal
            else "its members stay there (this sync cannot remove people)"
        )
        _set_outcome(run, f"{sync.destination.name} cannot delete audiences ({exc}); {fallback}.")
        return False
    _record_deleted(execution, remote_id)
    return True


def _record_deleted(execution: RunExecution, remote_id: str) -> None:
    """The remote audience is gone: empty the ledger, settle the plan, forget the id, finish the run."""
    run, sync = execution.run, execution.sync
    now = timezone.now()
    with transaction.atomic():
        execution.renew_lease()
        held, _ = LedgerEntry.objects.filter(sync=sync).delete()
        SyncPlanItem.objects.filter(run=run, op=PlanOp.REMOVE, state=PlanItemState.PENDING).update(
            state=PlanItemState.SENT
        )
        Sync.objects.filter(pk=sync.pk).update(remote_audience_id="", updated_at=now)
        outcome = (
            f"Deleted the audience {remote_id} at {sync.destination.name} "
            f"(it held {held:,} {'person' if held == 1 else 'people'})."
        )
        SyncRun.objects.filter(pk=run.pk).update(removed=held, outcome=outcome)
        audit_record(
            actor=None,
            action="sync.remote_audience_delete",
            obj=sync,
            before={"remote_audience_id": remote_id, "ledger": held},
            after={"remote_audience_id": "", "ledger": 0, "run": run.pk},
            reason="Audience retired; the admin chose to delete the remote audience.",
        )
    execution.finish(RunState.SUCCEEDED)


def _set_outcome(run: SyncRun, text: str) -> None:
    if text:
        SyncRun.objects.filter(pk=run.pk).update(outcome=text)
        run.outcome = text


def retirement_outcome(run: SyncRun) -> str:
    """What a retire run did, in words, for pages and reports."""
    if run.trigger != RunTrigger.RETIRE:
        return ""
    if run.state in (RunState.QUEUED, RunState.RUNNING):
        return "In progress."
    if run.state == RunState.FAILED:
        return f"Failed: {run.error}"
    parts = [run.outcome] if run.outcome else []
    if run.retirement_action != RetirementAction.DELETE_REMOTE_AUDIENCE or "instead" in run.outcome:
        parts.append(f"Removed {run.removed:,} of {run.planned_removes:,} members.")
    return " ".join(parts)
