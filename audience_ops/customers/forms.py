"""Forms of the profile browser and of write-key management: they validate input before a selector or service runs."""

from __future__ import annotations

from django import forms

from .models import WriteKey


class ProfileSearchForm(forms.Form):
    """The one search box of the profile browser."""

    q = forms.CharField(
        label="Search profiles",
        required=False,
        max_length=320,
        strip=True,
        help_text="Email, phone, external id or anonymous id. Leave empty to see the newest profiles.",
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "email, phone, external id or anonymous id", "autofocus": True}
        ),
    )


class TimelineFilterForm(forms.Form):
    """Narrow a profile's event timeline to one event name; the choices are the names the profile has."""

    event = forms.ChoiceField(label="Event name", required=False)

    def __init__(self, *args, event_names: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["event"].choices = [("", "All events"), *((name, name) for name in event_names)]


class WriteKeyCreateForm(forms.Form):
    """Name a new write key after where it will be used, so a list of keys says which one to revoke."""

    name = forms.CharField(
        label="Name",
        max_length=WriteKey._meta.get_field("name").max_length,
        help_text="Where the key is used, e.g. 'storefront' or 'mobile app'.",
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Name the key after where it is used.")
        return name
