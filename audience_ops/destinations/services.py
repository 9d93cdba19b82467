"""Creating, changing, deleting and testing destinations: admins only, every change audited.

A destination's config arrives as one dict (the way the command line and the form give it); the kind's
adapter validates it and says which keys are secret, and the secrets are split off and encrypted. The
audit log and every listing show secrets only masked (``••••abcd``).
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import InvalidToken
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone

from audience_ops.accounts.roles import ensure_permission
from audience_ops.audit.services import CLI_LABEL, audit_record, model_snapshot
from audience_ops.core import crypto

from .adapters.base import ConfigError, DestinationError
from .models import Destination
from .registry import adapter_class, adapter_for

AUDITED_FIELDS = ["name", "kind", "config", "enabled"]


def destination_snapshot(destination: Destination) -> dict[str, Any]:
    """What the audit log records of a destination: its settings, and its credentials only masked."""
    snapshot = model_snapshot(destination, AUDITED_FIELDS)
    snapshot["credentials"] = destination.masked_credentials()
    return snapshot


def split_config(*, kind: str, config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate ``config`` for ``kind`` and split it into (settings, secrets); ``ValidationError`` naming keys."""
    try:
        cls = adapter_class(kind)
    except KeyError as exc:
        raise ValidationError({"kind": str(exc.args[0])}) from None
    if not isinstance(config, dict):
        raise ValidationError({"config": "config must be a JSON object"})
    try:
        cleaned = cls.clean_config(config)
    except ConfigError as exc:
        raise ValidationError({"config": [f"{path}: {message}" for path, message in exc.errors.items()]}) from None
    settings_part = {key: value for key, value in cleaned.items() if key not in cls.secret_keys}
    secrets_part = {key: value for key, value in cleaned.items() if key in cls.secret_keys}
    return settings_part, secrets_part


def _check_name(name: str, *, exclude_pk: int | None = None) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "a destination needs a name"})
    clash = Destination.objects.filter(name=name)
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ValidationError({"name": f'a destination named "{name}" already exists'})
    return name


def _label(actor: AbstractBaseUser | None) -> str:
    return "" if actor else CLI_LABEL


@transaction.atomic
def destination_create(
    *,
    actor: AbstractBaseUser | None,
    name: str,
    kind: str,
    config: dict[str, Any],
    enabled: bool = True,
) -> Destination:
    """Create a destination; the secret keys of ``config`` (per the kind's adapter) are stored encrypted.

    Writes ``destination.create`` with the credentials masked.
    """
    ensure_permission(actor, "destinations.add_destination")
    name = _check_name(name)
    settings_part, secrets_part = split_config(kind=kind, config=config)
    destination = Destination(name=name, kind=kind, config=settings_part, enabled=enabled, created_by=actor)
    destination.set_credentials(secrets_part)
    destination.full_clean()
    destination.save()
    audit_record(
        actor=actor,
        actor_label=_label(actor),
        action="destination.create",
        obj=destination,
        after=destination_snapshot(destination),
    )
    return destination


@transaction.atomic
def destination_update(
    *,
    actor: AbstractBaseUser | None,
    destination: Destination,
    name: str | None = None,
    config: dict[str, Any] | None = None,
    enabled: bool | None = None,
) -> Destination:
    """Change a destination's name, config or enabled flag (None leaves a part as it is).

    A secret key that is missing or blank in ``config`` keeps its stored value, so a form never has to
    show a secret to keep it. Writes ``destination.update`` (credentials masked) when something changed.
    """
    ensure_permission(actor, "destinations.change_destination")
    destination = Destination.objects.select_for_update().get(pk=destination.pk)
    before = destination_snapshot(destination)
    credentials_changed = False
    if name is not None:
        destination.name = _check_name(name, exclude_pk=destination.pk)
    if config is not None:
        secret_keys = adapter_class(destination.kind).secret_keys
        merged = dict(config)
        stored = destination.get_credentials()
        for key in secret_keys:
            if not str(merged.get(key) or "").strip() and key in stored:
                merged[key] = stored[key]
        settings_part, secrets_part = split_config(kind=destination.kind, config=merged)
        destination.config = settings_part
        if secrets_part != stored:
            destination.set_credentials(secrets_part)
            credentials_changed = True
    if enabled is not None:
        destination.enabled = enabled
    after = destination_snapshot(destination)
    if credentials_changed:
        # The mask may look the same (same last characters): say so explicitly, without the secret.
        after["credentials_changed"] = True
    if after == before:
        return destination
    destination.updated_at = timezone.now()
    destination.full_clean()
    destination.save()
    audit_record(
        actor=actor,
        actor_label=_label(actor),
        action="destination.update",
        obj=destination,
        before=before,
        after=after,
    )
    return destination


def destination_delete(*, actor: AbstractBaseUser | None, destination: Destination) -> None:
    """Delete a destination that no sync uses; ``ValidationError`` saying why when syncs still point at it.

    Writes ``destination.delete`` (credentials masked); a refused delete writes nothing.
    """
    ensure_permission(actor, "destinations.delete_destination")
    try:
        with transaction.atomic():
            audit_record(
                actor=actor,
                actor_label=_label(actor),
                action="destination.delete",
                obj=destination,
                before=destination_snapshot(destination),
            )
            destination.delete()
    except (ProtectedError, RestrictedError) as exc:
        users = len(exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects)
        raise ValidationError(
            f'"{destination.name}" is used by {users} sync(s); delete those syncs before the destination.'
        ) from None


def destination_test_connection(*, actor: AbstractBaseUser | None, destination: Destination) -> tuple[bool, str]:
    """Ask the platform whether the stored credentials work; record and audit the outcome.

    Returns (ok, message): the platform's own message on failure (never the credentials). The call to the
    platform happens outside any transaction, so a slow platform never holds a database lock.
    """
    ensure_permission(actor, "destinations.change_destination")
    try:
        message = adapter_for(destination).test_connection()
        ok = True
    except DestinationError as exc:
        ok, message = False, str(exc)
    except (ConfigError, ValueError) as exc:
        ok, message = False, f"The destination's configuration is not usable: {exc}"
    with transaction.atomic():
        destination.last_test_at = timezone.now()
        destination.last_test_ok = ok
        destination.last_test_message = message[:2000]
        destination.save(update_fields=["last_test_at", "last_test_ok", "last_test_message"])
        audit_record(
            actor=actor,
            actor_label=_label(actor),
            action="destination.test",
            obj=destination,
            after={"ok": ok, "message": destination.last_test_message},
        )
    return ok, message


@transaction.atomic
def destination_credentials_rotate(*, actor: AbstractBaseUser | None) -> int:
    """Re-encrypt every destination's credentials with the newest key of ``FIELD_ENCRYPTION_KEYS``.

    Key rotation is "prepend the new key, re-encrypt, drop the old one": until every stored token is
    re-encrypted, dropping the old key would make those credentials unreadable. All rows or none (one
    transaction); a token no configured key can read stops the rotation and names the destination. Returns
    how many destinations were re-encrypted; writes one ``destination.rotate_credentials`` event each (no
    secrets in it, masked or not: the values did not change).
    """
    ensure_permission(actor, "destinations.change_destination")
    rotated = 0
    for destination in Destination.objects.select_for_update().exclude(credentials="").order_by("pk"):
        try:
            destination.credentials = crypto.rotate(destination.credentials)
        except InvalidToken:
            raise ValidationError(
                f'destination "{destination.name}": its credentials cannot be decrypted with any key in '
                "FIELD_ENCRYPTION_KEYS; add the key they were written with and try again"
            ) from None
        destination.save(update_fields=["credentials"])
        audit_record(
            actor=actor,
            actor_label=_label(actor),
            action="destination.rotate_credentials",
            obj=destination,
        )
        rotated += 1
    return rotated
