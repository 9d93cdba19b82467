"""Builder forms: the audience's metadata (crispy), and one small form per condition-row kind.

The row forms only render (labels, ids, widgets, choices): a row's inputs are read back by
:func:`.tree.form_data_to_rule`, because the tree's shape comes from the posted names, not from a fixed list
of fields, and the project validator, not the form, decides what a valid rule is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row
from django import forms
from django.utils import timezone

from ..choices import AudienceKind, AudienceObjective, AudienceOffer
from ..models import Audience
from .selectors import AudienceOption

INTENT_SUGGESTIONS = ("browse", "cart", "checkout", "replenish", "winback", "vip")
OP_CHOICES = [
    ("eq", "is"),
    ("ne", "is not"),
    ("gt", "is more than"),
    ("gte", "is at least"),
    ("lt", "is less than"),
    ("lte", "is at most"),
    ("in", "is one of"),
    ("not_in", "is none of"),
    ("contains", "contains"),
    ("exists", "is set"),
    ("not_exists", "is not set"),
]
VALUE_TYPE_CHOICES = [
    ("string", "text"),
    ("number", "number"),
    ("true", "true"),
    ("false", "false"),
    ("null", "null"),
    ("json", "JSON"),
]
GROUP_CHOICES = [("all", "ALL of these (and)"), ("any", "ANY of these (or)"), ("not", "NOT this")]
MODE_CHOICES = [
    ("did", "did it"),
    ("count", "did it N times"),
    ("last", "last time was"),
    ("first", "first time was"),
]
COUNT_OP_CHOICES = [
    ("gte", "at least"),
    ("gt", "more than"),
    ("eq", "exactly"),
    ("lte", "at most"),
    ("lt", "fewer than"),
]
WINDOW_CHOICES = [
    ("", "any time"),
    ("minutes", "last N minutes"),
    ("hours", "last N hours"),
    ("days", "last N days"),
    ("days_ago", "A to B days ago"),
]

SM_INPUT = "form-control form-control-sm"
SM_SELECT = "form-select form-select-sm"
TEXT_ATTRS = {"class": SM_INPUT, "autocomplete": "off", "spellcheck": "false"}
NUMBER_ATTRS = {"class": SM_INPUT, "type": "number", "step": "1", "min": "0", "inputmode": "numeric"}


class AudienceMetadataForm(forms.Form):
    """What describes an audience (slug, owner, purpose, ...) and what it removes (exclude, paired suppression).

    Field-level checks live here; everything the definition format says (slug pattern, required pairing,
    references and cycles) is checked by the project validator on the assembled payload, and its problems
    are added to these fields by the view.
    """

    name = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"class": "form-control-sm"}))
    slug = forms.CharField(
        max_length=64,
        help_text="lowercase-words-and-digits; fixed once saved",
        widget=forms.TextInput(
            attrs={"class": "form-control-sm font-monospace", "autocomplete": "off", "spellcheck": "false"}
        ),
    )
    owner = forms.ChoiceField(choices=(), widget=forms.Select(attrs={"class": "form-select-sm"}))
    kind = forms.ChoiceField(
        choices=AudienceKind.choices,
        initial=AudienceKind.TARGETING,
        widget=forms.Select(attrs={"class": "form-select-sm"}),
    )
    objective = forms.ChoiceField(
        choices=AudienceObjective.choices,
        initial=AudienceObjective.ADS,
        widget=forms.Select(attrs={"class": "form-select-sm"}),
    )
    offer = forms.ChoiceField(
        choices=AudienceOffer.choices,
        initial=AudienceOffer.NONE,
        widget=forms.Select(attrs={"class": "form-select-sm"}),
    )
    intent = forms.CharField(
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"class": "form-control-sm", "list": "builder-intents", "autocomplete": "off"}),
    )
    retire_on = forms.DateField(
        label="Retire on",
        widget=forms.DateInput(attrs={"class": "form-control-sm", "type": "date"}, format="%Y-%m-%d"),
    )
    purpose = forms.CharField(
        help_text="Why it exists; the next message or offer it maps to.",
        widget=forms.Textarea(attrs={"class": "form-control-sm", "rows": 3}),
    )
    paired_suppression = forms.ChoiceField(
        required=False,
        label="Paired suppression",
        help_text="Required for targeting + ads; its members are always removed.",
        widget=forms.Select(attrs={"class": "form-select-sm"}),
    )
    exclude = forms.MultipleChoiceField(
        required=False,
        label="Exclude members of",
        help_text="Ctrl/Cmd-click to pick several.",
        widget=forms.SelectMultiple(attrs={"class": "form-select-sm", "size": 3}),
    )

    def __init__(
        self,
        *args: Any,
        owners: Sequence[tuple[str, str]],
        audiences: Sequence[AudienceOption],
        suppressions: Sequence[AudienceOption],
        audience: Audience | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.audience = audience
        self.fields["owner"].choices = list(owners)
        self.fields["paired_suppression"].choices = [("", "— none —")] + [(o.slug, o.label) for o in suppressions]
        self.fields["exclude"].choices = [(o.slug, o.label) for o in audiences]
        if audience is not None:
            self.fields["slug"].disabled = True
            self.fields["slug"].help_text = "the slug of a saved audience does not change"
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            Row(
                Column("name", css_class="col-lg-5"),
                Column("slug", css_class="col-sm-7 col-lg-4"),
                Column("owner", css_class="col-sm-5 col-lg-3"),
            ),
            Row(
                Column("kind", css_class="col-6 col-md-4 col-lg-2"),
                Column("objective", css_class="col-6 col-md-4 col-lg-2"),
                Column("offer", css_class="col-6 col-md-4 col-lg-2"),
                Column("intent", css_class="col-6 col-md-6 col-lg-3"),
                Column("retire_on", css_class="col-md-6 col-lg-3"),
            ),
            Row(
                Column("purpose", css_class="col-lg-4"),
                Column("paired_suppression", css_class="col-md-6 col-lg-4"),
                Column("exclude", css_class="col-md-6 col-lg-4"),
            ),
        )

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if self.audience is None and Audience.objects.filter(slug=slug).exists():
            raise forms.ValidationError(f'an audience "{slug}" already exists: pick another slug or edit that one')
        return slug

    def payload(self, *, rule: Any, qa: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The v1 audience object these fields and ``rule`` make, keys in export order.

        Uses the cleaned value of every valid field and the raw text of the others, so the project validator
        still sees (and reports on) the whole audience while a field is wrong.
        """
        cleaned = getattr(self, "cleaned_data", {})

        def value(name: str) -> Any:
            if name in cleaned:
                return cleaned[name]
            if self.fields[name].disabled:
                return self.get_initial_for_field(self.fields[name], name)
            if name == "exclude":
                return self.data.getlist(name) if hasattr(self.data, "getlist") else self.data.get(name, [])
            return self.data.get(name, "")

        retire_on = value("retire_on")
        payload: dict[str, Any] = {
            "slug": value("slug"),
            "name": value("name"),
            "kind": value("kind"),
            "objective": value("objective"),
            "owner": value("owner"),
            "purpose": value("purpose"),
            "retire_on": retire_on.isoformat() if isinstance(retire_on, dt.date) else retire_on,
        }
        if value("paired_suppression"):
            payload["paired_suppression"] = value("paired_suppression")
        exclude = sorted(value("exclude") or [])
        if exclude:
            payload["exclude"] = exclude
        payload["offer"] = value("offer") or AudienceOffer.NONE
        if value("intent"):
            payload["intent"] = value("intent")
        payload["rule"] = rule
        if qa:
            payload["qa"] = qa
        return payload


def metadata_initial(data: dict[str, Any]) -> dict[str, Any]:
    """Initial values of :class:`AudienceMetadataForm` from a v1 audience object (import, export, playbook)."""
    initial = {
        key: data[key] for key in ("slug", "name", "kind", "objective", "owner", "purpose", "intent") if key in data
    }
    initial["offer"] = data.get("offer", AudienceOffer.NONE)
    initial["retire_on"] = data.get("retire_on", "")
    initial["paired_suppression"] = data.get("paired_suppression") or ""
    initial["exclude"] = list(data.get("exclude") or [])
    return initial


def default_retire_on(*, days: int = 90) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=days)


# --- condition rows (render only) -------------------------------------------------------------------------


def _text_input(datalist: str | None = None) -> forms.TextInput:
    attrs = dict(TEXT_ATTRS)
    if datalist:
        attrs["list"] = datalist
    return forms.TextInput(attrs=attrs)


def _select() -> forms.Select:
    return forms.Select(attrs={"class": SM_SELECT})


def _value_widget() -> forms.Textarea:
    # One line high, but a textarea: lists for "is one of" are typed one item per line.
    return forms.Textarea(attrs={"class": f"{SM_INPUT} builder-value", "rows": 1, "spellcheck": "false"})


class GroupRowForm(forms.Form):
    kind = forms.ChoiceField(label="Match", choices=GROUP_CHOICES, widget=_select())


class AttributeRowForm(forms.Form):
    kind = forms.CharField(widget=forms.HiddenInput)
    attribute = forms.CharField(label="Attribute", strip=False, widget=_text_input("builder-attributes"))
    op = forms.ChoiceField(label="Operator", choices=OP_CHOICES, widget=_select())
    value_type = forms.ChoiceField(label="Value type", choices=VALUE_TYPE_CHOICES, widget=_select())
    value = forms.CharField(label="Value", strip=False, widget=_value_widget())


class FilterRowForm(forms.Form):
    property = forms.CharField(label="Property", strip=False, widget=_text_input("builder-properties"))
    op = forms.ChoiceField(label="Operator", choices=OP_CHOICES, widget=_select())
    value_type = forms.ChoiceField(label="Value type", choices=VALUE_TYPE_CHOICES, widget=_select())
    value = forms.CharField(label="Value", strip=False, widget=_value_widget())


class EventRowForm(forms.Form):
    kind = forms.CharField(widget=forms.HiddenInput)
    event = forms.CharField(label="Event", strip=False, widget=_text_input("builder-events"))
    mode = forms.ChoiceField(label="Condition", choices=MODE_CHOICES, widget=_select())
    count_op = forms.ChoiceField(label="Count", choices=COUNT_OP_CHOICES, widget=_select())
    count_n = forms.CharField(label="N times", widget=forms.TextInput(attrs=NUMBER_ATTRS))
    window = forms.ChoiceField(label="When", choices=WINDOW_CHOICES, widget=_select())
    window_n = forms.CharField(label="N", widget=forms.TextInput(attrs={**NUMBER_ATTRS, "min": "1"}))
    window_from = forms.CharField(label="A days ago", widget=forms.TextInput(attrs=NUMBER_ATTRS))
    window_to = forms.CharField(label="B days ago", widget=forms.TextInput(attrs={**NUMBER_ATTRS, "min": "1"}))
    where_empty = forms.CharField(required=False, widget=forms.HiddenInput)


class MembershipRowForm(forms.Form):
    kind = forms.CharField(widget=forms.HiddenInput)
    in_audience = forms.ChoiceField(label="Member of audience", choices=(), widget=_select())

    def __init__(self, *args: Any, audiences: Sequence[AudienceOption] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "— choose an audience —")] + [(option.slug, option.label) for option in audiences]
        current = self.initial.get("in_audience")
        if current and current not in {slug for slug, _label in choices}:
            choices.append((current, f"{current} (unknown audience)"))
        self.fields["in_audience"].choices = choices


ROW_FORMS: dict[str, type[forms.Form]] = {
    "all": GroupRowForm,
    "any": GroupRowForm,
    "not": GroupRowForm,
    "attribute": AttributeRowForm,
    "event": EventRowForm,
    "in_audience": MembershipRowForm,
}
