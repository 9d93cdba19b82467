"""What the builder offers in its datalists and selects: known traits, events, properties, audiences, owners.

The datalists are hints, not constraints (a trait nobody has yet is still a valid condition), so trait and
property names come from a sample of the newest rows rather than a scan of every profile and event.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import connection

from audience_ops.customers.models import Event, Profile

from ..choices import AudienceKind
from ..models import Audience

IDENTIFIER_ATTRIBUTES = ("email", "phone", "external_id")
NAME_SAMPLE_ROWS = 5000
MAX_EVENT_NAMES = 500


@dataclass(frozen=True)
class AudienceOption:
    slug: str
    name: str
    kind: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.slug})"


def builder_trait_names(*, sample: int = NAME_SAMPLE_ROWS) -> list[str]:
    """Identifiers first, then the trait keys found on the newest ``sample`` profiles, sorted."""
    names: set[str] = set()
    for traits in Profile.objects.order_by("-id").values_list("traits", flat=True)[:sample]:
        if isinstance(traits, dict):
            names.update(key for key in traits if isinstance(key, str))
    return [*IDENTIFIER_ATTRIBUTES, *sorted(names - set(IDENTIFIER_ATTRIBUTES))]


def builder_property_names(*, sample: int = NAME_SAMPLE_ROWS) -> list[str]:
    """Event property keys found on the newest ``sample`` events, sorted."""
    names: set[str] = set()
    for properties in Event.objects.order_by("-id").values_list("properties", flat=True)[:sample]:
        if isinstance(properties, dict):
            names.update(key for key in properties if isinstance(key, str))
    return sorted(names)


def builder_event_names(*, limit: int = MAX_EVENT_NAMES) -> list[str]:
    """Every distinct event name (up to ``limit``), sorted.

    A recursive "skip scan" over the (name, occurred_at) index: one index probe per distinct name instead of
    reading every event, which matters once there are millions of them. Runs as is on SQLite and PostgreSQL.
    """
    table = connection.ops.quote_name(Event._meta.db_table)
    sql = (
        "WITH RECURSIVE names(name, n) AS ("
        f"SELECT (SELECT MIN(name) FROM {table}), 1 "
        f"UNION ALL SELECT (SELECT MIN(e.name) FROM {table} AS e WHERE e.name > names.name), names.n + 1 "
        "FROM names WHERE names.name IS NOT NULL AND names.n < %s"
        ") SELECT name FROM names WHERE name IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return sorted(row[0] for row in cursor.fetchall())


def builder_audience_options(*, exclude_slug: str | None = None) -> list[AudienceOption]:
    """Every audience but ``exclude_slug`` (the one being edited), by name: for in_audience and exclude."""
    rows = Audience.objects.order_by("name", "slug").values_list("slug", "name", "kind")
    return [AudienceOption(slug, name, kind) for slug, name, kind in rows if slug != exclude_slug]


def builder_suppression_options(*, exclude_slug: str | None = None) -> list[AudienceOption]:
    """The suppression audiences a targeting audience may pair with."""
    return [
        option
        for option in builder_audience_options(exclude_slug=exclude_slug)
        if option.kind == AudienceKind.SUPPRESSION
    ]


def builder_owner_choices(*, include: str | None = None) -> list[tuple[str, str]]:
    """``(username, label)`` of the active users, plus ``include`` (an audience's current owner) if inactive."""
    user_model = get_user_model()
    field = user_model.USERNAME_FIELD
    users = user_model.objects.filter(is_active=True) | user_model.objects.filter(**{field: include or ""})
    choices = []
    for user in users.order_by(field).distinct():
        username = user.get_username()
        full_name = user.get_full_name() if hasattr(user, "get_full_name") else ""
        choices.append((username, f"{full_name} ({username})" if full_name else username))
    return choices


def builder_existing_slugs(*, slugs: list[str]) -> set[str]:
    """Which of ``slugs`` are audiences already (for playbook companions)."""
    return set(Audience.objects.filter(slug__in=slugs).values_list("slug", flat=True))
