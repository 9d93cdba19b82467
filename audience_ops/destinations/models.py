"""Destinations: where audiences are synced to (an ad platform account, ...).

A destination stores only its kind, its non-secret settings (``config``) and its credentials, encrypted at
rest as one Fernet token of a JSON object. What the settings mean belongs to the kind's adapter
(``registry.adapter_class(kind)``), which also says which config keys are secret.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from ..core import crypto
from .registry import kinds

MASK = "••••"


def mask_secret(value: Any) -> str:
    """``••••abcd``: enough of a secret to recognise it, never enough to use it.

    Short secrets show nothing but the mask, so the visible tail is never a large part of the secret.
    """
    text = str(value or "")
    if len(text) < 12:
        return MASK
    return f"{MASK}{text[-4:]}"


class Destination(models.Model):
    """One configured destination: a platform kind, its settings, and its encrypted credentials."""

    name = models.CharField(
        max_length=100,
        unique=True,
        help_text="How people refer to this destination, e.g. 'Meta - Glow & Grind US'.",
    )
    kind = models.CharField(
        max_length=50,
        choices=kinds,
        help_text="Which platform API this destination speaks.",
    )
    config = models.JSONField(
        default=dict,
        blank=True,
        help_text="Non-secret settings for the kind's adapter (account id, identifiers sent, ...).",
    )
    credentials = models.TextField(
        blank=True,
        default="",
        editable=False,
        help_text="Fernet token of a JSON object holding the secret settings; never shown or logged.",
    )
    enabled = models.BooleanField(
        default=True,
        help_text="Disabled destinations receive no syncs.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="created by",
    )
    created_at = models.DateTimeField(
        default=timezone.now,
        editable=False,
    )
    updated_at = models.DateTimeField(
        default=timezone.now,
    )
    last_test_at = models.DateTimeField(
        null=True,
        blank=True,
        verbose_name="last connection test",
    )
    last_test_ok = models.BooleanField(
        null=True,
        blank=True,
        verbose_name="last test succeeded",
    )
    last_test_message = models.TextField(
        blank=True,
        default="",
        verbose_name="last test message",
    )

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["name"], name="destinations_dest_name"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("destinations:destination_detail", args=[self.pk])

    # --- credentials ---------------------------------------------------------------------------------

    def get_credentials(self) -> dict[str, Any]:
        """The decrypted secret settings ({} when none are stored)."""
        if not self.credentials:
            return {}
        return json.loads(crypto.decrypt(self.credentials))

    def set_credentials(self, secrets: dict[str, Any]) -> None:
        """Encrypt ``secrets`` into the credentials column (empty secrets store nothing)."""
        self.credentials = crypto.encrypt(json.dumps(secrets, sort_keys=True)) if secrets else ""

    def masked_credentials(self) -> dict[str, str]:
        """Secret key -> ``••••abcd``, for pages, the command line and the audit log."""
        return {key: mask_secret(value) for key, value in sorted(self.get_credentials().items())}

    def full_config(self) -> dict[str, Any]:
        """Settings and decrypted secrets together, as the adapter reads them."""
        return {**self.config, **self.get_credentials()}

    @property
    def kind_label(self) -> str:
        return dict(kinds()).get(self.kind, self.kind)
