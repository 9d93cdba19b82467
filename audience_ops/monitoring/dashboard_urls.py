"""The dashboard's panels: charts and identifier coverage that the audience and sync pages load with htmx.

The dashboard itself is the home page (``/``, see ``audience_ops.core.views.home``).
"""

from django.urls import path

from . import dashboard_views

app_name = "dashboard"

urlpatterns = [
    path(
        "audiences/<slug:slug>/destinations/",
        dashboard_views.AudienceDestinationsPanelView.as_view(),
        name="audience_destinations",
    ),
    path("syncs/<int:pk>/charts/", dashboard_views.SyncChartsPanelView.as_view(), name="sync_charts"),
]
