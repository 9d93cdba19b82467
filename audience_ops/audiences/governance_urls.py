"""Governance routes, included by ``urls.py`` into the ``audiences`` namespace (before ``<slug>/``, so the fixed
paths ``reviews/`` and ``qa-profiles/`` are never read as audience slugs)."""

from django.urls import path

from . import governance_views as views

urlpatterns = [
    path("reviews/", views.ReviewQueueView.as_view(), name="review_list"),
    path("qa-profiles/", views.QATestProfileListView.as_view(), name="qa_profile_list"),
    path("qa-profiles/new/", views.QATestProfileCreateView.as_view(), name="qa_profile_add"),
    path("qa-profiles/<int:pk>/edit/", views.QATestProfileEditView.as_view(), name="qa_profile_edit"),
    path("qa-profiles/<int:pk>/delete/", views.QATestProfileDeleteView.as_view(), name="qa_profile_delete"),
    path("<slug:slug>/qa/", views.AudienceQAView.as_view(), name="qa"),
    path("<slug:slug>/qa/run/", views.AudienceQARunView.as_view(), name="qa_run"),
    path("<slug:slug>/review/", views.AudienceReviewView.as_view(), name="review"),
    path("<slug:slug>/approve/", views.AudienceApproveView.as_view(), name="approve"),
    path("<slug:slug>/reject/", views.AudienceRejectView.as_view(), name="reject"),
    path("<slug:slug>/submit/", views.AudienceSubmitView.as_view(), name="submit"),
    path("<slug:slug>/pause/", views.AudiencePauseView.as_view(), name="pause"),
    path("<slug:slug>/resume/", views.AudienceResumeView.as_view(), name="resume"),
    path("<slug:slug>/retire/", views.AudienceRetireView.as_view(), name="retire"),
]
