"""Governance pages: the QA test profile library, an audience's QA cases and runs, the review page with its
impact and decisions, the review queue, and the lifecycle actions (submit, pause, resume, retire).

Views are thin: forms check what was typed, the services in :mod:`.qa` and :mod:`.lifecycle` check the role
and the rules again and write everything in one transaction. Reading needs ``audiences.view_audience`` (or
``view_qatestprofile`` for the library); every action is a POST with its own permission, so a marketer who
posts an approval gets 403 from the view, and from the service if the view were ever bypassed.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import ListView, TemplateView

from . import lifecycle, qa
from .choices import AudienceStatus
from .diff import version_diff
from .governance_forms import (
    QA_PREFIX,
    ApproveForm,
    QACaseFormSet,
    QARunForm,
    QATestProfileForm,
    ReasonForm,
    qa_case_rows_from_post,
)
from .governance_selectors import (
    approval_blockers,
    audience_last_decision,
    audience_latest_qa_run,
    audience_pending_review,
    audience_scheduled_launch,
    paired_suppression_warning,
    pending_reviews,
    qa_result_rows,
    qa_test_profiles,
    version_impact,
)
from .models import Audience, QATestProfile, VersionReview
from .selectors import audience_latest_version
from .services import definition_to_text
from .views import AudienceMixin, builder_url

CHANGE_PERMISSION = "audiences.change_audience"


def error_sentences(exc: ValidationError) -> list[str]:
    """A service's ``ValidationError`` as sentences: "path: message", or the message alone when it has none."""
    if hasattr(exc, "error_dict"):
        return [
            message if field == "__all__" else f"{field}: {message}"
            for field, field_messages in exc.message_dict.items()
            for message in field_messages
        ]
    return list(exc.messages)


# --- QA test profiles --------------------------------------------------------------------------------------


class QATestProfileListView(PermissionRequiredMixin, ListView):
    """The library of named QA profiles; marketers manage it, everyone else reads it."""

    permission_required = "audiences.view_qatestprofile"
    template_name = "audiences/governance/qa_profile_list.html"
    context_object_name = "fixtures"

    def get_queryset(self):
        return qa_test_profiles()


class _QATestProfileFormView(PermissionRequiredMixin, View):
    """The create and edit pages share one form and one POST flow: validate, call the service (:meth:`save`),
    show its errors on the form fields they name, or say what was saved and go back to the library."""

    template_name = "audiences/governance/qa_profile_form.html"

    def save(self, request: HttpRequest, data: dict[str, Any], fixture: QATestProfile | None) -> str:
        """Call the service with the cleaned form data; the success message (or a ValidationError)."""
        raise NotImplementedError

    def page(self, request: HttpRequest, form: QATestProfileForm, fixture: QATestProfile | None) -> HttpResponse:
        return render(request, self.template_name, {"form": form, "fixture": fixture})

    def submit(self, request: HttpRequest, form: QATestProfileForm, fixture: QATestProfile | None) -> HttpResponse:
        if form.is_valid():
            try:
                message = self.save(request, form.cleaned_data, fixture)
            except ValidationError as exc:
                _add_service_errors(form, exc)
            else:
                messages.success(request, message)
                return redirect("audiences:qa_profile_list")
        return render(request, self.template_name, {"form": form, "fixture": fixture}, status=400)


class QATestProfileCreateView(_QATestProfileFormView):
    """Mark a profile (by external id or email) as a named QA test profile."""

    permission_required = "audiences.add_qatestprofile"

    def get(self, request: HttpRequest) -> HttpResponse:
        # The profile page links here with ?profile=<external id> so the field starts filled in.
        return self.page(request, QATestProfileForm(initial={"profile": request.GET.get("profile", "")}), None)

    def post(self, request: HttpRequest) -> HttpResponse:
        return self.submit(request, QATestProfileForm(request.POST), None)

    def save(self, request: HttpRequest, data: dict[str, Any], fixture: QATestProfile | None) -> str:
        fixture = qa.qa_test_profile_create(
            actor=request.user, profile=data["profile"], name=data["name"], description=data["description"]
        )
        return f"{fixture.profile.external_id} is now the QA test profile “{fixture.name}”."


class QATestProfileEditView(_QATestProfileFormView):
    """Rename or re-describe a QA test profile (the profile it points at stays)."""

    permission_required = "audiences.change_qatestprofile"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        fixture = get_object_or_404(QATestProfile.objects.select_related("profile"), pk=pk)
        form = QATestProfileForm(fixture=fixture, initial={"name": fixture.name, "description": fixture.description})
        return self.page(request, form, fixture)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        fixture = get_object_or_404(QATestProfile.objects.select_related("profile"), pk=pk)
        return self.submit(request, QATestProfileForm(request.POST, fixture=fixture), fixture)

    def save(self, request: HttpRequest, data: dict[str, Any], fixture: QATestProfile | None) -> str:
        qa.qa_test_profile_update(
            actor=request.user, fixture=fixture, name=data["name"], description=data["description"]
        )
        return f"Saved the QA test profile “{data['name']}”."


class QATestProfileDeleteView(PermissionRequiredMixin, View):
    """GET asks for confirmation; POST removes the profile from the library (the profile itself stays)."""

    permission_required = "audiences.delete_qatestprofile"
    template_name = "audiences/governance/qa_profile_delete.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        fixture = get_object_or_404(QATestProfile.objects.select_related("profile"), pk=pk)
        return render(request, self.template_name, {"fixture": fixture})

    def post(self, request: HttpRequest, pk: int) -> HttpResponseRedirect:
        fixture = get_object_or_404(QATestProfile.objects.select_related("profile"), pk=pk)
        name = fixture.name
        qa.qa_test_profile_delete(actor=request.user, fixture=fixture)
        messages.success(request, f"Removed “{name}” from the QA test profiles; the profile and its events stay.")
        return redirect("audiences:qa_profile_list")


def _add_service_errors(form: Any, exc: ValidationError) -> None:
    """Put a service's errors on the form fields they name, the rest at the top of the form."""
    if hasattr(exc, "error_dict"):
        for field, field_messages in exc.message_dict.items():
            for message in field_messages:
                form.add_error(field if field in form.fields else None, message)
    else:
        for message in exc.messages:
            form.add_error(None, message)


# --- an audience's QA --------------------------------------------------------------------------------------


class AudienceQAView(AudienceMixin, TemplateView):
    """``/audiences/<slug>/qa/``: the latest version's QA cases (an editable formset), its runs and the gate.

    Adding and removing rows posts the formset back with ``qa_action=add`` or ``remove:N``; with htmx only the
    cases fragment comes back, without htmx the whole page, so the page works as a plain form too. Saving writes
    a new version (versions are immutable), which has no QA run yet.
    """

    template_name = "audiences/governance/audience_qa.html"
    fragment_template = "audiences/governance/_qa_cases.html"

    def get_permission_required(self) -> tuple[str, ...]:
        if self.request.method == "POST":
            return (self.permission_required, CHANGE_PERMISSION)
        return (self.permission_required,)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        audience = self.get_audience()
        latest = audience_latest_version(audience=audience)
        if "formset" not in context:
            context["formset"] = QACaseFormSet(
                prefix=QA_PREFIX, initial=[dict(case) for case in (latest.qa if latest else [])]
            )
        run = qa.qa_latest_run(version=latest) if latest else None
        last_any = audience_latest_qa_run(audience=audience)
        context.update(
            version=latest,
            fixtures=qa_test_profiles(),
            run=run,
            results=qa_result_rows(run=run) if run else [],
            stale_run=last_any if last_any is not None and (run is None or last_any.pk != run.pk) else None,
            gate_problems=qa.qa_gate_problems(version=latest) if latest else [],
            run_form=context.get("run_form") or QARunForm(),
            can_change=self.request.user.has_perm(CHANGE_PERMISSION),
            builder_edit_url=builder_url("edit", slug=audience.slug),
            min_cases=qa.MIN_QA_CASES,
        )
        return context

    def post(self, request: HttpRequest, slug: str) -> HttpResponse:
        audience = self.get_audience()
        action = request.POST.get("qa_action", "save")
        if action == "add" or action.startswith("remove:"):
            return self.edit_rows(action)
        latest = audience_latest_version(audience=audience)
        formset = QACaseFormSet(request.POST, prefix=QA_PREFIX)
        base = request.POST.get("base_version", "")
        if latest is not None and base and base != str(latest.number):
            messages.error(
                request,
                f"{audience.name} changed while you were editing: it is now at version {latest.number} "
                f"(by {latest.author.get_username()}). Nothing was saved; check the cases and save again.",
            )
            return self.render_to_response(self.get_context_data(formset=formset), status=409)
        if not formset.is_valid():
            return self.render_to_response(self.get_context_data(formset=formset), status=400)
        cases = [form.case() for form in formset.forms]
        try:
            version = qa.qa_cases_save(actor=request.user, audience=audience, cases=cases)
        except ValidationError as exc:
            _formset_service_errors(formset, exc)
            return self.render_to_response(self.get_context_data(formset=formset), status=400)
        if latest is not None and version.pk == latest.pk:
            messages.info(request, f"The QA cases did not change (still version {version.number}).")
        else:
            messages.success(
                request,
                f"Saved {len(cases)} QA case{'s' if len(cases) != 1 else ''} as version {version.number}. "
                "A new version has no QA run yet: run QA again.",
            )
        return redirect("audiences:qa", slug=audience.slug)

    def edit_rows(self, action: str) -> HttpResponse:
        rows = qa_case_rows_from_post(self.request.POST)
        if action == "add":
            rows.append({"profile": "", "expect": "in", "note": ""})
        else:
            try:
                index = int(action.partition(":")[2])
            except ValueError:
                index = -1
            if 0 <= index < len(rows):
                rows.pop(index)
        formset = QACaseFormSet(prefix=QA_PREFIX, initial=rows)
        context = self.get_context_data(formset=formset)
        context["base_version"] = self.request.POST.get("base_version", "")
        context["focus_row"] = len(rows) - 1 if action == "add" else None
        if self.request.htmx:
            return render(self.request, self.fragment_template, context)
        return self.render_to_response(context)


def _formset_service_errors(formset: Any, exc: ValidationError) -> None:
    """Errors keyed ``qa[2].expect`` go to row 3's field; anything else above the table."""
    if not hasattr(exc, "error_dict"):
        formset._non_form_errors = formset.error_class(exc.messages)
        return
    general = []
    for path, path_messages in exc.message_dict.items():
        target = None
        if path.startswith("qa[") and "]" in path:
            index_text, _sep, rest = path[3:].partition("]")
            field = rest.lstrip(".")
            if index_text.isdigit() and int(index_text) < len(formset.forms):
                form = formset.forms[int(index_text)]
                target = (form, field if field in form.fields else None)
        for message in path_messages:
            if target is None:
                general.append(message if path in ("__all__", "qa") else f"{path}: {message}")
            else:
                target[0].add_error(target[1], message)
    if general:
        formset._non_form_errors = formset.error_class(general)


class AudienceQARunView(AudienceQAView):
    """POST: run the latest version's QA cases now (or at the given time) and show the results."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, slug: str) -> HttpResponse:
        audience = self.get_audience()
        form = QARunForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(run_form=form), status=400)
        now = form.cleaned_data["as_of"] or timezone.now()
        try:
            run = qa.qa_run(actor=request.user, audience=audience, now=now)
        except ValidationError as exc:
            messages.error(request, "QA did not run: " + " ".join(error_sentences(exc)))
            return redirect("audiences:qa", slug=audience.slug)
        failed = qa.qa_run_failures(run)
        if not run.results:
            messages.warning(request, f"Version {run.version.number} has no QA cases: add some first.")
        elif failed:
            messages.error(
                request,
                f"QA of version {run.version.number}: {failed} of {len(run.results)} case"
                f"{'s' if len(run.results) != 1 else ''} failed. Open a failed case for its explanation.",
            )
        else:
            messages.success(request, f"QA of version {run.version.number}: all {len(run.results)} cases passed.")
        return HttpResponseRedirect(reverse("audiences:qa", kwargs={"slug": audience.slug}) + "#qa-results")


# --- lifecycle actions -------------------------------------------------------------------------------------


class LifecycleActionView(AudienceMixin, View):
    """A POST that calls one lifecycle service; rule errors become a message, the page stays as it was."""

    http_method_names = ["post"]
    action_permission = ""
    reason_required: bool | None = None  # None: no reason field

    def get_permission_required(self) -> tuple[str, ...]:
        return (self.permission_required, self.action_permission)

    def post(self, request: HttpRequest, slug: str) -> HttpResponse:
        audience = self.get_audience()
        reason = ""
        if self.reason_required is not None:
            form = ReasonForm(request.POST, required=self.reason_required)
            if not form.is_valid():
                return self.invalid(form)
            reason = form.cleaned_data["reason"]
        try:
            message = self.act(audience=audience, reason=reason)
        except ValidationError as exc:
            messages.error(request, " ".join(error_sentences(exc)))
            return self.failure_redirect(audience)
        messages.success(request, message)
        return redirect("audiences:detail", slug=audience.slug)

    def act(self, *, audience: Audience, reason: str) -> str:
        raise NotImplementedError

    def invalid(self, form: ReasonForm) -> HttpResponse:
        messages.error(self.request, " ".join(f"reason: {error}" for error in form.errors.get("reason", [])))
        return self.failure_redirect(self.get_audience())

    def failure_redirect(self, audience: Audience) -> HttpResponseRedirect:
        return redirect("audiences:detail", slug=audience.slug)


class AudienceSubmitView(LifecycleActionView):
    """Submit the latest version for review (the gate: owner, purpose, retirement date, suppression, QA)."""

    action_permission = CHANGE_PERMISSION

    def act(self, *, audience: Audience, reason: str) -> str:
        review = lifecycle.audience_submit(actor=self.request.user, audience=audience)
        return f"Version {review.version.number} of {audience.name} is waiting for review by ops."


class AudiencePauseView(LifecycleActionView):
    """Pause a live audience (its syncs stop sending until it is resumed)."""

    action_permission = "audiences.operate_audience"
    reason_required = False

    def act(self, *, audience: Audience, reason: str) -> str:
        lifecycle.audience_pause(actor=self.request.user, audience=audience, reason=reason)
        return f"{audience.name} is paused."


class AudienceResumeView(LifecycleActionView):
    """Resume a paused audience."""

    action_permission = "audiences.operate_audience"

    def act(self, *, audience: Audience, reason: str) -> str:
        lifecycle.audience_resume(actor=self.request.user, audience=audience)
        return f"{audience.name} is live again."


class AudienceRetireView(LifecycleActionView):
    """GET: a confirmation page asking for the reason; POST: retire the audience for good."""

    http_method_names = ["get", "post"]
    action_permission = "audiences.retire_audience"
    reason_required = True
    template_name = "audiences/governance/audience_retire.html"

    def get(self, request: HttpRequest, slug: str) -> HttpResponse:
        return render(request, self.template_name, self._context(ReasonForm()))

    def invalid(self, form: ReasonForm) -> HttpResponse:
        return render(self.request, self.template_name, self._context(form), status=400)

    def act(self, *, audience: Audience, reason: str) -> str:
        from audience_ops.syncs.retirement import actions_from_form

        actions = actions_from_form(audience, self.request.POST)
        lifecycle.audience_retire(actor=self.request.user, audience=audience, reason=reason, sync_actions=actions)
        return f"{audience.name} is retired."

    def _context(self, form: ReasonForm) -> dict[str, Any]:
        """The page, with the audience's syncs and what retiring may do at each destination."""
        from audience_ops.syncs.retirement import retirement_options

        audience = self.get_audience()
        return {"audience": audience, "form": form, "retirement_options": retirement_options(audience)}

    def failure_redirect(self, audience: Audience) -> HttpResponseRedirect:
        return redirect("audiences:retire", slug=audience.slug)


# --- reviews -----------------------------------------------------------------------------------------------


class ReviewQueueView(PermissionRequiredMixin, ListView):
    """Versions waiting for a decision, oldest first."""

    permission_required = "audiences.view_audience"
    template_name = "audiences/governance/review_list.html"
    context_object_name = "reviews"

    def get_queryset(self):
        return pending_reviews()


class AudienceReviewView(AudienceMixin, TemplateView):
    """``/audiences/<slug>/review/``: the version under review, its QA run, the diff and the membership impact
    against the live version now, and the approve / reject forms (disabled, with the reason, for anyone the
    four-eyes rule excludes)."""

    template_name = "audiences/governance/audience_review.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        audience = self.get_audience()
        review = audience_pending_review(audience=audience)
        context.update(
            review=review,
            last_decision=audience_last_decision(audience=audience),
            blockers=approval_blockers(user=self.request.user, review=review),
            can_decide=self.request.user.has_perm("audiences.approve_audience"),
            approve_form=context.get("approve_form") or ApproveForm(),
            reject_form=context.get("reject_form") or ReasonForm(),
        )
        if review is None:
            return context
        version = review.version
        live = audience.live_version if audience.live_version_id else None
        now = timezone.now()
        context.update(
            version=version,
            live=live,
            definition_text=definition_to_text(version),
            diff=version_diff(old=live, new=version) if live is not None and live.pk != version.pk else None,
            impact=version_impact(audience=audience, proposed=version, now=now),
            qa_results=qa_result_rows(run=review.qa_run),
            qa_current=qa.qa_latest_run(version=version),
            suppression_warning=paired_suppression_warning(audience=audience, version=version),
        )
        return context


class ReviewDecisionView(AudienceReviewView):
    """Shared by approve and reject: POST only, ops only; form errors re-render the review page."""

    http_method_names = ["post"]

    def get_permission_required(self) -> tuple[str, ...]:
        return (self.permission_required, "audiences.approve_audience")

    def pending_or_404(self) -> VersionReview:
        review = audience_pending_review(audience=self.get_audience())
        if review is None:
            raise Http404("No version of this audience is waiting for review.")
        return review


class AudienceApproveView(ReviewDecisionView):
    """Approve the pending version: live now, or approved until the launch time."""

    def post(self, request: HttpRequest, slug: str) -> HttpResponse:
        audience = self.get_audience()
        review = self.pending_or_404()
        form = ApproveForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(approve_form=form), status=400)
        try:
            decided = lifecycle.audience_approve(
                actor=request.user, audience=audience, launch_at=form.cleaned_data["launch_at"]
            )
        except ValidationError as exc:
            messages.error(request, "Not approved: " + " ".join(error_sentences(exc)))
            return redirect("audiences:review", slug=audience.slug)
        audience.refresh_from_db()
        if audience.live_version_id == decided.version_id:
            messages.success(request, f"Approved version {review.version.number}: {audience.name} is live.")
        else:
            launch = decided.launch_at.strftime("%Y-%m-%d %H:%M") if decided.launch_at else "its launch time"
            messages.success(
                request, f"Approved version {review.version.number} of {audience.name}; it goes live at {launch} UTC."
            )
        return redirect("audiences:detail", slug=audience.slug)


class AudienceRejectView(ReviewDecisionView):
    """Reject the pending version with a reason the author is shown."""

    def post(self, request: HttpRequest, slug: str) -> HttpResponse:
        audience = self.get_audience()
        review = self.pending_or_404()
        form = ReasonForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(reject_form=form), status=400)
        try:
            lifecycle.audience_reject(actor=request.user, audience=audience, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            messages.error(request, "Not rejected: " + " ".join(error_sentences(exc)))
            return redirect("audiences:review", slug=audience.slug)
        messages.success(request, f"Rejected version {review.version.number} of {audience.name}; the author sees why.")
        return redirect("audiences:review_list")


# --- the lifecycle panel on the audience page --------------------------------------------------------------


def lifecycle_panel_context(*, audience: Audience, user: Any) -> dict[str, Any]:
    """What the lifecycle panel of the audience page shows for ``user`` (see the ``governance`` tag library)."""
    latest = audience_latest_version(audience=audience)
    live = audience.live_version if audience.live_version_id else None
    review = audience_pending_review(audience=audience)
    decision = audience_last_decision(audience=audience)
    can_submit = user.has_perm(CHANGE_PERMISSION) and audience.status != AudienceStatus.RETIRED
    rejection = (
        decision
        if decision is not None
        and decision.state == "rejected"
        and (review is None or review.submitted_at < decision.decided_at)
        else None
    )
    return {
        "audience": audience,
        "latest_version": latest,
        "live_version": live,
        "review": review,
        "rejection": rejection,
        "scheduled": audience_scheduled_launch(audience=audience),
        "qa_run": qa.qa_latest_run(version=latest) if latest else None,
        "can_submit": can_submit and review is None,
        "submission_problems": lifecycle.submission_problems(audience=audience) if can_submit and not review else [],
        "can_operate": user.has_perm("audiences.operate_audience"),
        "can_retire": user.has_perm("audiences.retire_audience") and audience.status != AudienceStatus.RETIRED,
        "can_decide": user.has_perm("audiences.approve_audience"),
    }
