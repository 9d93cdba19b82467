"""The audience list's filters and sort order, as a django-filter FilterSet read from the GET query."""

from __future__ import annotations

from typing import Any

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import F, QuerySet

from .choices import AudienceKind, AudienceObjective, AudienceStatus
from .models import Audience
from .ui_selectors import audience_intents

# sort parameter -> ordering. Never-evaluated audiences (no size) come last either way, on both databases
# (PostgreSQL and SQLite disagree on where NULLs sort by default).
SORTS = {
    "name": (F("name").asc(), F("slug").asc()),
    "-name": (F("name").desc(), F("slug").asc()),
    "size": (F("last_size").asc(nulls_last=True), F("slug").asc()),
    "-size": (F("last_size").desc(nulls_last=True), F("slug").asc()),
}
SORT_CHOICES = [
    ("name", "Name (A to Z)"),
    ("-name", "Name (Z to A)"),
    ("size", "Size (smallest first)"),
    ("-size", "Size (largest first)"),
]


class AudienceFilter(django_filters.FilterSet):
    """Owner, kind, objective, status and intent filters plus the sort order of the audience list.

    Expects the queryset of :func:`~.ui_selectors.audience_list_rows` (sorting by size needs ``last_size``).
    """

    owner = django_filters.ModelChoiceFilter(
        queryset=get_user_model().objects.none(),
        empty_label="Any owner",
        label="Owner",
    )
    kind = django_filters.ChoiceFilter(choices=AudienceKind.choices, empty_label="Any kind", label="Kind")
    objective = django_filters.ChoiceFilter(
        choices=AudienceObjective.choices, empty_label="Any objective", label="Objective"
    )
    status = django_filters.ChoiceFilter(choices=AudienceStatus.choices, empty_label="Any status", label="Status")
    intent = django_filters.ChoiceFilter(choices=[], empty_label="Any intent", label="Intent")
    # No empty choice: with no sort given the list is by name, which is what the select then shows.
    sort = django_filters.ChoiceFilter(choices=SORT_CHOICES, empty_label=None, label="Sort by", method="filter_sort")

    class Meta:
        model = Audience
        fields = ["owner", "kind", "objective", "status", "intent"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only people who own an audience are worth offering; the choices are read per request.
        self.filters["owner"].queryset = (
            get_user_model().objects.filter(owned_audiences__isnull=False).distinct().order_by("username")
        )
        self.filters["intent"].extra["choices"] = [(intent, intent) for intent in audience_intents()]

    def filter_queryset(self, queryset: QuerySet[Audience]) -> QuerySet[Audience]:
        # By name unless a valid sort says otherwise (an invalid one is reported on the form and ignored).
        return super().filter_queryset(queryset.order_by(*SORTS["name"]))

    def filter_sort(self, queryset: QuerySet[Audience], name: str, value: str) -> QuerySet[Audience]:
        return queryset.order_by(*SORTS[value]) if value in SORTS else queryset
