"""URL configuration: one include per app; the tracking API lives under /v1/ as Segment's does."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("audience_ops.core.urls")),
    path("accounts/", include("audience_ops.accounts.urls")),
    path("profiles/", include("audience_ops.customers.urls")),
    path("audiences/", include("audience_ops.audiences.urls")),
    path("builder/", include("audience_ops.audiences.builder_urls")),
    path("audit/", include("audience_ops.audit.urls")),
    path("destinations/", include("audience_ops.destinations.urls")),
    path("syncs/", include("audience_ops.syncs.urls")),
    path("monitoring/", include("audience_ops.monitoring.urls")),
    path("dashboard/", include("audience_ops.monitoring.dashboard_urls")),
    path("v1/", include("audience_ops.customers.api_urls")),
    path("django-admin/rq/", include("django_rq.urls")),
    path("django-admin/", admin.site.urls),
]
