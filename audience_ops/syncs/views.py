"""Sync pages: everyone with ``view_sync`` sees syncs, their runs and errors; ops and admins act on them.

Thin views over :mod:`.services` (writes: create, pause/resume, run now) and :mod:`.ui_selectors` (reads).
Actions are POST with CSRF and check the permission here and again in the service.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from audience_ops.audiences.models import Audience
from audience_ops.destinations.models import Destination

from . import ui_selectors
from .choices import RunTrigger
from .forms import SyncEditForm, SyncForm
from .models import Sync, SyncRun
from .services import (
    sync_blockers,
    sync_create,
    sync_plan_preview,
    sync_request_run,
    sync_set_enabled,
    sync_update,
)

RUNS_PER_PAGE = 25
ROW_ERRORS_PER_PAGE = 50


def _sync(pk: int) -> Sync:
    return get_object_or_404(Sync.objects.select_related("audience", "destination", "created_by"), pk=pk)


class SyncListView(PermissionRequiredMixin, TemplateView):
    """Every sync with its mode, cadence, state, ledger size, last run and next scheduled run."""

    permission_required = "syncs.view_sync"
    template_name = "syncs/sync_list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["rows"] = ui_selectors.sync_list_rows()
        return context


class SyncCreateView(PermissionRequiredMixin, View):
    """GET shows the form (``?audience=slug`` / ``?destination=id`` preselect); POST creates the sync."""

    permission_required = "syncs.add_sync"
    template_name = "syncs/sync_form.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        initial: dict[str, Any] = {}
        if slug := request.GET.get("audience"):
            initial["audience"] = Audience.objects.filter(slug=slug).first()
        if (destination_id := request.GET.get("destination", "")).isdigit():
            initial["destination"] = Destination.objects.filter(pk=int(destination_id)).first()
        return render(request, self.template_name, {"form": SyncForm(initial=initial)})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = SyncForm(request.POST)
        if form.is_valid():
            try:
                sync = sync_create(actor=request.user, **form.service_kwargs())
            except ValidationError as exc:
                form.add_service_error(exc)
            else:
                state = "enabled" if sync.enabled else "created paused"
                messages.success(request, f"Sync of {sync.audience.name} to {sync.destination.name} {state}.")
                return redirect("syncs:detail", pk=sync.pk)
        return render(request, self.template_name, {"form": form}, status=400)


class SyncUpdateView(PermissionRequiredMixin, View):
    """GET shows a sync's mode and cadence; POST changes them (the service re-checks the rules)."""

    permission_required = "syncs.change_sync"
    template_name = "syncs/sync_edit.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        sync = _sync(pk)
        form = SyncEditForm(initial=SyncEditForm.initial_for(sync))
        return render(request, self.template_name, {"form": form, "sync": sync})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        sync = _sync(pk)
        form = SyncEditForm(request.POST)
        if form.is_valid():
            try:
                sync = sync_update(actor=request.user, sync=sync, **form.service_kwargs())
            except ValidationError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, f"Sync saved: {sync.get_mode_display().lower()}, {sync.cadence_label}.")
                return redirect("syncs:detail", pk=sync.pk)
        return render(request, self.template_name, {"form": form, "sync": sync}, status=400)


class SyncDetailView(PermissionRequiredMixin, TemplateView):
    """A sync's health (ledger size, last success, next run, match rates), its actions and its run history."""

    permission_required = "syncs.view_sync"
    template_name = "syncs/sync_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        sync = _sync(self.kwargs["pk"])
        page = Paginator(ui_selectors.sync_runs(sync=sync), RUNS_PER_PAGE).get_page(self.request.GET.get("page"))
        context.update(
            sync=sync,
            health=ui_selectors.sync_health(sync=sync),
            blockers=[] if sync.enabled else sync_blockers(sync),
            page_obj=page,
            runs=page.object_list,
            now=timezone.now(),
        )
        context.update(_sync_guardrail_context(sync))
        return context


class SyncPlanView(PermissionRequiredMixin, TemplateView):
    """The dry run: the exact plan a run now would store (+adds / -removes with samples), nothing sent.

    A GET: computing the plan reads membership and the ledger and writes nothing.
    """

    permission_required = "syncs.run_sync"
    template_name = "syncs/sync_plan.html"
    sample_size = 10

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        sync = _sync(self.kwargs["pk"])
        context["sync"] = sync
        try:
            context["plan"] = sync_plan_preview(sync=sync, as_of=timezone.now(), sample=self.sample_size)
        except ValidationError as exc:
            context["plan_error"] = " ".join(exc.messages)
        else:
            context["removed_profiles"] = ui_selectors.existing_profile_ids(context["plan"].sample_removes)
        return context


class SyncRunNowView(PermissionRequiredMixin, View):
    """POST: request a run now (recorded, then enqueued for a worker after commit) and open its page."""

    permission_required = "syncs.run_sync"

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        sync = _sync(pk)
        try:
            run = sync_request_run(actor=request.user, sync=sync, trigger=RunTrigger.MANUAL)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("syncs:detail", pk=sync.pk)
        messages.success(request, f"Run #{run.pk} queued; a worker picks it up in a moment.")
        return redirect("syncs:run_detail", pk=run.pk)


class SyncSetEnabledView(PermissionRequiredMixin, View):
    """POST: pause or resume a sync (``enabled`` is set by the URL); a refusal is shown with its reasons."""

    permission_required = "syncs.change_sync"
    enabled = True

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        sync = _sync(pk)
        try:
            sync = sync_set_enabled(
                actor=request.user, sync=sync, enabled=self.enabled, reason=request.POST.get("reason", "")[:500]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Sync {'resumed' if self.enabled else 'paused'}.")
        return redirect("syncs:detail", pk=sync.pk)


class SyncRunDetailView(PermissionRequiredMixin, TemplateView):
    """One run: its counts, phase timings, what the platform said, its plan, and per-row errors (paginated)."""

    permission_required = "syncs.view_sync"
    template_name = "syncs/run_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        run = get_object_or_404(
            SyncRun.objects.select_related("sync__audience", "sync__destination", "requested_by"), pk=self.kwargs["pk"]
        )
        errors = Paginator(ui_selectors.run_row_errors(run=run), ROW_ERRORS_PER_PAGE).get_page(
            self.request.GET.get("page")
        )
        given_up = list(ui_selectors.given_up_rows(sync=run.sync)[:100])
        linkable = ui_selectors.existing_profile_ids(
            [e.profile_id for e in errors.object_list] + [f.profile_id for f in given_up]
        )
        context.update(
            run=run,
            sync=run.sync,
            phases=ui_selectors.run_phase_rows(run=run),
            platform=ui_selectors.run_platform_summary(run=run),
            plan=ui_selectors.run_plan_breakdown(run=run),
            page_obj=errors,
            row_errors=errors.object_list,
            given_up=given_up,
            linkable=linkable,
            sync_url=reverse("syncs:detail", args=[run.sync_id]),
        )
        context.update(_guardrail_context(run, self.request.user))
        return context


class SyncRunDecideView(PermissionRequiredMixin, View):
    """POST: approve (send exactly the stored plan) or cancel (send nothing) a run the large-change guardrail
    holds. ``approve`` is set by the URL; the service checks the permission and the run's state again."""

    permission_required = "syncs.run_sync"
    approve = True

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        from .guardrails import run_approve, run_cancel

        run = get_object_or_404(SyncRun.objects.select_related("sync__audience", "sync__destination"), pk=pk)
        note = request.POST.get("note", "").strip()[:500]
        try:
            if self.approve:
                run_approve(actor=request.user, run=run, note=note)
            else:
                run_cancel(actor=request.user, run=run, note=note)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request,
                f"Run #{run.pk} approved; a worker sends its plan in a moment."
                if self.approve
                else f"Run #{run.pk} cancelled; nothing was sent.",
            )
        return redirect("syncs:run_detail", pk=run.pk)


def _guardrail_context(run: SyncRun, user: Any) -> dict[str, Any]:
    """For the run page: the held plan the approver decides on, and what a retirement run did."""
    from .choices import RunState
    from .guardrails import held_plan
    from .retirement import retirement_outcome

    held = run.state == RunState.AWAITING_APPROVAL
    return {
        "held_plan": held_plan(run) if held else None,
        "can_decide": held and user.has_perm("syncs.run_sync"),
        "retirement_outcome": retirement_outcome(run),
    }


class SyncGuardrailsView(PermissionRequiredMixin, View):
    """GET/POST the sync's large-change limits (how much one run may remove or add before ops approve it)."""

    permission_required = "syncs.change_sync"
    template_name = "syncs/sync_guardrails.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        from .guardrail_forms import GuardrailForm

        sync = _sync(pk)
        form = GuardrailForm(initial=GuardrailForm.initial_for(sync), sync=sync)
        return render(request, self.template_name, {"form": form, "sync": sync})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        from .guardrail_forms import GuardrailForm
        from .guardrails import sync_set_guardrails

        sync = _sync(pk)
        form = GuardrailForm(request.POST, sync=sync)
        if form.is_valid():
            try:
                sync_set_guardrails(actor=request.user, sync=sync, **form.service_kwargs())
            except ValidationError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, "Large-change limits saved.")
                return redirect("syncs:detail", pk=sync.pk)
        return render(request, self.template_name, {"form": form, "sync": sync}, status=400)


def _sync_guardrail_context(sync: Sync) -> dict[str, Any]:
    """For the sync page: the run waiting for approval (if any) and the limits in force."""
    from .choices import RunState
    from .guardrails import thresholds_for

    held = SyncRun.objects.filter(sync=sync, state=RunState.AWAITING_APPROVAL).order_by("pk").first()
    return {"held_run": held, "guardrail_limits": thresholds_for(sync)}
