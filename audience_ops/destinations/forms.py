"""The destination form: name and enabled, plus the config fields the kind's adapter declares.

Secret fields never show their value. On edit they are optional: left blank, the stored secret is kept
(the service merges it back), so an admin can rename a destination without retyping its token.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from .models import Destination
from .registry import adapter_class, kinds

_CONFIG_PATH = re.compile(r"^config\.(\w+)")


class KindForm(forms.Form):
    """Which kind of destination to create (the rest of the form depends on it)."""

    kind = forms.ChoiceField(label="Kind", choices=kinds)


class DestinationForm(forms.Form):
    """Create or edit a destination of one kind."""

    name = forms.CharField(
        label="Name",
        max_length=Destination._meta.get_field("name").max_length,
        help_text="How people pick it when they set up a sync, e.g. 'Meta - Glow & Grind US'.",
    )
    enabled = forms.BooleanField(
        label="Enabled",
        required=False,
        initial=True,
        help_text="A disabled destination receives no syncs.",
    )

    def __init__(self, *args: Any, kind: str, destination: Destination | None = None, **kwargs: Any) -> None:
        self.kind = kind
        self.destination = destination
        self.adapter = adapter_class(kind)
        if destination is not None:
            initial = {"name": destination.name, "enabled": destination.enabled, **destination.config}
            kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        masked = destination.masked_credentials() if destination is not None else {}
        for name, field in self.adapter.form_fields().items():
            if name in self.adapter.secret_keys and destination is not None:
                field.required = False
                field.help_text = f"Stored: {masked.get(name, 'nothing')}. Leave blank to keep it. {field.help_text}"
            self.fields[name] = field

    @property
    def config_field_names(self) -> list[str]:
        return [name for name in self.fields if name not in ("name", "enabled")]

    def config(self) -> dict[str, Any]:
        """The config the service validates: blank optional values are left out so defaults apply."""
        config: dict[str, Any] = {}
        for name in self.config_field_names:
            value = self.cleaned_data.get(name)
            if value in (None, "", []):
                continue
            config[name] = list(value) if isinstance(value, (list, tuple)) else value
        return config

    def add_service_error(self, exc: ValidationError) -> None:
        """Put a service's errors on the field they name (``config.identifiers[1]: ...`` -> identifiers)."""
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        for key, messages in exc.message_dict.items():
            for message in messages:
                match = _CONFIG_PATH.match(message) if key == "config" else None
                field = match.group(1) if match else key
                if field in self.fields:
                    self.add_error(field, message.split(": ", 1)[-1] if match else message)
                else:
                    self.add_error(None, message)
