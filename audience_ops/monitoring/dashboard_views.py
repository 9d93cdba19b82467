"""The ops dashboard (the home page) and the chart and coverage panels the audience and sync pages load.

Thin views over :mod:`.dashboard`, :mod:`.chart_data` and :mod:`.coverage`; nothing here writes. The panels are
fetched by htmx after the host page has rendered (coverage runs the destinations' normalisation over a
sample, which must not slow the audience page down) and also work as plain pages without JavaScript.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.shortcuts import get_object_or_404
from django.views.generic import TemplateView

from audience_ops.audiences.models import Audience
from audience_ops.customers.selectors import profile_stats
from audience_ops.syncs.models import Sync

from . import chart_data
from .coverage import audience_coverage
from .dashboard import ALERTS_SHOWN, dashboard_alerts, dashboard_rows, dashboard_summary, live_audiences
from .dashboard_filters import DashboardFilter

DASHBOARD_PERMISSION = "audiences.view_audience"


class DashboardView(PermissionRequiredMixin, TemplateView):
    """Live audiences with size, 7-day change, syncs and their health, match rates and open alerts."""

    permission_required = DASHBOARD_PERMISSION
    template_name = "monitoring/dashboard.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        filterset = DashboardFilter(self.request.GET or None, queryset=live_audiences())
        valid = not filterset.is_bound or filterset.is_valid()
        audiences = filterset.qs if valid else live_audiences().none()
        destination = filterset.form.cleaned_data.get("destination") if filterset.is_bound and valid else None
        filtered = filterset.is_bound and any(self.request.GET.get(name) for name in filterset.filters)
        rows = dashboard_rows(audiences=audiences, destination_id=destination.pk if destination else None)
        alerts = dashboard_alerts(
            audience_ids=[row.audience.pk for row in rows] if filtered else None,
            destination_id=destination.pk if destination else None,
        )
        context.update(
            filter=filterset,
            is_filtered=filtered,
            destination=destination,
            rows=rows,
            summary=dashboard_summary(rows=rows, alerts=alerts),
            alerts=list(alerts[:ALERTS_SHOWN]),
            stats=profile_stats(),
        )
        return context


class PanelView(PermissionRequiredMixin, TemplateView):
    """A fragment for htmx; a full page (the fragment inside the site layout) when opened directly."""

    panel_template: str
    page_title: str = ""

    def get_template_names(self) -> list[str]:
        if self.request.headers.get("HX-Request"):
            return [self.panel_template]
        return ["monitoring/panel_page.html"]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["panel_template"] = self.panel_template
        return context


class AudienceDestinationsPanelView(PanelView):
    """Match rate per destination over time and identifier coverage per destination, for one audience."""

    permission_required = ("audiences.view_audience", "syncs.view_sync")
    panel_template = "monitoring/_audience_destinations.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        audience = get_object_or_404(Audience, slug=self.kwargs["slug"])
        match_rates = chart_data.audience_match_rate_series(audience=audience)
        context.update(
            audience=audience,
            page_title=f"{audience.name}: destinations",
            match_rates=match_rates,
            match_rate_rows=chart_data.match_rate_table(match_rates),
            coverage=audience_coverage(audience=audience),
        )
        return context


class SyncChartsPanelView(PanelView):
    """Match rate over time and duration and volume per run, for one sync."""

    permission_required = "syncs.view_sync"
    panel_template = "monitoring/_sync_charts.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        sync = get_object_or_404(Sync.objects.select_related("audience", "destination"), pk=self.kwargs["pk"])
        points = chart_data.sync_run_points(sync=sync)
        match_rates = chart_data.match_rate_from_runs(points, label=sync.destination.name)
        context.update(
            sync=sync,
            page_title=f"{sync.audience.name} → {sync.destination.name}: charts",
            run_points=points,
            match_rates=match_rates,
            match_rate_rows=chart_data.match_rate_table(match_rates),
        )
        return context
