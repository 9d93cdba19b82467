"""The form-based builder: ``/builder/new/``, ``/builder/<slug>/edit/``, the live preview and the playbooks."""

from django.urls import path

from .builder import views

app_name = "builder"
urlpatterns = [
    path("", views.builder_home, name="home"),
    path("new/", views.AudienceCreateView.as_view(), name="new"),
    path("preview/", views.BuilderPreviewView.as_view(), name="preview"),
    path("playbooks/", views.PlaybookListView.as_view(), name="playbooks"),
    path("playbooks/<slug:key>/companions/", views.PlaybookCompanionsCreateView.as_view(), name="playbook_companions"),
    path("<slug:slug>/edit/", views.AudienceEditView.as_view(), name="edit"),
]
