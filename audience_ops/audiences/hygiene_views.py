"""Hygiene pages: the retirement queue (with retire and extend), the overlap matrix and the collision report.

Thin views over :mod:`.hygiene`. The queue is for the people who act on it: admins retire and extend, ops see
it (``audiences.operate_audience``, which both roles hold and marketers do not). The overlap matrix and the
collision report are read-only and open to every role that can see audiences.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.shortcuts import redirect
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from .hygiene import (
    REASON_LABELS,
    RETIRE_PERMISSION,
    audience_extend_retirement,
    near_duplicate_pairs,
    near_duplicate_threshold,
    offer_collisions,
    overlap_matrix,
    paired_suppression_checks,
    retirement_queue,
    unsynced_days,
)
from .hygiene_forms import ExtendRetirementForm, RetireForm
from .lifecycle import audience_retire
from .models import Audience
from .selectors import audience_get

QUEUE_VIEW_PERMISSION = "audiences.operate_audience"
REPORT_VIEW_PERMISSION = "audiences.view_audience"


class RetirementQueueView(PermissionRequiredMixin, TemplateView):
    """Audiences to review or retire, each with its reasons, and the near-duplicate pairs behind them."""

    permission_required = QUEUE_VIEW_PERMISSION
    template_name = "audiences/hygiene/retirement_queue.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        today = timezone.localdate()
        pairs = near_duplicate_pairs()
        context.update(
            candidates=retirement_queue(pairs=pairs),
            pairs=pairs,
            reason_labels=REASON_LABELS,
            unsynced_days=unsynced_days(),
            threshold=near_duplicate_threshold(),
            today=today,
            can_retire=self.request.user.has_perm(RETIRE_PERMISSION),
            retire_form=RetireForm(),
            extend_form=ExtendRetirementForm(),
        )
        return context


class _QueueActionView(PermissionRequiredMixin, View):
    """POST-only action on one audience of the queue; always returns to the queue with a message."""

    permission_required = RETIRE_PERMISSION
    http_method_names = ["post"]

    def get_audience(self) -> Audience:
        try:
            return audience_get(slug=self.kwargs["slug"])
        except Audience.DoesNotExist as exc:
            raise Http404(f'No audience "{self.kwargs["slug"]}".') from exc


def _error_text(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(error for errors in exc.message_dict.values() for error in errors)
    return " ".join(exc.messages)


class RetireFromQueueView(_QueueActionView):
    """Retire the audience (the lifecycle service stops its syncs), with an optional reason."""

    def post(self, request: HttpRequest, slug: str) -> HttpResponseRedirect:
        audience = self.get_audience()
        form = RetireForm(request.POST)
        if not form.is_valid():
            messages.error(request, f"{audience.name} was not retired: {_error_text(ValidationError(form.errors))}")
            return redirect("audiences:hygiene:queue")
        try:
            audience_retire(actor=request.user, audience=audience, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            messages.error(request, f"{audience.name} was not retired: {_error_text(exc)}")
        else:
            messages.success(request, f"{audience.name} is retired; its syncs stop and destinations drop it.")
        return redirect("audiences:hygiene:queue")


class ExtendRetirementView(_QueueActionView):
    """Move the retirement date later, with a reason."""

    def post(self, request: HttpRequest, slug: str) -> HttpResponseRedirect:
        audience = self.get_audience()
        form = ExtendRetirementForm(request.POST)
        if not form.is_valid():
            problems = " ".join(
                f"{form.fields[name].label}: {' '.join(errors)}" for name, errors in form.errors.items()
            )
            messages.error(request, f"The retirement date of {audience.name} was not changed. {problems}")
            return redirect("audiences:hygiene:queue")
        try:
            audience_extend_retirement(
                actor=request.user,
                audience=audience,
                retire_on=form.cleaned_data["retire_on"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            messages.error(request, f"The retirement date of {audience.name} was not changed: {_error_text(exc)}")
        else:
            messages.success(request, f"{audience.name} now retires on {audience.retire_on:%Y-%m-%d}.")
        return redirect("audiences:hygiene:queue")


class OverlapMatrixView(PermissionRequiredMixin, TemplateView):
    """Shared members between live targeting audiences, as counts and as a percentage of the row audience."""

    permission_required = REPORT_VIEW_PERMISSION
    template_name = "audiences/hygiene/overlap.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["rows"] = overlap_matrix()
        return context


class CollisionReportView(PermissionRequiredMixin, TemplateView):
    """People in a discount and a full-price audience at once, and the paired-suppression checks."""

    permission_required = REPORT_VIEW_PERMISSION
    template_name = "audiences/hygiene/collisions.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        checks = paired_suppression_checks()
        context.update(
            collisions=offer_collisions(),
            checks=checks,
            failing_checks=[check for check in checks if not check.ok],
        )
        return context
