"""Profiles, their identifiers and events: what Audience Ops knows about customers.

The tracking API, ``manage.py ingest`` and ``seed_demo`` write these; the audience engine reads them with
set-based SQL, so the indexes below follow the engine's access paths.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone


class Profile(models.Model):
    """A customer, known (``external_id`` set) or anonymous (only anonymous ids point at it).

    ``external_id`` is the tracking API's ``userId``; ``email`` and ``phone`` come from ``traits.email`` and
    ``traits.phone`` exactly as received; every other trait lives in ``traits``. Traits do not depend on
    evaluation time.
    """

    external_id = models.CharField(
        verbose_name="external id",
        max_length=255,
        null=True,
        blank=True,
        help_text="The userId of the Segment Spec; empty for anonymous profiles.",
    )
    email = models.CharField(
        max_length=320,
        null=True,
        blank=True,
        help_text="As received in traits.email; normalised per destination at sync time.",
    )
    phone = models.CharField(
        max_length=64,
        null=True,
        blank=True,
        help_text="As received in traits.phone, national or international format.",
    )
    traits = models.JSONField(
        default=dict,
        blank=True,
        help_text="All other traits; a trait set to null is kept as null.",
    )
    created_at = models.DateTimeField(
        default=timezone.now,
    )
    updated_at = models.DateTimeField(
        default=timezone.now,
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                name="customers_profile_unique_external_id",
            ),
        ]
        indexes = [
            models.Index(Lower("email"), name="customers_profile_email_ci"),
            models.Index(fields=["phone"], name="customers_profile_phone"),
        ]

    def __str__(self) -> str:
        return self.label

    def get_absolute_url(self) -> str:
        return reverse("customers:profile_detail", args=[self.pk])

    @property
    def is_anonymous(self) -> bool:
        return not self.external_id

    @property
    def label(self) -> str:
        """What a person reading a list needs to recognise the profile."""
        return self.external_id or self.email or f"anonymous #{self.pk}"


class AnonymousId(models.Model):
    """An ``anonymousId`` and the profile it currently belongs to.

    An anonymous profile owns its own anonymous ids; when a message links one to a ``userId`` the row moves
    to the known profile, and the newest link decides where later anonymous-only messages go.
    """

    anonymous_id = models.CharField(
        max_length=255,
        unique=True,
    )
    profile = models.ForeignKey(
        to=Profile,
        on_delete=models.CASCADE,
        related_name="anonymous_ids",
    )
    linked_at = models.DateTimeField(
        default=timezone.now,
        help_text="When this id was last (re)linked to its profile.",
    )

    class Meta:
        ordering = ["anonymous_id"]
        verbose_name = "anonymous id"

    def __str__(self) -> str:
        return self.anonymous_id


class EventType(models.TextChoices):
    TRACK = "track", "Track"
    PAGE = "page", "Page"
    SCREEN = "screen", "Screen"


class Event(models.Model):
    """Something a profile did, at ``occurred_at`` (the message's timestamp, UTC).

    ``message_id`` is unique so a retried delivery is stored once.
    """

    profile = models.ForeignKey(
        to=Profile,
        on_delete=models.CASCADE,
        related_name="events",
    )
    name = models.CharField(
        max_length=255,
        help_text="The event name, exact and case-sensitive (Page Viewed / Screen Viewed for page and screen).",
    )
    type = models.CharField(
        max_length=8,
        choices=EventType.choices,
        default=EventType.TRACK,
    )
    occurred_at = models.DateTimeField(
        help_text="The message timestamp, in UTC.",
    )
    received_at = models.DateTimeField(
        default=timezone.now,
    )
    properties = models.JSONField(
        default=dict,
        blank=True,
    )
    message_id = models.CharField(
        max_length=255,
        unique=True,
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["name", "occurred_at"], name="customers_event_name_time"),
            models.Index(fields=["profile", "name", "occurred_at"], name="customers_event_prof_name_time"),
            models.Index(fields=["profile", "-occurred_at"], name="customers_event_timeline"),
            # Covers the audience engine's "profiles with a matching event in a time range" scans, so they are
            # index-only (no heap visit per event) when the condition has no property filter.
            models.Index(fields=["name", "occurred_at", "profile"], name="customers_event_name_time_prof"),
        ]

    def __str__(self) -> str:
        return f"{self.name} at {self.occurred_at:%Y-%m-%d %H:%M}"


class IdentifyCall(models.Model):
    """One identify message as received: the trait history of a profile, and its dedupe key."""

    profile = models.ForeignKey(
        to=Profile,
        on_delete=models.CASCADE,
        related_name="identify_calls",
    )
    message_id = models.CharField(
        max_length=255,
        unique=True,
    )
    traits = models.JSONField(
        default=dict,
        blank=True,
    )
    sent_at = models.DateTimeField(
        help_text="The message timestamp.",
    )
    received_at = models.DateTimeField(
        default=timezone.now,
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = "identify call"

    def __str__(self) -> str:
        return self.message_id


class WriteKey(models.Model):
    """A credential for the tracking API. Only a SHA-256 of the key is stored; the key is shown once."""

    name = models.CharField(
        max_length=100,
        help_text="Where the key is used, e.g. 'storefront' or 'mobile app'.",
    )
    prefix = models.CharField(
        max_length=12,
        help_text="The first characters of the key, to recognise it in lists.",
    )
    key_hash = models.CharField(
        max_length=64,
        unique=True,
    )
    created_by = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(
        default=timezone.now,
    )
    revoked_at = models.DateTimeField(
        null=True,
        blank=True,
    )
    last_used_at = models.DateTimeField(
        null=True,
        blank=True,
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "write key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
