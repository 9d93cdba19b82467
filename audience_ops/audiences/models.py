"""Audiences, their immutable versioned definitions, membership history and size snapshots.

An :class:`Audience` holds what describes the audience (who owns it, why it exists, its lifecycle status);
what it *selects* lives in :class:`AudienceVersion` rows, written once and never edited. Evaluating an
audience at a given ``now`` records who entered and who left in :class:`MembershipSpan` rows and the sizes in
an :class:`AudienceSnapshot`.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .choices import AudienceKind, AudienceObjective, AudienceOffer, AudienceStatus, ReviewState


class Audience(models.Model):
    """A named, owned group of profiles with one job (its objective), a purpose and a retirement date.

    The definition (rule, exclusions, paired suppression, QA cases) is versioned in :class:`AudienceVersion`;
    ``live_version`` is the version destinations receive, and evaluation falls back to the latest version
    while there is none.
    """

    slug = models.SlugField(
        max_length=64,
        unique=True,
        help_text="Unique id used in files, references and URLs: lowercase words joined by hyphens, 3-64 characters.",
    )
    name = models.CharField(
        max_length=200,
        help_text="Human label shown in lists and in plain-English definitions.",
    )
    kind = models.CharField(
        max_length=16,
        choices=AudienceKind.choices,
        help_text="Targeting audiences are shown ads; suppression audiences are kept out of them.",
    )
    objective = models.CharField(
        max_length=16,
        choices=AudienceObjective.choices,
        help_text="The single job of this audience's feeds.",
    )
    owner = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="owned_audiences",
        help_text="The person responsible for this audience.",
    )
    purpose = models.TextField(
        help_text="Why it exists and which next message or offer it maps to.",
    )
    retire_on = models.DateField(
        verbose_name="retire on",
        help_text="After this date the audience must be reviewed or retired.",
    )
    intent = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Free label such as browse, cart, checkout, replenish, winback or vip.",
    )
    offer = models.CharField(
        max_length=16,
        choices=AudienceOffer.choices,
        default=AudienceOffer.NONE,
        help_text="The offer its creative carries; used to find channel collisions.",
    )
    status = models.CharField(
        max_length=16,
        choices=AudienceStatus.choices,
        default=AudienceStatus.DRAFT,
        help_text="Where the audience is in its lifecycle.",
    )
    live_version = models.ForeignKey(
        to="audiences.AudienceVersion",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The approved version destinations receive; empty until one is approved.",
    )
    created_at = models.DateTimeField(
        default=timezone.now,
        editable=False,
    )
    updated_at = models.DateTimeField(
        default=timezone.now,
    )

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=AudienceKind.values),
                name="audiences_audience_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(objective__in=AudienceObjective.values),
                name="audiences_audience_objective_valid",
            ),
            models.CheckConstraint(
                condition=Q(offer__in=AudienceOffer.values),
                name="audiences_audience_offer_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=AudienceStatus.values),
                name="audiences_audience_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "slug"], name="audiences_audience_status"),
        ]
        permissions = [
            ("approve_audience", "Can approve or reject a version submitted for review"),
            ("operate_audience", "Can pause and resume live audiences"),
            ("retire_audience", "Can retire audiences and extend their retirement date"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def kind_color(self) -> str:
        return AudienceKind(self.kind).color

    @property
    def status_color(self) -> str:
        return AudienceStatus(self.status).color


class AudienceVersion(models.Model):
    """One immutable definition of an audience: the rule tree, exclusions, paired suppression and QA cases.

    A change to a definition is a new version (numbered 1..n per audience) so that what was approved, synced
    and explained stays reproducible; ``save()`` refuses to update an existing row.
    """

    audience = models.ForeignKey(
        to=Audience,
        on_delete=models.CASCADE,
        related_name="versions",
    )
    number = models.PositiveIntegerField(
        help_text="1 for the first version of the audience, then 2, 3, ...",
    )
    rule = models.JSONField(
        help_text="The condition tree, in the v1 definition format.",
    )
    exclude = models.JSONField(
        default=list,
        blank=True,
        help_text="Slugs of audiences whose members are removed from this one.",
    )
    paired_suppression = models.SlugField(
        max_length=64,
        null=True,
        blank=True,
        help_text="Slug of the suppression audience shipped beside this one; always applied.",
    )
    qa = models.JSONField(
        default=list,
        blank=True,
        help_text='QA cases: [{"profile": EXTERNAL_ID, "expect": "in" | "out", "note": TEXT}].',
    )
    author = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="authored_audience_versions",
        help_text="Who wrote this version.",
    )
    created_at = models.DateTimeField(
        default=timezone.now,
        editable=False,
    )

    class Meta:
        ordering = ["audience", "-number"]
        verbose_name = "audience version"
        constraints = [
            models.UniqueConstraint(
                fields=["audience", "number"],
                name="audiences_version_unique_number",
            ),
            models.CheckConstraint(
                condition=Q(number__gte=1),
                name="audiences_version_number_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.audience.slug} v{self.number}"

    def save(self, *args, **kwargs) -> None:
        """Insert only: a saved version is what was reviewed and approved, so it can never change."""
        if not self._state.adding:
            raise ValidationError({"__all__": "an audience version is immutable once saved; create a new version"})
        super().save(*args, **kwargs)


class MembershipSpan(models.Model):
    """A stretch of time during which a profile was a member of an audience.

    ``exited_at`` stays empty while the profile is a member, so "current members" is the set of open spans
    (at most one per audience and profile) and the closed spans are the entry/exit history that warehouse and
    analytics destinations receive.
    """

    audience = models.ForeignKey(
        to=Audience,
        on_delete=models.CASCADE,
        related_name="membership_spans",
    )
    profile = models.ForeignKey(
        to="customers.Profile",
        on_delete=models.CASCADE,
        related_name="audience_spans",
    )
    version = models.ForeignKey(
        to=AudienceVersion,
        on_delete=models.CASCADE,
        related_name="membership_spans",
        help_text="The version whose evaluation let the profile in.",
    )
    entered_at = models.DateTimeField(
        help_text="The evaluation time (now) at which the profile was first seen as a member.",
    )
    exited_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The evaluation time at which it was first seen out; empty while it is a member.",
    )

    class Meta:
        ordering = ["audience", "-entered_at"]
        verbose_name = "membership span"
        constraints = [
            # Also the index behind "current members of an audience" (audience_id = X AND exited_at IS NULL).
            models.UniqueConstraint(
                fields=["audience", "profile"],
                condition=Q(exited_at__isnull=True),
                name="audiences_span_one_open_per_profile",
            ),
            models.CheckConstraint(
                condition=Q(exited_at__isnull=True) | Q(exited_at__gte=models.F("entered_at")),
                name="audiences_span_exit_after_entry",
            ),
        ]
        indexes = [
            models.Index(fields=["audience", "entered_at"], name="audiences_span_entries"),
            models.Index(fields=["audience", "exited_at"], name="audiences_span_exits"),
            models.Index(fields=["profile", "audience"], name="audiences_span_profile"),
        ]

    def __str__(self) -> str:
        return f"profile {self.profile_id} in {self.audience_id} from {self.entered_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.exited_at is None


class AudienceSnapshot(models.Model):
    """The outcome of one evaluation: size, entries and exits at ``evaluated_at`` (the evaluation's now).

    The series of snapshots is the size-trend chart and the input of ballooning and stale alerts.
    """

    audience = models.ForeignKey(
        to=Audience,
        on_delete=models.CASCADE,
        related_name="snapshots",
    )
    version = models.ForeignKey(
        to=AudienceVersion,
        on_delete=models.CASCADE,
        related_name="snapshots",
        help_text="The version that was evaluated.",
    )
    evaluated_at = models.DateTimeField(
        help_text="The evaluation time (now) the membership was computed for.",
    )
    size = models.PositiveIntegerField(
        help_text="Members at evaluated_at.",
    )
    entered = models.PositiveIntegerField(
        help_text="Profiles that became members since the previous evaluation.",
    )
    exited = models.PositiveIntegerField(
        help_text="Profiles that stopped being members since the previous evaluation.",
    )
    duration_ms = models.PositiveIntegerField(
        help_text="Wall-clock time the evaluation took.",
    )
    created_at = models.DateTimeField(
        default=timezone.now,
        editable=False,
    )

    class Meta:
        ordering = ["audience", "-evaluated_at", "-id"]
        verbose_name = "audience snapshot"
        indexes = [
            models.Index(fields=["audience", "-evaluated_at"], name="audiences_snapshot_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.audience_id} at {self.evaluated_at:%Y-%m-%d %H:%M}: {self.size}"


class QATestProfile(models.Model):
    """A real profile marked as a named QA fixture ("recent purchaser", "cart abandoner", ...).

    QA cases refer to profiles by external id (the v1 format's ``qa`` key); naming the profiles that play a
    part in QA lets marketers pick "cart abandoner" instead of remembering an id, and keeps the library of
    known shoppers in one place.
    """

    profile = models.OneToOneField(
        to="customers.Profile",
        on_delete=models.CASCADE,
        related_name="qa_fixture",
        help_text="The profile that plays this part; QA cases refer to it by its external id.",
    )
    name = models.CharField(
        max_length=100,
        unique=True,
        help_text='What the profile stands for, e.g. "recent purchaser" or "cart abandoner".',
    )
    description = models.TextField(
        blank=True,
        default="",
        help_text="What makes this profile that kind of shopper (its events and traits).",
    )
    created_by = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(
        default=timezone.now,
        editable=False,
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "QA test profile"

    def __str__(self) -> str:
        return self.name


class QARun(models.Model):
    """One QA run of a version: every case evaluated at the same ``as_of``, with the engine's trace per case.

    A run belongs to exactly one (immutable) version, so any change to the definition (a new version) has no
    run yet: the launch gate asks for a passing run of the version being submitted.
    """

    version = models.ForeignKey(
        to=AudienceVersion,
        on_delete=models.CASCADE,
        related_name="qa_runs",
    )
    as_of = models.DateTimeField(
        help_text="The now at which every case was evaluated.",
    )
    passed = models.BooleanField(
        help_text="True when there are cases and every one of them got its expected result.",
    )
    results = models.JSONField(
        default=list,
        help_text=(
            'Per case: {"profile", "expect", "note", "actual" ("in"/"out"/"missing"), "passed", "trace"}, '
            "in the order of the version's qa cases."
        ),
    )
    ran_by = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when run from the command line without --by.",
    )
    ran_at = models.DateTimeField(
        default=timezone.now,
        editable=False,
    )

    class Meta:
        ordering = ["version", "-ran_at", "-id"]
        verbose_name = "QA run"
        indexes = [
            models.Index(fields=["version", "-ran_at"], name="audiences_qarun_latest"),
        ]

    def __str__(self) -> str:
        return f"QA of {self.version} at {self.as_of:%Y-%m-%d %H:%M}: {'pass' if self.passed else 'fail'}"


class VersionReview(models.Model):
    """A request to make one version live, and the four-eyes decision on it.

    Versions are immutable, so the review lives beside them: submitting creates a pending review pinned to
    the passing QA run it relied on; approving (by someone who is neither the author nor the owner) makes the
    version live at ``launch_at`` (now when empty); rejecting records the reason the author is shown.
    """

    version = models.ForeignKey(
        to=AudienceVersion,
        on_delete=models.CASCADE,
        related_name="reviews",
    )
    state = models.CharField(
        max_length=16,
        choices=ReviewState.choices,
        default=ReviewState.PENDING,
    )
    qa_run = models.ForeignKey(
        to=QARun,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The passing QA run the submission relied on.",
    )
    submitted_by = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
    )
    submitted_at = models.DateTimeField(
        default=timezone.now,
    )
    decided_by = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(
        null=True,
        blank=True,
    )
    reason = models.TextField(
        blank=True,
        default="",
        help_text="Why it was rejected (required then); shown to the author.",
    )
    launch_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the approved version goes live; empty means at approval.",
    )
    launched_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the approved version actually became the live version.",
    )

    class Meta:
        ordering = ["-submitted_at", "-id"]
        verbose_name = "version review"
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=ReviewState.values),
                name="audiences_review_state_valid",
            ),
            # One open review per version: submitting twice is refused, not queued.
            models.UniqueConstraint(
                fields=["version"],
                condition=Q(state="pending"),
                name="audiences_review_one_pending_per_version",
            ),
            models.CheckConstraint(
                condition=~Q(state="rejected") | ~Q(reason=""),
                name="audiences_review_rejection_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "launch_at"], name="audiences_review_due"),
        ]

    def __str__(self) -> str:
        return f"review of {self.version} ({self.state})"
