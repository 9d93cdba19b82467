"""``manage.py rotate_keys``: re-encrypt stored secrets with the newest key of FIELD_ENCRYPTION_KEYS."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from audience_ops.destinations.services import destination_credentials_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every destination's credentials with the first key of FIELD_ENCRYPTION_KEYS, so the older "
        "keys can then be removed. All or nothing."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            rotated = destination_credentials_rotate(actor=None)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(f"Re-encrypted the credentials of {rotated} destination(s) with the newest key.")
