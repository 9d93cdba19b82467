"""Alert list and its acknowledge/resolve actions."""

from django.urls import path

from . import views

app_name = "monitoring"

urlpatterns = [
    path("alerts/", views.AlertListView.as_view(), name="alert_list"),
    path("alerts/<int:pk>/acknowledge/", views.AlertActionView.as_view(action="acknowledge"), name="alert_acknowledge"),
    path("alerts/<int:pk>/resolve/", views.AlertActionView.as_view(action="resolve"), name="alert_resolve"),
]
