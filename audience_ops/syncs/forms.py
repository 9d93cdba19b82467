"""The sync forms (create; edit mode and cadence), with the service's refusals shown in place.

The forms only check what a form can know (a cadence that matches its choice); whether the pair may be
synced (suppression first, removal support, live audience) is the service's rule, and its ValidationError
lands on the field it names so the user sees why.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from audience_ops.audiences.choices import AudienceStatus
from audience_ops.audiences.models import Audience
from audience_ops.destinations.models import Destination

from .cadence import cron_is_valid
from .choices import SyncMode
from .models import Sync

CADENCE_CHOICES = [
    ("every", "Every N minutes"),
    ("cron", "Cron expression (UTC)"),
    ("manual", "Manual only (Run now)"),
]


class SyncEditForm(forms.Form):
    """A sync's mode and cadence: what can change once the sync exists (never its audience or destination)."""

    mode = forms.ChoiceField(
        choices=SyncMode.choices,
        initial=SyncMode.MIRROR,
        widget=forms.RadioSelect,
        help_text="Mirror also removes people who leave the audience; add only never removes anyone.",
    )
    cadence = forms.ChoiceField(choices=CADENCE_CHOICES, initial="every", widget=forms.RadioSelect)
    every_minutes = forms.IntegerField(
        label="Every (minutes)",
        min_value=1,
        max_value=7 * 24 * 60,
        required=False,
        initial=15,
    )
    cron = forms.CharField(
        label="Cron expression",
        max_length=100,
        required=False,
        help_text="Five fields in UTC, e.g. */30 * * * * for every half hour.",
    )

    @staticmethod
    def initial_for(sync: Sync) -> dict[str, Any]:
        cadence = "every" if sync.every_minutes else "cron" if sync.cron else "manual"
        return {"mode": sync.mode, "cadence": cadence, "every_minutes": sync.every_minutes, "cron": sync.cron}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        cadence = cleaned.get("cadence")
        if cadence == "every" and not cleaned.get("every_minutes"):
            self.add_error("every_minutes", "Give the number of minutes between runs.")
        if cadence == "cron":
            expression = (cleaned.get("cron") or "").strip()
            if not expression:
                self.add_error("cron", "Give a cron expression.")
            elif not cron_is_valid(expression):
                self.add_error("cron", f'"{expression}" is not a five-field cron expression.')
        return cleaned

    def service_kwargs(self) -> dict[str, Any]:
        """The arguments of ``sync_update``: an interval, a cron expression, or neither (manual)."""
        data = self.cleaned_data
        kwargs: dict[str, Any] = {"mode": data["mode"]}
        if data["cadence"] == "every":
            kwargs["every_minutes"] = data["every_minutes"]
        else:
            kwargs["cron"] = data["cron"].strip() if data["cadence"] == "cron" else ""
        return kwargs

    def add_service_error(self, exc: ValidationError) -> None:
        """Show the service's refusal on the field it names (reasons about enabling go on ``enabled``)."""
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        for key, messages in exc.message_dict.items():
            field = key if key in self.fields else None
            for message in messages:
                self.add_error(field, message)


class SyncForm(SyncEditForm):
    """Create a sync of one audience to one destination."""

    audience = forms.ModelChoiceField(
        queryset=Audience.objects.exclude(status=AudienceStatus.RETIRED).order_by("name"),
        help_text="Retired audiences cannot be synced.",
    )
    destination = forms.ModelChoiceField(queryset=Destination.objects.order_by("name"))
    enabled = forms.BooleanField(
        label="Enable now",
        required=False,
        initial=True,
        help_text="A targeting ads audience is enabled only when it is live and its suppression is synced here.",
    )

    def service_kwargs(self) -> dict[str, Any]:
        """The arguments of ``sync_create`` for the chosen cadence (the other cadence fields are ignored)."""
        data = self.cleaned_data
        cadence = data["cadence"]
        return {
            "audience": data["audience"],
            "destination": data["destination"],
            "mode": data["mode"],
            "every_minutes": data["every_minutes"] if cadence == "every" else None,
            "cron": data["cron"].strip() if cadence == "cron" else "",
            "enabled": data["enabled"],
        }
