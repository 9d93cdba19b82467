"""The form of a sync's large-change limits: empty fields fall back to the site defaults."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from .guardrails import thresholds_for
from .models import Sync


class GuardrailForm(forms.Form):
    max_remove_percent = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=100,
        label="Hold a run that removes more than (%)",
        help_text="Share of the people the destination holds. Empty: the site default.",
    )
    max_add_percent = forms.IntegerField(
        required=False,
        min_value=0,
        label="Hold a run that adds more than (%)",
        help_text="Share of the people the destination holds; the first load is never held. Empty: the site default.",
    )
    guardrail_min_rows = forms.IntegerField(
        required=False,
        min_value=0,
        label="Unless fewer people than this change",
        help_text="Small audiences swing by large shares. A run that would remove everyone is always held.",
    )

    def __init__(self, *args: Any, sync: Sync, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        defaults = thresholds_for(Sync())
        self.fields["max_remove_percent"].widget.attrs["placeholder"] = f"default {defaults.max_remove_percent}"
        self.fields["max_add_percent"].widget.attrs["placeholder"] = f"default {defaults.max_add_percent}"
        self.fields["guardrail_min_rows"].widget.attrs["placeholder"] = f"default {defaults.min_rows}"

    @staticmethod
    def initial_for(sync: Sync) -> dict[str, Any]:
        return {
            "max_remove_percent": sync.max_remove_percent,
            "max_add_percent": sync.max_add_percent,
            "guardrail_min_rows": sync.guardrail_min_rows,
        }

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "max_remove_percent": data["max_remove_percent"],
            "max_add_percent": data["max_add_percent"],
            "min_rows": data["guardrail_min_rows"],
        }

    def add_service_error(self, exc: ValidationError) -> None:
        for key, messages in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
            self.add_error(key if key in self.fields else None, messages)
