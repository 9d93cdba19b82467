"""Form fields several adapters' configs share (a credential, the identifiers sent, the phone region, the
API root), so the destination form asks for the same thing the same way on every kind."""

from __future__ import annotations

from collections.abc import Sequence

from django import forms
from django.conf import settings


def secret(label: str, what: str) -> forms.CharField:
    """A credential: a password input that never renders its value (``what`` says what to paste)."""
    return forms.CharField(
        label=label,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=f"{what} Stored encrypted; never shown again.",
    )


def identifiers(names: Sequence[str], *, initial: Sequence[str], help_text: str) -> forms.MultipleChoiceField:
    """Which profile identifiers the destination receives, as checkboxes."""
    return forms.MultipleChoiceField(
        label="Identifiers sent",
        choices=[(name, name.replace("_", " ")) for name in names],
        widget=forms.CheckboxSelectMultiple,
        initial=list(initial),
        help_text=help_text,
    )


def phone_region() -> forms.CharField:
    """The region national phone numbers are read in, ``DEFAULT_PHONE_REGION`` at first."""
    return forms.CharField(
        label="Default phone region",
        initial=getattr(settings, "DEFAULT_PHONE_REGION", "US"),
        max_length=2,
        help_text="Country used to read national phone numbers without a country code (ISO code, e.g. US).",
    )


def base_url(default: str, help_text: str, *, label: str = "API base URL") -> forms.URLField:
    """The platform's API root (https assumed), pointed at the sandbox for the demo and tests."""
    return forms.URLField(label=label, initial=default, assume_scheme="https", help_text=help_text)
