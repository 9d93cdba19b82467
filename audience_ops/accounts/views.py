"""User and role management for admins: thin views over the account services."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse_lazy
from django.views import View
from django.views.generic import FormView, ListView

from .forms import UserActiveForm, UserCreateForm, UserRoleForm
from .roles import Role, user_role
from .services import user_create, user_set_active, user_set_role

User = get_user_model()

# Badge colour per role, so the list reads at a glance.
ROLE_BADGES = {Role.MARKETER: "text-bg-primary", Role.OPS: "text-bg-warning", Role.ADMIN: "text-bg-danger"}


def _validation_message(exc: ValidationError) -> str:
    """A service's field-keyed error as one flash line ("role: unknown role ...")."""
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items())
    return " ".join(exc.messages)


class UserListView(PermissionRequiredMixin, ListView):
    """Every account with its role and whether it can sign in, with forms to change either."""

    permission_required = "auth.view_user"
    template_name = "accounts/user_list.html"
    context_object_name = "users"

    def get_queryset(self) -> QuerySet:
        return User.objects.order_by("username").prefetch_related("groups")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        rows = []
        for account in context["users"]:
            role = user_role(account)
            rows.append(
                {
                    "user": account,
                    "role": role,
                    "role_label": Role(role).label if role else "no role",
                    "badge": ROLE_BADGES.get(role, "text-bg-secondary"),
                    "is_self": account.pk == self.request.user.pk,
                }
            )
        context.update(rows=rows, roles=Role.choices)
        return context


class UserCreateView(PermissionRequiredMixin, FormView):
    """Create an account with a role; without a password it cannot sign in until one is set."""

    permission_required = "auth.add_user"
    form_class = UserCreateForm
    template_name = "accounts/user_form.html"
    success_url = reverse_lazy("accounts:user_list")

    def form_valid(self, form: UserCreateForm) -> HttpResponse:
        data = form.cleaned_data
        try:
            account = user_create(
                actor=self.request.user,
                username=data["username"],
                role=data["role"],
                email=data["email"],
                password=data["password"] or None,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
            return self.form_invalid(form)
        suffix = "" if data["password"] else " It has no password yet, so it cannot sign in until one is set."
        messages.success(self.request, f"Created {account.username} as {Role(data['role']).label}.{suffix}")
        return super().form_valid(form)


class UserRoleView(PermissionRequiredMixin, View):
    """POST: replace a user's role."""

    permission_required = "auth.change_user"
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        account = get_object_or_404(User, pk=pk)
        form = UserRoleForm(request.POST)
        if not form.is_valid():
            messages.error(request, f"role: {' '.join(form.errors['role'])}")
            return redirect("accounts:user_list")
        try:
            user_set_role(actor=request.user, user=account, role=form.cleaned_data["role"])
        except ValidationError as exc:
            messages.error(request, _validation_message(exc))
        else:
            messages.success(request, f"{account.username} is now {Role(form.cleaned_data['role']).label}.")
        return redirect("accounts:user_list")


class UserActiveView(PermissionRequiredMixin, View):
    """POST: deactivate or reactivate an account (never your own deactivation: the service refuses it)."""

    permission_required = "auth.change_user"
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        account = get_object_or_404(User, pk=pk)
        form = UserActiveForm(request.POST)
        if not form.is_valid():
            messages.error(request, f"active: {' '.join(form.errors['active'])}")
            return redirect("accounts:user_list")
        active = form.cleaned_data["active"]
        try:
            user_set_active(actor=request.user, user=account, active=active)
        except ValidationError as exc:
            messages.error(request, _validation_message(exc))
        else:
            state = "reactivated: they can sign in again" if active else "deactivated: they can no longer sign in"
            messages.success(request, f"{account.username} is {state}.")
        return redirect("accounts:user_list")
