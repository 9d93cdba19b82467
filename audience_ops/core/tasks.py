"""Core periodic jobs."""

import django_rq
from django.utils import timezone

HEARTBEAT_KEY = "audience_ops:scheduler_heartbeat"


def heartbeat() -> str:
    """Record that the scheduler fired and a worker ran it; the health page shows the last beat."""
    now = timezone.now().isoformat()
    django_rq.get_connection("default").set(HEARTBEAT_KEY, now)
    return now


def last_heartbeat() -> str | None:
    """The last beat written by :func:`heartbeat`, or None when the scheduler never ran (or Redis is down)."""
    try:
        value = django_rq.get_connection("default").get(HEARTBEAT_KEY)
    except Exception:
        return None
    return value.decode() if value else None
