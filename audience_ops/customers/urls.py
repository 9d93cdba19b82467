from django.urls import path

from . import views

app_name = "customers"
urlpatterns = [
    path("", views.ProfileListView.as_view(), name="profile_list"),
    path("<int:pk>/", views.ProfileDetailView.as_view(), name="profile_detail"),
    path("write-keys/", views.WriteKeyListView.as_view(), name="writekey_list"),
    path("write-keys/new/", views.WriteKeyCreateView.as_view(), name="writekey_create"),
    path("write-keys/<int:pk>/revoke/", views.WriteKeyRevokeView.as_view(), name="writekey_revoke"),
]
