"""The Segment-Spec tracking API: /v1/identify, /v1/track, /v1/page, /v1/screen, /v1/alias, /v1/group, /v1/batch."""

from django.urls import path

from .api import tracking_view

app_name = "tracking"
urlpatterns = [
    path(message_type, tracking_view, {"message_type": message_type}, name=message_type)
    for message_type in ("identify", "track", "page", "screen", "group", "alias", "batch")
]
