"""Profile browser and write-key management: thin views over the selectors and the write-key services."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import DetailView, FormView, ListView

from .forms import ProfileSearchForm, TimelineFilterForm, WriteKeyCreateForm
from .models import Profile, WriteKey
from .selectors import (
    profile_anonymous_ids,
    profile_event_counts,
    profile_event_names,
    profile_recent,
    profile_search,
    profile_timeline,
)
from .writekeys import writekey_create, writekey_revoke

TIMELINE_PAGE_SIZE = 50


def json_display(value: Any) -> str:
    """A trait or property value as a reader should see it: strings as they are, anything else as JSON.

    ``None`` shows as ``null`` and ``True`` as ``true``, so a trait explicitly set to null is told apart from a
    missing one and a boolean from the string "True".
    """
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), sort_keys=True, default=str)


def properties_display(properties: Any) -> str:
    """Event properties on one line (``key: value, ...``), the way a timeline row has room for.

    Keys are sorted: PostgreSQL's jsonb does not keep the order they arrived in, and the page should read the
    same on both databases.
    """
    if not isinstance(properties, dict):
        return json_display(properties)
    return ", ".join(
        f"{key}: {json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)}"
        for key, value in sorted(properties.items())
    )


class ProfileListView(PermissionRequiredMixin, ListView):
    """Search profiles by any identifier; without a query, the newest profiles."""

    permission_required = "customers.view_profile"
    template_name = "customers/profile_list.html"
    context_object_name = "profiles"
    paginate_by = 50

    def get_queryset(self) -> QuerySet[Profile]:
        self.form = ProfileSearchForm(self.request.GET or None)
        self.query = self.form.cleaned_data["q"] if self.form.is_valid() else ""
        if self.query:
            return profile_search(query=self.query)
        return profile_recent()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        profiles = list(context["profiles"])
        counts = profile_event_counts(profile_ids=[profile.pk for profile in profiles])
        context.update(
            form=self.form,
            default_phone_region=settings.DEFAULT_PHONE_REGION,
            query=self.query,
            rows=[(profile, counts[profile.pk]) for profile in profiles],
        )
        return context


class ProfileDetailView(PermissionRequiredMixin, DetailView):
    """One profile: identifiers, traits, merged anonymous ids and its event timeline.

    The timeline pages and filters by plain GET links and forms; with htmx only the timeline is swapped.
    """

    permission_required = ("customers.view_profile", "customers.view_event")
    model = Profile
    template_name = "customers/profile_detail.html"
    context_object_name = "profile"

    def get_template_names(self) -> list[str]:
        htmx = self.request.htmx
        if htmx and htmx.target == "timeline" and not htmx.history_restore_request:
            return ["customers/_timeline.html"]
        return [self.template_name]

    def render_to_response(self, context: dict[str, Any], **kwargs: Any) -> HttpResponse:
        response = super().render_to_response(context, **kwargs)
        # The same URL answers with a page or a fragment: caches must tell them apart.
        patch_vary_headers(response, ["HX-Request", "HX-Target"])
        return response

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        profile = self.object
        filter_form = TimelineFilterForm(self.request.GET or None, event_names=profile_event_names(profile=profile))
        event_name = filter_form.cleaned_data["event"] if filter_form.is_valid() else ""
        page = Paginator(profile_timeline(profile=profile, event_name=event_name), TIMELINE_PAGE_SIZE).get_page(
            self.request.GET.get("page")
        )
        context.update(
            traits=[(key, json_display(value), value is None) for key, value in sorted(profile.traits.items())],
            anonymous_ids=profile_anonymous_ids(profile=profile),
            filter_form=filter_form,
            event_name=event_name,
            page_obj=page,
            timeline=[(event, properties_display(event.properties)) for event in page.object_list],
        )
        if self.request.user.has_perm("audiences.view_audience"):
            # Imported here: customers must not depend on audiences at import time (audiences builds on it).
            from audience_ops.audiences.ui_selectors import profile_audiences

            context["memberships"] = profile_audiences(profile=profile)
        return context


class WriteKeyListView(PermissionRequiredMixin, ListView):
    """Every write key, active and revoked, newest first."""

    permission_required = "customers.view_writekey"
    template_name = "customers/writekey_list.html"
    context_object_name = "write_keys"

    def get_queryset(self) -> QuerySet[WriteKey]:
        return WriteKey.objects.select_related("created_by").order_by("-created_at", "-id")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["form"] = WriteKeyCreateForm()
        return context


@method_decorator(never_cache, name="dispatch")
class WriteKeyCreateView(PermissionRequiredMixin, FormView):
    """Create a key and show it once: the result is rendered by the POST itself and never stored or cached."""

    permission_required = "customers.add_writekey"
    form_class = WriteKeyCreateForm
    template_name = "customers/writekey_form.html"

    def form_valid(self, form: WriteKeyCreateForm) -> HttpResponse:
        try:
            write_key, raw_key = writekey_create(actor=self.request.user, name=form.cleaned_data["name"])
        except ValidationError as exc:
            form.add_error(None, exc)
            return self.form_invalid(form)
        track_url = self.request.build_absolute_uri("/v1/track")
        return render(
            self.request,
            "customers/writekey_created.html",
            {"write_key": write_key, "raw_key": raw_key, "track_url": track_url},
        )


class WriteKeyRevokeView(PermissionRequiredMixin, View):
    """GET asks for confirmation; POST revokes the key, after which the tracking API refuses it."""

    permission_required = "customers.change_writekey"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        write_key = get_object_or_404(WriteKey, pk=pk)
        return render(request, "customers/writekey_revoke.html", {"write_key": write_key})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        write_key = get_object_or_404(WriteKey, pk=pk)
        if write_key.revoked_at is not None:
            messages.info(request, f"Write key {write_key} was already revoked.")
        else:
            writekey_revoke(actor=request.user, write_key=write_key)
            messages.success(request, f"Write key {write_key} is revoked; messages sent with it are now refused.")
        return redirect("customers:writekey_list")
