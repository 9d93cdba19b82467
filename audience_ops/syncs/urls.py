"""Sync pages: the list, the create form, a sync's page with its actions and run history, and each run."""

from django.urls import path

from . import views

app_name = "syncs"

urlpatterns = [
    path("", views.SyncListView.as_view(), name="list"),
    path("new/", views.SyncCreateView.as_view(), name="create"),
    path("<int:pk>/", views.SyncDetailView.as_view(), name="detail"),
    path("<int:pk>/edit/", views.SyncUpdateView.as_view(), name="update"),
    path("<int:pk>/plan/", views.SyncPlanView.as_view(), name="plan"),
    path("<int:pk>/run/", views.SyncRunNowView.as_view(), name="run_now"),
    path("<int:pk>/pause/", views.SyncSetEnabledView.as_view(enabled=False), name="pause"),
    path("<int:pk>/resume/", views.SyncSetEnabledView.as_view(enabled=True), name="resume"),
    path("<int:pk>/guardrails/", views.SyncGuardrailsView.as_view(), name="guardrails"),
    path("runs/<int:pk>/", views.SyncRunDetailView.as_view(), name="run_detail"),
    path("runs/<int:pk>/approve/", views.SyncRunDecideView.as_view(approve=True), name="run_approve"),
    path("runs/<int:pk>/cancel/", views.SyncRunDecideView.as_view(approve=False), name="run_cancel"),
]
