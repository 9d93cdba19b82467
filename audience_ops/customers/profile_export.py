"""A profile as plain JSON-ready data: what ``manage.py profiles show`` prints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .models import Profile


def iso_utc(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix, the form the tracking API receives."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def profile_export(*, profile: Profile) -> dict[str, Any]:
    """The profile, its anonymous ids and all its events, oldest first (a support or debugging view)."""
    events = profile.events.order_by("occurred_at", "id").values_list("name", "occurred_at", "properties")
    return {
        "id": profile.pk,
        "external_id": profile.external_id,
        "email": profile.email,
        "phone": profile.phone,
        "traits": profile.traits,
        "anonymous_ids": sorted(profile.anonymous_ids.values_list("anonymous_id", flat=True)),
        "created_at": iso_utc(profile.created_at),
        "events": [
            {"name": name, "occurred_at": iso_utc(occurred_at), "properties": properties}
            for name, occurred_at, properties in events
        ],
    }
