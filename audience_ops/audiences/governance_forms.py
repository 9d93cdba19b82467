"""Forms of the governance pages: QA test profiles, QA cases, QA runs, review decisions and lifecycle actions.

They validate what a person typed (a profile that exists and has an external id, a reason that is not blank,
a readable time) so the page can put the error next to the field; the services check the rules again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.db.models import Q

from audience_ops.customers.models import Profile

from .choices import QaExpectation
from .models import QATestProfile
from .services import parse_as_of

TIME_HELP = "UTC, ISO 8601 such as 2026-11-28T12:00:00Z; empty means now."


def _optional_time(value: str) -> dt.datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return parse_as_of(value)
    except ValueError as exc:
        raise forms.ValidationError(str(exc)) from exc


# --- QA test profiles --------------------------------------------------------------------------------------


class QATestProfileForm(forms.Form):
    """Mark a profile as a named QA fixture: the profile by external id or email, a name, a description."""

    profile = forms.CharField(
        label="Profile",
        max_length=320,
        help_text="The profile's external id or email. It must have an external id: QA cases refer to it.",
    )
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text='What the profile stands for, e.g. "recent purchaser" or "cart abandoner".',
    )
    description = forms.CharField(
        label="Description",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What makes this profile that kind of shopper (its events and traits).",
    )

    def __init__(self, *args: Any, fixture: QATestProfile | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fixture = fixture
        if fixture is not None:
            # Editing: the profile stays; only name and description change.
            del self.fields["profile"]

    def clean_profile(self) -> Profile:
        query = self.cleaned_data["profile"].strip()
        matches = list(Profile.objects.filter(Q(external_id=query) | Q(email__iexact=query)).order_by("pk")[:5])
        by_external_id = [profile for profile in matches if profile.external_id == query]
        if by_external_id:
            profile = by_external_id[0]
        elif not matches:
            raise forms.ValidationError(f"No profile has the external id or email “{query}”.")
        elif len(matches) > 1:
            raise forms.ValidationError(f"{len(matches)} profiles have the email “{query}”: use the external id.")
        else:
            profile = matches[0]
        if not profile.external_id:
            raise forms.ValidationError(
                f"{profile.label} has no external id (an anonymous profile): QA cases refer to profiles by "
                "external id, so it cannot be a QA test profile."
            )
        existing = QATestProfile.objects.filter(profile=profile).first()
        if existing is not None:
            raise forms.ValidationError(f"{profile.external_id} is already the QA test profile “{existing.name}”.")
        return profile

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the profile a name.")
        taken = QATestProfile.objects.filter(name__iexact=name)
        if self.fixture is not None:
            taken = taken.exclude(pk=self.fixture.pk)
        if taken.exists():
            raise forms.ValidationError(f"There is already a QA test profile named “{name}”.")
        return name

    def clean_description(self) -> str:
        return self.cleaned_data["description"].strip()


# --- QA cases and runs -------------------------------------------------------------------------------------


class QACaseForm(forms.Form):
    """One QA case: a profile (by external id), whether it must be in or out, and why."""

    profile = forms.CharField(
        label="Profile (external id)",
        max_length=255,
        widget=forms.TextInput(attrs={"list": "qa-profile-options", "autocomplete": "off"}),
    )
    expect = forms.ChoiceField(label="Expected", choices=QaExpectation.choices)
    note = forms.CharField(label="Note", max_length=500, required=False)

    def clean_profile(self) -> str:
        external_id = self.cleaned_data["profile"].strip()
        if not Profile.objects.filter(external_id=external_id).exists():
            raise forms.ValidationError(f"No profile has the external id “{external_id}”.")
        return external_id

    def clean_note(self) -> str:
        return self.cleaned_data["note"].strip()

    def case(self) -> dict[str, str]:
        """The case in the v1 format's ``qa`` shape."""
        return {
            "profile": self.cleaned_data["profile"],
            "expect": self.cleaned_data["expect"],
            "note": self.cleaned_data["note"],
        }


QACaseFormSet = forms.formset_factory(QACaseForm, extra=0, max_num=200, validate_max=True)
QA_PREFIX = "cases"


def qa_case_rows_from_post(data: Any, prefix: str = QA_PREFIX) -> list[dict[str, str]]:
    """The rows as typed, unvalidated, in order: what an add/remove edit re-renders without losing input."""
    try:
        total = min(int(data.get(f"{prefix}-TOTAL_FORMS", 0)), 200)
    except (TypeError, ValueError):
        total = 0
    return [
        {
            "profile": data.get(f"{prefix}-{index}-profile", ""),
            "expect": data.get(f"{prefix}-{index}-expect", QaExpectation.IN),
            "note": data.get(f"{prefix}-{index}-note", ""),
        }
        for index in range(total)
    ]


class QARunForm(forms.Form):
    """When to evaluate the cases: now, or a given time (to reproduce a run)."""

    as_of = forms.CharField(label="As of", max_length=40, required=False, help_text=TIME_HELP)

    def clean_as_of(self) -> dt.datetime | None:
        return _optional_time(self.cleaned_data["as_of"])


# --- review decisions and lifecycle ------------------------------------------------------------------------


class ApproveForm(forms.Form):
    """Approve the version under review, now or at a launch time."""

    launch_at = forms.CharField(
        label="Launch at",
        max_length=40,
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="UTC. Empty: the version goes live as soon as you approve it.",
    )

    def clean_launch_at(self) -> dt.datetime | None:
        return _optional_time(self.cleaned_data["launch_at"])


class ReasonForm(forms.Form):
    """A reason for a decision; required for rejections and retirements, optional for a pause."""

    reason = forms.CharField(
        label="Reason",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Give a reason."},
    )

    def __init__(self, *args: Any, required: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = required

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if self.fields["reason"].required and not reason:
            raise forms.ValidationError("Give a reason.")
        return reason
