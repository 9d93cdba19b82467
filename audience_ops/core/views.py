"""Home page and the health probe."""

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from audience_ops.core.tasks import last_heartbeat
from audience_ops.customers.selectors import profile_stats


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "core/home.html", {"stats": profile_stats()})


@login_not_required
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: the database answers; the scheduler's last beat is informational."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "scheduler_heartbeat": last_heartbeat()})
