"""Profile browser and write-key management (thin views over selectors and services)."""

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.views.generic import DetailView, ListView

from .models import Profile, WriteKey
from .selectors import profile_search


class ProfileListView(PermissionRequiredMixin, ListView):
    permission_required = "customers.view_profile"
    template_name = "customers/profile_list.html"
    paginate_by = 50

    def get_queryset(self):
        return profile_search(query=self.request.GET.get("q", ""))


class ProfileDetailView(PermissionRequiredMixin, DetailView):
    permission_required = "customers.view_profile"
    model = Profile
    template_name = "customers/profile_detail.html"


class WriteKeyListView(PermissionRequiredMixin, ListView):
    permission_required = "customers.view_writekey"
    model = WriteKey
    template_name = "customers/writekey_list.html"
