"""User and role management for admins."""

from django.contrib.auth import get_user_model
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.views.generic import ListView


class UserListView(PermissionRequiredMixin, ListView):
    permission_required = "auth.view_user"
    template_name = "accounts/user_list.html"

    def get_queryset(self):
        return get_user_model().objects.order_by("username").prefetch_related("groups")
