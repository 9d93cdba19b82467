from django.urls import include, path

from . import views

app_name = "audiences"
urlpatterns = [
    path("", views.AudienceListView.as_view(), name="list"),
    path("hygiene/", include("audience_ops.audiences.hygiene_urls")),
    path("", include("audience_ops.audiences.governance_urls")),
    path("<slug:slug>/", views.AudienceDetailView.as_view(), name="detail"),
    path("<slug:slug>/diff/", views.AudienceDiffView.as_view(), name="diff"),
    path("<slug:slug>/why/", views.AudienceWhyView.as_view(), name="why"),
    path("<slug:slug>/members.csv", views.AudienceMembersCsvView.as_view(), name="members_csv"),
    path("<slug:slug>/evaluate/", views.AudienceEvaluateView.as_view(), name="evaluate"),
]
