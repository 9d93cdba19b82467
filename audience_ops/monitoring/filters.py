"""The alert list's filters: state (active by default), kind and severity."""

from __future__ import annotations

from django import forms
from django.db.models import QuerySet

from .choices import AlertKind, AlertSeverity, AlertState
from .models import Alert

ACTIVE = "active"
ALL = "all"
STATE_CHOICES = [
    (ACTIVE, "Open or acknowledged"),
    *AlertState.choices,
    (ALL, "Any state"),
]


class AlertFilterForm(forms.Form):
    """GET filters; an unknown value is a form error (shown) rather than a silently ignored filter."""

    state = forms.ChoiceField(choices=STATE_CHOICES, required=False, label="State")
    kind = forms.ChoiceField(choices=[("", "Any kind"), *AlertKind.choices], required=False, label="Kind")
    severity = forms.ChoiceField(
        choices=[("", "Any severity"), *AlertSeverity.choices], required=False, label="Severity"
    )

    def filter(self, alerts: QuerySet[Alert]) -> QuerySet[Alert]:
        """``alerts`` narrowed by the cleaned filters (call after ``is_valid()``)."""
        data = self.cleaned_data
        state = data.get("state") or ACTIVE
        if state == ACTIVE:
            alerts = alerts.active()
        elif state != ALL:
            alerts = alerts.filter(state=state)
        if data.get("kind"):
            alerts = alerts.filter(kind=data["kind"])
        if data.get("severity"):
            alerts = alerts.filter(severity=data["severity"])
        return alerts


class AlertActionForm(forms.Form):
    note = forms.CharField(required=False, max_length=1000, label="Note")
