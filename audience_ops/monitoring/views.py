"""The alert list (everyone with ``view_alert``) and its acknowledge/resolve actions (ops and admins).

Thin views over :mod:`.services`; actions are POST with CSRF and check ``change_alert`` here and again in
the service. The dashboard links here and posts its acknowledge buttons to the same action.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import ListView

from .filters import AlertActionForm, AlertFilterForm
from .models import Alert
from .services import alert_acknowledge, alert_resolve


class AlertListView(PermissionRequiredMixin, ListView):
    """Alerts, most recently seen first, 50 a page; by default only those still open or acknowledged."""

    permission_required = "monitoring.view_alert"
    template_name = "monitoring/alert_list.html"
    context_object_name = "alerts"
    paginate_by = 50

    def get_queryset(self):
        self.filter_form = AlertFilterForm(self.request.GET or {"state": "active"})
        alerts = Alert.objects.select_related("audience", "sync", "destination", "acknowledged_by", "resolved_by")
        if not self.filter_form.is_valid():
            return alerts.none()
        return self.filter_form.filter(alerts).order_by("-last_seen", "-pk")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        context.update(
            filter_form=self.filter_form,
            is_filtered=any(self.request.GET.get(name) for name in ("state", "kind", "severity")),
            querystring=query.urlencode(),
        )
        return context


class AlertActionView(PermissionRequiredMixin, View):
    """POST: acknowledge or resolve one alert (``action`` is set by the URL), then go back where it came from."""

    permission_required = "monitoring.change_alert"
    action = "acknowledge"

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        alert = get_object_or_404(Alert, pk=pk)
        form = AlertActionForm(request.POST)
        note = form.cleaned_data["note"] if form.is_valid() else ""
        service = alert_acknowledge if self.action == "acknowledge" else alert_resolve
        try:
            service(actor=request.user, alert=alert, note=note)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            done = "acknowledged" if self.action == "acknowledge" else "resolved"
            messages.success(request, f"Alert {done}: {alert.get_kind_display()} - {alert.subject_label}.")
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = reverse("monitoring:alert_list")
        return redirect(target)
