from django.urls import path

from . import views

app_name = "customers"
urlpatterns = [
    path("", views.ProfileListView.as_view(), name="profile_list"),
    path("<int:pk>/", views.ProfileDetailView.as_view(), name="profile_detail"),
    path("write-keys/", views.WriteKeyListView.as_view(), name="writekey_list"),
]
