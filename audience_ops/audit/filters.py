"""The audit page's filters (actor, action, object type, object, date range) as a django-filter FilterSet."""

from __future__ import annotations

import datetime
from typing import Any

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import AuditEvent
from .selectors import audit_actions, audit_actors, audit_object_types


class AuditFilterForm(forms.Form):
    """Checks the date range reads forwards, naming the field at fault."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_to < date_from:
            self.add_error("date_to", "must be on or after the 'from' date")
        return cleaned


def _day_start(day: datetime.date) -> datetime.datetime:
    """Midnight at the start of ``day`` in the current time zone, so the created_at index serves the range."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


class AuditEventFilter(django_filters.FilterSet):
    """Narrows the audit log; every choice list is read from the log itself, per request."""

    actor = django_filters.ModelChoiceFilter(
        queryset=get_user_model().objects.none(),
        empty_label="Anyone",
        null_label="Command line or system",
        label="Actor",
    )
    action = django_filters.ChoiceFilter(choices=[], empty_label="Any action", label="Action")
    object_type = django_filters.ChoiceFilter(
        choices=[], empty_label="Any type", label="Object type", method="filter_object_type"
    )
    object = django_filters.CharFilter(
        label="Object",
        method="filter_object",
        help_text="The object's id, or part of its name as it was at the time.",
        max_length=200,
    )
    date_from = django_filters.DateFilter(label="From", method="filter_date_from")
    date_to = django_filters.DateFilter(label="To", method="filter_date_to")

    class Meta:
        model = AuditEvent
        fields = ["actor", "action"]
        form = AuditFilterForm

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filters["actor"].queryset = audit_actors()
        self.filters["action"].extra["choices"] = [(action, action) for action in audit_actions()]
        self.filters["object_type"].extra["choices"] = [
            (f"{content_type.app_label}.{content_type.model}", str(content_type.name).capitalize())
            for content_type in audit_object_types()
        ]

    def filter_object_type(self, queryset: QuerySet[AuditEvent], name: str, value: str) -> QuerySet[AuditEvent]:
        app_label, _, model = value.partition(".")
        return queryset.filter(object_content_type__app_label=app_label, object_content_type__model=model)

    def filter_object(self, queryset: QuerySet[AuditEvent], name: str, value: str) -> QuerySet[AuditEvent]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(object_id=value) | Q(object_repr__icontains=value))

    def filter_date_from(self, queryset: QuerySet[AuditEvent], name: str, value: datetime.date) -> QuerySet[AuditEvent]:
        return queryset.filter(created_at__gte=_day_start(value))

    def filter_date_to(self, queryset: QuerySet[AuditEvent], name: str, value: datetime.date) -> QuerySet[AuditEvent]:
        # "To" includes the whole day.
        return queryset.filter(created_at__lt=_day_start(value + datetime.timedelta(days=1)))
