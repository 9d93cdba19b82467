"""Audience pages: the list, one audience (definition, versions, size trend, members), version diffs, member CSV
export, "Evaluate now" and "why is this profile in or out". Thin views over the selectors and services.

Every page needs ``audiences.view_audience``, which all three roles hold. "Evaluate now" needs it too: it
only refreshes sizes and membership history, nothing a destination receives (see
:func:`~.ui_services.audience_evaluation_request`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views import View
from django.views.generic import ListView, TemplateView
from redis.exceptions import RedisError

from .choices import AudienceStatus
from .diff import version_diff, version_json
from .engine.compiler import CompileError
from .filters import AudienceFilter
from .models import Audience, AudienceVersion
from .selectors import audience_evaluated_version, audience_get, audience_last_snapshot, audience_latest_version
from .services import MEMBER_CSV_HEADER, audience_member_rows, definition_to_text, profile_explain
from .ui_forms import VersionDiffForm, WhyForm
from .ui_selectors import (
    audience_current_members,
    audience_list_rows,
    audience_references,
    audience_size_trend,
    audience_versions,
    profile_is_current_member,
    profile_lookup,
    trace_exclusion_rows,
    trace_rows,
)
from .ui_services import audience_evaluation_request

VIEW_PERMISSION = "audiences.view_audience"
MEMBERS_PAGE_SIZE = 50
CSV_CHUNK_ROWS = 1000


def builder_url(name: str, **kwargs: Any) -> str | None:
    """The URL of a builder page, or None while the builder is not installed (its routes do not exist yet)."""
    try:
        return reverse(f"builder:{name}", kwargs=kwargs or None)
    except NoReverseMatch:
        return None


class AudienceMixin(PermissionRequiredMixin):
    """Looks the audience up by the ``slug`` in the URL (404 when unknown) and puts it in the context."""

    permission_required = VIEW_PERMISSION

    def get_audience(self) -> Audience:
        if not hasattr(self, "_audience"):
            try:
                self._audience = audience_get(slug=self.kwargs["slug"])
            except Audience.DoesNotExist as exc:
                raise Http404(f'No audience "{self.kwargs["slug"]}".') from exc
        return self._audience

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["audience"] = self.get_audience()
        return context


class AudienceListView(PermissionRequiredMixin, ListView):
    """Every audience with its size, 7-day change and latest version; filtered and sorted by the GET query."""

    permission_required = VIEW_PERMISSION
    template_name = "audiences/audience_list.html"
    context_object_name = "audiences"
    paginate_by = 50

    def get_queryset(self) -> QuerySet[Audience]:
        self.filterset = AudienceFilter(self.request.GET, queryset=audience_list_rows())
        return self.filterset.qs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        sort = self.filterset.form.cleaned_data.get("sort") if self.filterset.form.is_valid() else ""
        sort = sort or "name"
        context.update(
            filter=self.filterset,
            sort=sort,
            # The column headers toggle between ascending and descending; size starts with the largest.
            name_sort="-name" if sort == "name" else "name",
            size_sort="size" if sort == "-size" else "-size",
            is_filtered=any(self.request.GET.get(name) for name in ("owner", "kind", "objective", "status", "intent")),
            builder_new_url=builder_url("new"),
            today=timezone.now().date(),
        )
        return context


class AudienceDetailView(AudienceMixin, TemplateView):
    """One audience: metadata, definition (plain English and JSON), versions, size trend and current members."""

    template_name = "audiences/audience_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        audience = self.get_audience()
        try:
            version = audience_evaluated_version(audience=audience)
        except AudienceVersion.DoesNotExist:
            version = None
        latest = audience_latest_version(audience=audience)
        members = Paginator(audience_current_members(audience=audience), MEMBERS_PAGE_SIZE).get_page(
            self.request.GET.get("page")
        )
        versions = list(audience_versions(audience=audience))
        context.update(
            version=version,
            latest_version=latest,
            definition_text=definition_to_text(version) if version else "",
            definition_json=version_json(version) if version else "",
            paired_suppression=audience_references(slugs=[version.paired_suppression])
            if version and version.paired_suppression
            else [],
            excludes=audience_references(slugs=version.exclude) if version and version.exclude else [],
            versions=versions,
            # The compare form starts on "what changed in the newest version".
            diff_form=VersionDiffForm(
                initial={"a": versions[1].number, "b": versions[0].number} if len(versions) > 1 else {},
                audience=audience,
            ),
            last_snapshot=audience_last_snapshot(audience=audience),
            size_trend=audience_size_trend(audience=audience),
            page_obj=members,
            members=members.object_list,
            can_evaluate=audience.status == AudienceStatus.LIVE,
            builder_edit_url=builder_url("edit", slug=audience.slug),
            today=timezone.now().date(),
        )
        return context


class AudienceDiffView(AudienceMixin, TemplateView):
    """Two versions side by side: a unified diff of their JSON and the plain-English text of each."""

    template_name = "audiences/audience_diff.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        audience = self.get_audience()
        data = self.request.GET.copy()
        numbers = sorted(
            AudienceVersion.objects.filter(audience=audience).values_list("number", flat=True), reverse=True
        )
        # Without a choice, compare the newest version with the one before it.
        if "a" not in data and "b" not in data and numbers:
            data["a"] = str(numbers[1] if len(numbers) > 1 else numbers[0])
            data["b"] = str(numbers[0])
        form = VersionDiffForm(data, audience=audience)
        diff = None
        if form.is_valid():
            diff = version_diff(old=form.versions[form.cleaned_data["a"]], new=form.versions[form.cleaned_data["b"]])
        context.update(form=form, diff=diff)
        return context


class AudienceWhyView(AudienceMixin, TemplateView):
    """Why is a profile in or out: a search box, then the engine's condition-by-condition trace at a time."""

    template_name = "audiences/audience_why.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        audience = self.get_audience()
        form = WhyForm(self.request.GET or None)
        context.update(form=form, lookup=None, trace=None, error=None)
        if not form.is_valid() or not form.cleaned_data["profile"]:
            return context
        lookup = profile_lookup(query=form.cleaned_data["profile"], by_id=form.cleaned_data["by"] == "id")
        context["lookup"] = lookup
        profile = lookup.profile
        if profile is None:
            return context
        now = form.cleaned_data["as_of"] or timezone.now()
        try:
            trace = profile_explain(audience=audience, profile=profile, now=now)
        except (CompileError, AudienceVersion.DoesNotExist) as exc:
            context["error"] = str(exc)
            return context
        context.update(
            profile=profile,
            now=now,
            trace=trace,
            rule=trace_rows(trace.rule),
            exclusions=trace_exclusion_rows(trace),
            span=profile_is_current_member(audience=audience, profile=profile),
            last_snapshot=audience_last_snapshot(audience=audience),
        )
        return context


class _Echo:
    """A file-like object whose ``write`` returns what it was given, so ``csv.writer`` produces strings."""

    def write(self, value: str) -> str:
        return value


class AudienceMembersCsvView(AudienceMixin, View):
    """The members at this moment as CSV: byte for byte what ``manage.py audiences members SLUG`` prints.

    Streamed in chunks so a large audience never sits in memory. The query is started before the response,
    so a definition that cannot be compiled is reported on the page instead of as a truncated download.
    """

    def get(self, request: HttpRequest, slug: str) -> HttpResponse:
        audience = self.get_audience()
        rows = audience_member_rows(audience=audience, now=timezone.now())
        try:
            first = next(rows, None)
        except (CompileError, AudienceVersion.DoesNotExist) as exc:
            messages.error(request, f"{audience.slug}: the members cannot be exported ({exc}).")
            return redirect("audiences:detail", slug=audience.slug)
        response = StreamingHttpResponse(_csv_chunks(first, rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{audience.slug}-members.csv"'
        response["Cache-Control"] = "no-store"
        return response


def _csv_chunks(first: tuple[str, ...] | None, rest: Iterator[tuple[str, ...]]) -> Iterator[str]:
    writer = csv.writer(_Echo(), lineterminator="\n")
    chunk = [writer.writerow(MEMBER_CSV_HEADER)]
    if first is None:
        yield "".join(chunk)
        return
    chunk.append(writer.writerow(first))
    for row in rest:
        chunk.append(writer.writerow(row))
        if len(chunk) >= CSV_CHUNK_ROWS:
            yield "".join(chunk)
            chunk = []
    yield "".join(chunk)


class AudienceEvaluateView(AudienceMixin, View):
    """POST: queue an evaluation of the audience now (the scheduler's job), flash "queued" and go back."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, slug: str) -> HttpResponseRedirect:
        audience = self.get_audience()
        try:
            result = audience_evaluation_request(actor=request.user, audience=audience)
        except RedisError as exc:
            messages.error(request, f"The job queue is not reachable, nothing was queued ({exc}).")
            return redirect("audiences:detail", slug=audience.slug)
        except ValidationError as exc:
            problems = [f"{field}: {error}" for field, errors in exc.message_dict.items() for error in errors]
            messages.error(request, " ".join(problems))
            return redirect("audiences:detail", slug=audience.slug)
        if result.queued:
            messages.success(
                request,
                f"Evaluation of {audience.name} queued (job {result.job_id}). "
                "Size and members update when it has run; reload the page to see them.",
            )
        else:
            messages.info(request, f"An evaluation of {audience.name} is already queued (job {result.job_id}).")
        return redirect("audiences:detail", slug=audience.slug)
