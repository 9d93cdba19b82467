"""Choices for syncs and runs, each carrying the badge colour the UI shows it with."""

from __future__ import annotations

from django.db import models


class SyncMode(models.TextChoices):
    MIRROR = "mirror", "Mirror (adds and removals)"
    ADD_ONLY = "add_only", "Add only"

    @property
    def color(self) -> str:
        return {"mirror": "blue", "add_only": "cyan"}[self.value]


class RunState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    # Held by the large-change guardrail before sending anything; ops approve (back to queued) or cancel.
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    CANCELLED = "cancelled", "Cancelled"

    @property
    def color(self) -> str:
        return {
            "queued": "secondary",
            "running": "blue",
            "succeeded": "green",
            "failed": "red",
            "skipped": "yellow",
            "awaiting_approval": "orange",
            "cancelled": "secondary",
        }[self.value]


class RunTrigger(models.TextChoices):
    MANUAL = "manual", "Manual (run now)"
    SCHEDULE = "schedule", "Schedule"
    CLI = "cli", "Command line"
    RETRY = "retry", "Recovery of a lost run"
    RETIRE = "retire", "Audience retired"


class RetirementAction(models.TextChoices):
    """What retiring an audience does at each destination (the admin chooses per sync)."""

    REMOVE_MEMBERS = "remove_members", "Remove its members"
    DELETE_REMOTE_AUDIENCE = "delete_remote_audience", "Delete the audience at the destination"
    KEEP = "keep", "Leave it as it is (only pause the sync)"


class PlanOp(models.TextChoices):
    ADD = "add", "Add"
    REMOVE = "remove", "Remove"


class PlanItemState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    UNMATCHABLE = "unmatchable", "Unmatchable"
    NOT_SENT = "not_sent", "Not sent (held back by the destination, e.g. no consent)"
    FAILED = "failed", "Failed"


ACTIVE_RUN_STATES = (RunState.QUEUED, RunState.RUNNING)
