"""The dashboard's filters (owner, objective, destination) as a django-filter FilterSet over live audiences."""

from __future__ import annotations

from typing import Any

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from audience_ops.audiences.choices import AudienceObjective
from audience_ops.audiences.models import Audience
from audience_ops.destinations.models import Destination

from .dashboard import live_audiences


class DashboardFilter(django_filters.FilterSet):
    """Narrows the dashboard; the owner list holds only people who own a live audience."""

    owner = django_filters.ModelChoiceFilter(
        queryset=get_user_model().objects.none(), empty_label="Any owner", label="Owner"
    )
    objective = django_filters.ChoiceFilter(
        choices=AudienceObjective.choices, empty_label="Any objective", label="Objective"
    )
    destination = django_filters.ModelChoiceFilter(
        queryset=Destination.objects.none(),
        label="Destination",
        empty_label="Any destination",
        method="filter_destination",
        help_text="Audiences synced to this destination; only that destination's sync is shown.",
    )

    class Meta:
        model = Audience
        fields = ["owner", "objective"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owner_ids = live_audiences().values("owner_id")
        self.filters["owner"].queryset = get_user_model().objects.filter(pk__in=owner_ids).order_by("username")
        self.filters["destination"].queryset = Destination.objects.order_by("name")
        self.filters["owner"].field.label_from_instance = lambda user: user.get_username()

    def filter_destination(self, queryset: QuerySet[Audience], name: str, value: Destination) -> QuerySet[Audience]:
        # One sync per (audience, destination), so the join cannot duplicate audiences.
        return queryset.filter(syncs__destination=value)
