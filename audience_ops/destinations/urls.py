from django.urls import path

from . import views

app_name = "destinations"
urlpatterns = [
    path("", views.DestinationListView.as_view(), name="destination_list"),
    path("new/", views.DestinationCreateView.as_view(), name="destination_create"),
    path("<int:pk>/", views.DestinationDetailView.as_view(), name="destination_detail"),
    path("<int:pk>/edit/", views.DestinationUpdateView.as_view(), name="destination_update"),
    path("<int:pk>/delete/", views.DestinationDeleteView.as_view(), name="destination_delete"),
    path("<int:pk>/test/", views.DestinationTestView.as_view(), name="destination_test"),
]
