"""Read-side queries over customer data, shared by views, commands and later the engine's UI."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from .models import Event, Profile


def profile_stats() -> dict[str, int]:
    """Counts for the home page."""
    profiles = Profile.objects.count()
    known = Profile.objects.filter(external_id__isnull=False).count()
    return {"profiles": profiles, "known": known, "anonymous": profiles - known, "events": Event.objects.count()}


def profile_search(*, query: str) -> QuerySet[Profile]:
    """Profiles whose email (case-insensitive), phone, external id or one of whose anonymous ids equals ``query``."""
    query = query.strip()
    if not query:
        return Profile.objects.none()
    return (
        Profile.objects.filter(
            Q(email__iexact=query) | Q(phone=query) | Q(external_id=query) | Q(anonymous_ids__anonymous_id=query)
        )
        .distinct()
        .order_by("id")
    )
