"""Syncs (audience x destination), their runs, the stored plan of a run and the ledger of what a destination holds.

The ledger is the source of truth for "what the destination has": a run plans membership-at-``as_of`` against
it, and each batch moves it forward only after the destination acknowledged the batch. Profiles are referred
to by plain integer ids in the plan and the ledger (not foreign keys): a profile deleted since it was sent must
still be removable, with exactly the values that were sent.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .choices import PlanItemState, PlanOp, RetirementAction, RunState, RunTrigger, SyncMode


class Sync(models.Model):
    """Keeps one audience in one destination, in ``mirror`` or ``add_only`` mode, manually or on a cadence.

    Cadence: ``every_minutes`` or a ``cron`` expression (UTC), or neither for manual runs only.
    ``next_run_at`` is when the scheduler next requests a run (empty for manual or disabled syncs).
    """

    audience = models.ForeignKey(
        to="audiences.Audience",
        on_delete=models.CASCADE,
        related_name="syncs",
    )
    destination = models.ForeignKey(
        to="destinations.Destination",
        on_delete=models.PROTECT,
        related_name="syncs",
    )
    mode = models.CharField(
        max_length=16,
        choices=SyncMode.choices,
        default=SyncMode.MIRROR,
        help_text="Mirror sends adds and removals; add only never removes anyone.",
    )
    every_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Run every N minutes; leave empty for a cron expression or manual runs.",
    )
    cron = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text="Cron expression (UTC), e.g. '*/30 * * * *'; leave empty for an interval or manual runs.",
    )
    enabled = models.BooleanField(
        default=False,
        help_text="Paused syncs are never run by the schedule.",
    )
    remote_audience_id = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="The audience's id at the destination, created on the first run.",
    )
    created_by = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    next_run_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the schedule next requests a run; empty for manual or paused syncs.",
    )
    # Large-change guardrail (see guardrails.py); empty means the site default from settings.
    max_remove_percent = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Hold a run for ops approval when it would remove more than this share (%) of the "
        "destination audience; empty = site default.",
    )
    max_add_percent = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Hold a run for ops approval when it would add more than this share (%) of the destination "
        "audience; empty = site default.",
    )
    guardrail_min_rows = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Changes smaller than this many people never trip the percentage limits (a run that would "
        "remove everyone is always held); empty = site default.",
    )

    class Meta:
        ordering = ["audience", "destination"]
        constraints = [
            models.UniqueConstraint(fields=["audience", "destination"], name="syncs_sync_unique_pair"),
            models.CheckConstraint(condition=Q(mode__in=SyncMode.values), name="syncs_sync_mode_valid"),
            models.CheckConstraint(
                condition=Q(every_minutes__isnull=True) | Q(cron=""),
                name="syncs_sync_one_cadence",
            ),
            models.CheckConstraint(
                condition=Q(every_minutes__isnull=True) | Q(every_minutes__gte=1),
                name="syncs_sync_every_positive",
            ),
        ]
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="syncs_sync_due")]
        permissions = [("run_sync", "Can run a sync now and see its dry-run plan")]

    def __str__(self) -> str:
        return f"{self.audience} -> {self.destination}"

    @property
    def cadence_label(self) -> str:
        if self.every_minutes:
            return f"every {self.every_minutes} min"
        if self.cron:
            return f"cron {self.cron}"
        return "manual"


class SyncRun(models.Model):
    """One attempt to bring the destination in line with the audience's membership at ``as_of``.

    The row is written in the same transaction that asks for the run (an outbox) and is the source of truth:
    RQ only carries the run id. ``lease_expires_at`` is renewed at every batch; a ``running`` run past its
    lease was abandoned by its worker and is recovered by the sweeper.
    """

    sync = models.ForeignKey(to=Sync, on_delete=models.CASCADE, related_name="runs")
    state = models.CharField(max_length=20, choices=RunState.choices, default=RunState.QUEUED)
    trigger = models.CharField(max_length=16, choices=RunTrigger.choices, default=RunTrigger.MANUAL)
    dry_run = models.BooleanField(default=False, help_text="Plan only; nothing is sent.")
    requested_by = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    requested_at = models.DateTimeField(default=timezone.now)
    as_of = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The membership time; empty means the time the run starts.",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    planned_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the plan was stored; a resumed run with a plan continues from its pending items.",
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, default="")
    job_id = models.CharField(max_length=100, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0, help_text="How many times a worker picked the run up.")
    planned_adds = models.PositiveIntegerField(default=0)
    planned_removes = models.PositiveIntegerField(default=0)
    added = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    unmatchable = models.PositiveIntegerField(default=0, help_text="Profiles with no usable identifier; not sent.")
    not_sent = models.PositiveIntegerField(
        default=0,
        help_text="Matchable profiles the destination's rules hold back (e.g. no consent); not sent.",
    )
    invalid = models.PositiveIntegerField(default=0, help_text="Rows the destination reported as invalid.")
    failed_rows = models.PositiveIntegerField(default=0, help_text="Rows with a per-row error.")
    matched = models.PositiveIntegerField(null=True, blank=True)
    match_rate = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    skip_reason = models.TextField(blank=True, default="")
    phase_seconds = models.JSONField(
        default=dict,
        blank=True,
        help_text='Seconds per phase: {"plan", "prepare", "send", "ledger"}.',
    )
    # Large-change guardrail: why the run was held, and who decided (approve or cancel) and when.
    hold_reason = models.TextField(blank=True, default="", help_text="Why the guardrail held the run.")
    large_change_approved = models.BooleanField(
        default=False,
        help_text="Ops approved sending this run's plan even though it is a large change.",
    )
    decided_by = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who approved or cancelled the held run.",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # Retirement: what the admin chose for this destination, and what actually happened there.
    retirement_action = models.CharField(
        max_length=32,
        choices=RetirementAction.choices,
        blank=True,
        default="",
    )
    outcome = models.TextField(blank=True, default="", help_text="What happened at the destination, in words.")

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = "sync run"
        constraints = [
            models.CheckConstraint(condition=Q(state__in=RunState.values), name="syncs_run_state_valid"),
            # The database itself guarantees one running run per sync, whatever the workers do.
            models.UniqueConstraint(
                fields=["sync"],
                condition=Q(state="running"),
                name="syncs_run_one_running_per_sync",
            ),
        ]
        indexes = [
            models.Index(fields=["sync", "-requested_at"], name="syncs_run_latest"),
            models.Index(fields=["state", "requested_at"], name="syncs_run_state"),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.sync_id} ({self.state})"

    @property
    def state_color(self) -> str:
        return RunState(self.state).color

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class SyncPlanItem(models.Model):
    """One planned add or removal of a run, stored so a crashed run resumes where it stopped."""

    run = models.ForeignKey(to=SyncRun, on_delete=models.CASCADE, related_name="plan_items")
    profile_id = models.BigIntegerField()
    op = models.CharField(max_length=8, choices=PlanOp.choices)
    state = models.CharField(max_length=16, choices=PlanItemState.choices, default=PlanItemState.PENDING)
    batch = models.PositiveIntegerField(null=True, blank=True, help_text="Number of the batch that carried it.")

    class Meta:
        ordering = ["run", "op", "profile_id"]
        verbose_name = "sync plan item"
        constraints = [
            models.UniqueConstraint(fields=["run", "op", "profile_id"], name="syncs_planitem_unique"),
        ]
        indexes = [models.Index(fields=["run", "op", "state", "profile_id"], name="syncs_planitem_pending")]

    def __str__(self) -> str:
        return f"{self.op} {self.profile_id} ({self.state})"


class LedgerEntry(models.Model):
    """A profile the destination holds for a sync, with exactly the prepared (hashed) values that were sent.

    A removal sends these stored values, so it works even after the profile changed or was deleted.
    """

    sync = models.ForeignKey(to=Sync, on_delete=models.CASCADE, related_name="ledger")
    profile_id = models.BigIntegerField()
    values = models.JSONField(default=dict)
    added_at = models.DateTimeField(default=timezone.now)
    run = models.ForeignKey(to=SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["sync", "profile_id"]
        verbose_name = "ledger entry"
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(fields=["sync", "profile_id"], name="syncs_ledger_unique_profile"),
        ]

    def __str__(self) -> str:
        return f"{self.sync_id}: {self.profile_id}"


class SyncRowError(models.Model):
    """A row the destination rejected (or that failed) during a run, with the platform's message."""

    run = models.ForeignKey(to=SyncRun, on_delete=models.CASCADE, related_name="row_errors")
    profile_id = models.BigIntegerField(null=True, blank=True)
    op = models.CharField(max_length=8, choices=PlanOp.choices)
    message = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "id"]
        verbose_name = "sync row error"

    def __str__(self) -> str:
        return f"{self.op} {self.profile_id}: {self.message[:60]}"


class RowFailure(models.Model):
    """Consecutive failures of one row of a sync; after the limit the row is given up and surfaced.

    A success (the row reaching the ledger, or leaving it) deletes the counter.
    """

    sync = models.ForeignKey(to=Sync, on_delete=models.CASCADE, related_name="row_failures")
    profile_id = models.BigIntegerField()
    op = models.CharField(max_length=8, choices=PlanOp.choices)
    consecutive = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    gave_up = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sync", "profile_id"]
        verbose_name = "row failure"
        constraints = [
            models.UniqueConstraint(fields=["sync", "profile_id", "op"], name="syncs_rowfailure_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.op} {self.profile_id}: {self.consecutive} failures"
