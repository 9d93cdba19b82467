"""Destination pages: everyone who may view sees the list and details; admins create, edit, delete and test.

Thin views over :mod:`.services`; credentials are only ever rendered masked.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View
from django.views.generic import DetailView, ListView

from .adapters.base import ConfigError
from .forms import DestinationForm, KindForm
from .models import Destination
from .registry import adapter_class, adapter_for, kinds
from .rules import identifier_rules
from .services import destination_create, destination_delete, destination_test_connection, destination_update


def _masked(destination: Destination) -> dict[str, str]:
    try:
        return destination.masked_credentials()
    except ValueError:
        return {"credentials": "cannot be decrypted with the configured keys"}


class DestinationListView(PermissionRequiredMixin, ListView):
    """Every destination with its kind, identifiers, masked credentials and last connection test."""

    permission_required = "destinations.view_destination"
    template_name = "destinations/destination_list.html"
    context_object_name = "destinations"

    def get_queryset(self) -> QuerySet[Destination]:
        return Destination.objects.select_related("created_by").order_by("name")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["rows"] = [{"destination": item, "credentials": _masked(item)} for item in context["destinations"]]
        context["kinds"] = kinds()
        return context


class DestinationDetailView(PermissionRequiredMixin, DetailView):
    """One destination's settings, masked credentials and last test result."""

    permission_required = "destinations.view_destination"
    model = Destination
    template_name = "destinations/destination_detail.html"
    context_object_name = "destination"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["credentials"] = _masked(self.object)
        context["config_items"] = sorted(self.object.config.items())
        try:
            capabilities = adapter_for(self.object).capabilities
        except (ConfigError, ValueError):  # unreadable credentials or config: the page still shows the rest
            capabilities = None
        context["capabilities"] = capabilities
        if capabilities is not None:
            context["identifier_rules"] = identifier_rules(self.object.kind, capabilities.identifier_types)
        return context


class DestinationCreateView(PermissionRequiredMixin, View):
    """GET shows the form for ``?kind=`` (default: the first kind); POST creates the destination."""

    permission_required = "destinations.add_destination"
    template_name = "destinations/destination_form.html"

    def _kind(self, request: HttpRequest) -> str:
        form = KindForm(request.GET or request.POST or None)
        if form.is_bound and form.is_valid():
            return form.cleaned_data["kind"]
        return kinds()[0][0]

    def get(self, request: HttpRequest) -> HttpResponse:
        kind = self._kind(request)
        return self._render(request, DestinationForm(kind=kind), kind)

    def post(self, request: HttpRequest) -> HttpResponse:
        kind = self._kind(request)
        form = DestinationForm(request.POST, kind=kind)
        if form.is_valid():
            try:
                destination = destination_create(
                    actor=request.user,
                    name=form.cleaned_data["name"],
                    kind=kind,
                    config=form.config(),
                    enabled=form.cleaned_data["enabled"],
                )
            except ValidationError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, f"Destination {destination} created. Test its connection next.")
                return redirect(destination)
        return self._render(request, form, kind, status=400)

    def _render(self, request: HttpRequest, form: DestinationForm, kind: str, status: int = 200) -> HttpResponse:
        context = {
            "form": form,
            "kind": kind,
            "kind_label": adapter_class(kind).label,
            "kind_form": KindForm(initial={"kind": kind}),
            "destination": None,
        }
        return render(request, self.template_name, context, status=status)


class DestinationUpdateView(PermissionRequiredMixin, View):
    """Edit name, enabled and config; a blank secret field keeps the stored secret."""

    permission_required = "destinations.change_destination"
    template_name = "destinations/destination_form.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        destination = get_object_or_404(Destination, pk=pk)
        form = DestinationForm(kind=destination.kind, destination=destination)
        return render(request, self.template_name, {"form": form, "kind": destination.kind, "destination": destination})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        destination = get_object_or_404(Destination, pk=pk)
        form = DestinationForm(request.POST, kind=destination.kind, destination=destination)
        if form.is_valid():
            try:
                destination = destination_update(
                    actor=request.user,
                    destination=destination,
                    name=form.cleaned_data["name"],
                    config=form.config(),
                    enabled=form.cleaned_data["enabled"],
                )
            except ValidationError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, f"Destination {destination} saved.")
                return redirect(destination)
        context = {"form": form, "kind": destination.kind, "destination": destination}
        return render(request, self.template_name, context, status=400)


class DestinationDeleteView(PermissionRequiredMixin, View):
    """GET asks for confirmation; POST deletes, unless syncs still use the destination."""

    permission_required = "destinations.delete_destination"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        destination = get_object_or_404(Destination, pk=pk)
        return render(request, "destinations/destination_delete.html", {"destination": destination})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        destination = get_object_or_404(Destination, pk=pk)
        name = destination.name
        try:
            destination_delete(actor=request.user, destination=destination)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect(destination)
        messages.success(request, f"Destination {name} deleted.")
        return redirect("destinations:destination_list")


class DestinationTestView(PermissionRequiredMixin, View):
    """POST: call the platform with the stored credentials and show what it said."""

    permission_required = "destinations.change_destination"

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        destination = get_object_or_404(Destination, pk=pk)
        ok, message = destination_test_connection(actor=request.user, destination=destination)
        if ok:
            messages.success(request, f"Connection test passed: {message}")
        else:
            messages.error(request, f"Connection test failed: {message}")
        return redirect(destination)
