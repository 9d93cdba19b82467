"""The audit page: a read-only, filtered list of audit events. No view here changes or deletes an event."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.db.models import QuerySet
from django.views.generic import ListView

from .filters import AuditEventFilter
from .models import AuditEvent
from .selectors import audit_event_list, audit_object_links

VIEW_PERMISSION = "audit.view_auditevent"
FILTER_NAMES = ("actor", "action", "object_type", "object", "date_from", "date_to")


def value_display(value: Any) -> str:
    """A recorded value as a reader should see it: strings as they are, nothing as an em dash, else JSON.

    An empty string shows as "(empty)" so "email: (empty) → a@b.c" does not read as a missing value.
    """
    if value is None:
        return "—"
    if value == "":
        return "(empty)"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def change_lines(event: AuditEvent) -> list[tuple[str, str, str]]:
    """The event's changed fields as (field, before, after) for "field: before → after" lines."""
    changes = event.changes if isinstance(event.changes, dict) else {}
    return [(field, value_display(pair[0]), value_display(pair[1])) for field, pair in sorted(changes.items())]


class AuditEventListView(PermissionRequiredMixin, ListView):
    """Newest first, 50 a page, narrowed by the GET filters; invalid filters show their error and no rows."""

    permission_required = VIEW_PERMISSION
    template_name = "audit/auditevent_list.html"
    context_object_name = "events"
    paginate_by = 50

    def get_queryset(self) -> QuerySet[AuditEvent]:
        self.filterset = AuditEventFilter(self.request.GET or None, queryset=audit_event_list())
        if self.filterset.is_bound and not self.filterset.is_valid():
            return self.filterset.queryset.none()
        return self.filterset.qs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        events = list(context["events"])
        links = audit_object_links(events=events)
        context.update(
            filter=self.filterset,
            rows=[
                {
                    "event": event,
                    "url": links.get(event.pk),
                    "changes": change_lines(event),
                    # A creation has no "before": its lines show the new values only.
                    "is_creation": event.before is None and event.after is not None,
                    "before": json.dumps(event.before, indent=2, sort_keys=True, ensure_ascii=False),
                    "after": json.dumps(event.after, indent=2, sort_keys=True, ensure_ascii=False),
                }
                for event in events
            ],
            is_filtered=any(self.request.GET.get(name) for name in FILTER_NAMES),
        )
        return context
