"""Home page and the health probe.

The home page is the ops dashboard for everyone whose role can see audiences; an account without a role
gets a welcome page that says so.
"""

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from audience_ops.core.tasks import last_heartbeat
from audience_ops.customers.selectors import profile_stats
from audience_ops.monitoring.dashboard_views import DASHBOARD_PERMISSION, DashboardView

dashboard = DashboardView.as_view()


def home(request: HttpRequest) -> HttpResponse:
    if request.user.has_perm(DASHBOARD_PERMISSION):
        return dashboard(request)
    return render(request, "core/home.html", {"stats": profile_stats()})


@login_not_required
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: the database answers; the scheduler's last beat is informational."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "scheduler_heartbeat": last_heartbeat()})
