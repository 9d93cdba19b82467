"""Forms behind the audience pages' GET controls: which two versions to compare, whom to explain and when."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms

from .models import Audience, AudienceVersion
from .services import parse_as_of


class VersionDiffForm(forms.Form):
    """Two version numbers of one audience; each must exist. Errors are keyed by the parameter (a, b)."""

    a = forms.IntegerField(label="From version", min_value=1)
    b = forms.IntegerField(label="To version", min_value=1)

    def __init__(self, *args: Any, audience: Audience, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.audience = audience
        self.versions: dict[int, AudienceVersion] = {
            version.number: version
            for version in AudienceVersion.objects.filter(audience=audience).select_related("audience", "author")
        }
        choices = [(number, f"version {number}") for number in sorted(self.versions, reverse=True)]
        for name in ("a", "b"):
            self.fields[name].widget = forms.Select(choices=choices)

    def _clean_version(self, name: str) -> int:
        number = self.cleaned_data[name]
        if number not in self.versions:
            raise forms.ValidationError(f"{self.audience.slug} has no version {number}")
        return number

    def clean_a(self) -> int:
        return self._clean_version("a")

    def clean_b(self) -> int:
        return self._clean_version("b")


class WhyForm(forms.Form):
    """Whom to explain (any identifier, or a profile id) and at which time (default: now)."""

    profile = forms.CharField(
        label="Profile",
        max_length=320,
        required=False,
        help_text="External id, email, phone, anonymous id or profile id.",
    )
    as_of = forms.CharField(
        label="As of (UTC)",
        max_length=40,
        required=False,
        help_text="ISO 8601 time such as 2026-11-28T12:00:00Z; empty means now.",
    )
    by = forms.ChoiceField(choices=[("", "identifier"), ("id", "profile id")], required=False)

    def clean_profile(self) -> str:
        return self.cleaned_data["profile"].strip()

    def clean_as_of(self) -> dt.datetime | None:
        value = self.cleaned_data["as_of"].strip()
        if not value:
            return None
        try:
            return parse_as_of(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
