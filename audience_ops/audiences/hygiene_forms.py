"""Forms of the retirement queue: retire with a reason, or extend the retirement date with a reason."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone


class RetireForm(forms.Form):
    """Why the audience is being retired; optional, recorded in the audit log with the retirement."""

    reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=500,
        help_text="Recorded in the audit log with the retirement.",
    )


class ExtendRetirementForm(forms.Form):
    """A later retirement date and why the audience is still needed (both required)."""

    retire_on = forms.DateField(
        label="New retirement date",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Must be in the future.",
    )
    reason = forms.CharField(
        label="Reason",
        max_length=500,
        help_text="Why the audience is still needed; recorded in the audit log.",
    )

    def clean_retire_on(self) -> dt.date:
        value = self.cleaned_data["retire_on"]
        if value <= timezone.localdate():
            raise forms.ValidationError("The new retirement date must be in the future.")
        return value
