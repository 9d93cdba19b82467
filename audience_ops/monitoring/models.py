"""Alerts: one row per condition that needs a human (an audience ballooning, a suppression leak, ...).

A condition is identified by its ``key`` (kind plus subject, e.g. ``ballooning:audience:12``); while an alert
for that key is open or acknowledged, every check that still finds the condition updates that row
(``last_seen``, figures, severity) instead of adding one, so a five-minute job does not bury ops in copies.
Once the condition goes away the alert is resolved; if it comes back later it is a new alert.

The subject is held as explicit nullable foreign keys (audience, sync, destination) rather than a generic
relation, so the dashboard can filter and join alerts by audience or destination in plain queries;
``subject_label`` keeps a readable name even after the subject is deleted.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .choices import AlertKind, AlertSeverity, AlertState


class AlertQuerySet(models.QuerySet):
    def active(self) -> AlertQuerySet:
        """Open or acknowledged: the condition has not been seen to go away."""
        return self.exclude(state=AlertState.RESOLVED)

    def open(self) -> AlertQuerySet:
        return self.filter(state=AlertState.OPEN)


class Alert(models.Model):
    """A monitored condition (kind + subject) with its severity, lifecycle and the figures behind it."""

    kind = models.CharField(max_length=32, choices=AlertKind.choices)
    key = models.CharField(
        max_length=200,
        help_text="Identifies the condition (kind and subject); one active alert per key.",
    )
    severity = models.CharField(max_length=16, choices=AlertSeverity.choices, default=AlertSeverity.WARNING)
    state = models.CharField(max_length=16, choices=AlertState.choices, default=AlertState.OPEN)
    audience = models.ForeignKey(
        to="audiences.Audience",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alerts",
    )
    sync = models.ForeignKey(
        to="syncs.Sync",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alerts",
    )
    destination = models.ForeignKey(
        to="destinations.Destination",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alerts",
    )
    subject_label = models.CharField(
        max_length=300,
        help_text="Readable name of the subject, e.g. 'Cart abandoners -> Meta US'.",
    )
    message = models.TextField(help_text="One sentence with the numbers, as sent in notifications.")
    details = models.JSONField(default=dict, blank=True, help_text="The figures the check computed.")
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    notified_at = models.DateTimeField(null=True, blank=True, help_text="When notifications were last sent.")
    acknowledged_by = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when the condition went away by itself.",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, default="", help_text="What ops wrote when acknowledging or resolving.")

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-last_seen", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=AlertKind.values), name="monitoring_alert_kind_valid"),
            models.CheckConstraint(
                condition=Q(severity__in=AlertSeverity.values), name="monitoring_alert_severity_valid"
            ),
            models.CheckConstraint(condition=Q(state__in=AlertState.values), name="monitoring_alert_state_valid"),
            # One condition is one alert: a second active row for the same key is refused by the database.
            models.UniqueConstraint(
                fields=["key"],
                condition=~Q(state="resolved"),
                name="monitoring_alert_one_active_per_key",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "-last_seen"], name="monitoring_alert_state"),
            models.Index(fields=["kind", "state"], name="monitoring_alert_kind"),
            models.Index(fields=["audience", "state"], name="monitoring_alert_audience"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject_label} ({self.state})"

    @property
    def severity_color(self) -> str:
        return AlertSeverity(self.severity).color

    @property
    def state_color(self) -> str:
        return AlertState(self.state).color

    @property
    def is_active(self) -> bool:
        return self.state != AlertState.RESOLVED
