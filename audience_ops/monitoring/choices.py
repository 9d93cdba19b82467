"""Choices for alerts, each carrying the badge colour the UI shows it with."""

from __future__ import annotations

from django.db import models


class AlertKind(models.TextChoices):
    BALLOONING = "ballooning", "Audience ballooning"
    COLLAPSE = "collapse", "Audience collapse"
    SUPPRESSION_LEAK = "suppression_leak", "Suppression leak"
    STALE_SYNC = "stale_sync", "Stale sync"
    STALE_EVALUATION = "stale_evaluation", "Audience not evaluated on schedule"
    LOW_MATCH_RATE = "low_match_rate", "Low match rate"
    MATCH_RATE_DROP = "match_rate_drop", "Match rate drop"
    FAILING_SYNC = "failing_sync", "Failing sync"
    CREDENTIALS_REJECTED = "credentials_rejected", "Credentials rejected"
    NEAR_RETIREMENT = "near_retirement", "Near retirement"
    LARGE_CHANGE = "large_change", "Large change held for approval"


class AlertSeverity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"

    @property
    def color(self) -> str:
        return {"info": "blue", "warning": "yellow", "critical": "red"}[self.value]

    @property
    def rank(self) -> int:
        """Order of seriousness: a raise that moves up this order notifies again."""
        return {"info": 0, "warning": 1, "critical": 2}[self.value]


class AlertState(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"

    @property
    def color(self) -> str:
        return {"open": "red", "acknowledged": "yellow", "resolved": "green"}[self.value]


# States in which an alert is still "the" alert for its condition (its key is taken).
ACTIVE_STATES = (AlertState.OPEN, AlertState.ACKNOWLEDGED)
