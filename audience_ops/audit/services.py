"""Writing the audit log. Every service that changes state calls :func:`audit_record` inside its own
``transaction.atomic`` block, so the change and its audit event commit or roll back together.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, router, transaction
from django.db.transaction import TransactionManagementError

from .middleware import request_ip
from .models import AuditEvent

SYSTEM_LABEL = "system"
CLI_LABEL = "cli"

# Field names that hold secrets or their hashes: a snapshot refuses them rather than trusting every caller.
SENSITIVE_FIELDS = frozenset({"password", "key_hash"})


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON types (dates as ISO strings, decimals and UUIDs as strings).

    Before and after are normalised this way before they are compared, so the diff compares exactly what is
    stored (a datetime and its ISO string never count as a change).
    """
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def model_snapshot(instance: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The named fields of ``instance`` as a JSON-safe dict, for the ``before``/``after`` of an audit event.

    A foreign key is recorded as the related id (no query), a many-to-many as the sorted related ids, and a
    name that is not a field (a property such as ``role``) as its value. Secret fields are refused, so a
    careless caller cannot write a password hash or key hash into the log.
    """
    snapshot: dict[str, Any] = {}
    for name in fields:
        if name in SENSITIVE_FIELDS:
            raise ValueError(f"{name}: secrets and their hashes are never written to the audit log")
        try:
            field = instance._meta.get_field(name)
        except FieldDoesNotExist:
            field = None
        if field is not None and field.many_to_many:
            value: Any = sorted(getattr(instance, name).values_list("pk", flat=True))
        elif field is not None and field.is_relation and field.concrete:
            value = getattr(instance, field.attname)
        else:
            value = getattr(instance, name)
        snapshot[name] = json_safe(value)
    return snapshot


def snapshot_changes(*, before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, list[Any]]:
    """Field -> [before, after] for every field whose value differs; a field missing on one side is None."""
    before = before or {}
    after = after or {}
    return {
        name: [before.get(name), after.get(name)]
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }


def audit_record(
    *,
    actor: AbstractBaseUser | None,
    action: str,
    obj: models.Model,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    actor_label: str = "",
    ip_address: str | None = None,
) -> AuditEvent:
    """Write one audit event for a change to ``obj``; call it inside the ``transaction.atomic`` of the change.

    It refuses to run outside a transaction: an event committed on its own could describe a change that then
    rolled back, or a change could commit without its event. ``actor`` is the signed-in user, or None for
    the command line and the system, in which case ``actor_label`` says which ("cli", or the username given
    with ``--by``); it defaults to the actor's username, else "system". ``ip_address`` defaults to the
    client address of the current web request (see :mod:`.middleware`). ``before``/``after`` should come
    from :func:`model_snapshot` (JSON-safe, no secrets); the changed fields are computed from them.
    """
    using = router.db_for_write(AuditEvent)
    if not transaction.get_connection(using).in_atomic_block:
        raise TransactionManagementError(
            f"audit_record({action!r}) must run inside the transaction.atomic block of the change it records"
        )
    if obj.pk is None:
        raise ValueError(f"obj: save the {type(obj).__name__} before recording an audit event for it")
    before = json_safe(before) if before is not None else None
    after = json_safe(after) if after is not None else None
    label = actor_label or (actor.get_username() if actor is not None else "") or SYSTEM_LABEL
    event = AuditEvent(
        actor=actor,
        actor_label=label[:150],
        action=action,
        object_content_type=ContentType.objects.db_manager(using).get_for_model(obj),
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        before=before,
        after=after,
        changes=snapshot_changes(before=before, after=after),
        reason=reason.strip(),
        ip_address=ip_address if ip_address is not None else request_ip(),
    )
    event.full_clean()
    event.save(using=using)
    return event
