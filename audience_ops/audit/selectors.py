"""Reading the audit log: the page's rows, the choices its filters offer, and links to the audited objects."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet

from .models import AuditEvent


def audit_event_list() -> QuerySet[AuditEvent]:
    """Every audit event, newest first, with what a list row shows already joined."""
    return AuditEvent.objects.select_related("actor", "object_content_type").order_by("-created_at", "-id")


def audit_events_for(*, obj: models.Model) -> QuerySet[AuditEvent]:
    """The history of one object, newest first (for a "history" section on the object's own page)."""
    return audit_event_list().filter(
        object_content_type=ContentType.objects.get_for_model(obj),
        object_id=str(obj.pk),
    )


def audit_actions() -> list[str]:
    """The actions that occur in the log, for the action filter."""
    return list(AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct())


def audit_actors() -> QuerySet[AbstractBaseUser]:
    """The users who appear as actors in the log, for the actor filter."""
    User = get_user_model()
    acting = AuditEvent.objects.filter(actor__isnull=False).values("actor_id")
    return User.objects.filter(pk__in=acting).order_by(User.USERNAME_FIELD)


def audit_object_types() -> list[ContentType]:
    """The content types of audited objects, for the object type filter (sorted by their readable name)."""
    audited = AuditEvent.objects.values("object_content_type_id")
    return sorted(ContentType.objects.filter(pk__in=audited), key=lambda content_type: str(content_type.name))


def audit_object_links(*, events: Iterable[AuditEvent]) -> dict[int, str]:
    """Event id -> URL of its object, for events whose object still exists and has a ``get_absolute_url``.

    One query per object type on the page; objects that were deleted, or whose model is gone, get no link
    (the row still shows ``object_repr``).
    """
    wanted: dict[ContentType, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for event in events:
        wanted[event.object_content_type][event.object_id].append(event.pk)
    links: dict[int, str] = {}
    for content_type, ids in wanted.items():
        model = content_type.model_class()
        if model is None or not hasattr(model, "get_absolute_url"):
            continue
        pk_field = model._meta.pk
        by_pk: dict[object, list[int]] = {}
        for object_id, event_ids in ids.items():
            try:
                by_pk[pk_field.to_python(object_id)] = event_ids
            except ValidationError:
                continue
        for instance in model._default_manager.filter(pk__in=list(by_pk)):
            url = instance.get_absolute_url()
            for event_id in by_pk.get(instance.pk, []):
                links[event_id] = url
    return links
