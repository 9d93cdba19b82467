"""The Segment-Spec tracking API: /v1/identify, /v1/track, /v1/page, /v1/screen, /v1/alias, /v1/group, /v1/batch."""

urlpatterns: list = []
