from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("users/", views.UserListView.as_view(), name="user_list"),
    path("users/new/", views.UserCreateView.as_view(), name="user_create"),
    path("users/<int:pk>/role/", views.UserRoleView.as_view(), name="user_role"),
    path("users/<int:pk>/active/", views.UserActiveView.as_view(), name="user_active"),
]
