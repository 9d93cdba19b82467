"""Hygiene pages under ``/audiences/hygiene/``: the retirement queue, the overlap matrix and collisions."""

from django.urls import path

from . import hygiene_views as views

app_name = "hygiene"
urlpatterns = [
    path("retirement/", views.RetirementQueueView.as_view(), name="queue"),
    path("retirement/<slug:slug>/retire/", views.RetireFromQueueView.as_view(), name="retire"),
    path("retirement/<slug:slug>/extend/", views.ExtendRetirementView.as_view(), name="extend"),
    path("overlap/", views.OverlapMatrixView.as_view(), name="overlap"),
    path("collisions/", views.CollisionReportView.as_view(), name="collisions"),
]
