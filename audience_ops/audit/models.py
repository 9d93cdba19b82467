"""The audit log: one immutable row per change, written in the same transaction as the change.

Rows are written by :func:`audience_ops.audit.services.audit_record` and never changed or deleted through the
app: ``save()`` refuses to update, ``delete()`` refuses, the queryset refuses bulk ``update()``/``delete()``,
the admin is read-only and the model has only the ``view`` permission. On PostgreSQL a trigger (migration
``0002_immutable_trigger``) also rejects ``UPDATE`` and ``DELETE`` from any client, including raw SQL.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

ACTION_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"


class AuditImmutableError(Exception):
    """Raised on any attempt to change or delete an audit event: the log is append-only."""


def _refuse(what: str) -> NoReturn:
    raise AuditImmutableError(f"audit events are append-only: {what} is refused")


class AuditEventQuerySet(models.QuerySet):
    """Reads as usual; bulk writes that would rewrite history raise instead of running."""

    def update(self, **kwargs: Any) -> NoReturn:
        _refuse("update()")

    def delete(self) -> NoReturn:
        _refuse("delete()")

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> NoReturn:
        _refuse("bulk_update()")

    def update_or_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse("update_or_create()")


class AuditEvent(models.Model):
    """Who did what to which object, when, with the state before and after and the fields that changed.

    ``actor`` is null when the change came from the command line or the system; ``actor_label`` always says
    who it was in words (the username at the time, "cli", "system"), so the row reads the same after a
    rename. The object is referenced by content type and id, not by a foreign key, so the row (and
    ``object_repr``) outlives the object.
    """

    actor = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
        verbose_name="actor",
        help_text="The signed-in user who made the change; empty for the command line and the system.",
    )
    actor_label = models.CharField(
        verbose_name="actor label",
        max_length=150,
        help_text="Who made the change, in words: the username at the time, 'cli' or 'system'.",
    )
    action = models.CharField(
        max_length=64,
        validators=[RegexValidator(ACTION_PATTERN, message="use a dotted lower-case verb like user.role_changed")],
        help_text="What happened, as a dotted verb: user.role_changed, writekey.created, audience.approved.",
    )
    object_content_type = models.ForeignKey(
        to=ContentType,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="object type",
    )
    object_id = models.CharField(
        verbose_name="object id",
        max_length=64,
    )
    object_repr = models.CharField(
        verbose_name="object",
        max_length=200,
        help_text="The object as it was named at the time; kept when the object is deleted.",
    )
    before = models.JSONField(
        null=True,
        blank=True,
        help_text="The recorded fields before the change; empty for a creation.",
    )
    after = models.JSONField(
        null=True,
        blank=True,
        help_text="The recorded fields after the change; empty for a deletion.",
    )
    changes = models.JSONField(
        default=dict,
        blank=True,
        help_text="Each field whose value differs between before and after, as field -> [before, after].",
    )
    reason = models.TextField(
        blank=True,
        help_text="Why, when the person gave a reason (a rejection, a retirement).",
    )
    ip_address = models.GenericIPAddressField(
        verbose_name="IP address",
        null=True,
        blank=True,
        help_text="The client address of the web request that made the change; empty outside a request.",
    )
    created_at = models.DateTimeField(
        default=timezone.now,
    )

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "audit event"
        # Nobody may add, change or delete audit events through the app: only viewing is a permission.
        default_permissions = ("view",)
        base_manager_name = "objects"
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="audit_event_newest"),
            models.Index(fields=["action", "-created_at"], name="audit_event_action_time"),
            models.Index(fields=["actor", "-created_at"], name="audit_event_actor_time"),
            models.Index(fields=["object_content_type", "object_id", "-created_at"], name="audit_event_object_time"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(action=""), name="audit_event_action_not_empty"),
            models.CheckConstraint(condition=~Q(object_id=""), name="audit_event_object_id_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.object_repr} at {self.created_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Insert once; saving an existing row again would rewrite history, so it raises."""
        if not self._state.adding or kwargs.get("force_update") or kwargs.get("update_fields") is not None:
            _refuse("saving an existing audit event")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse("delete()")
