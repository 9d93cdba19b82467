"""Write keys for the tracking API: created and revoked by admins, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audience_ops.accounts.roles import ensure_permission
from audience_ops.audit.services import CLI_LABEL, audit_record, model_snapshot

from .models import WriteKey

KEY_PREFIX = "wk_"
# What the audit log records of a key: never the key or its hash.
AUDITED_FIELDS = ["name", "prefix", "created_by", "revoked_at"]


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@transaction.atomic
def writekey_create(*, actor: AbstractBaseUser | None, name: str) -> tuple[WriteKey, str]:
    """Create a write key and return it with the raw key, which is shown once and never stored.

    Writes a ``writekey.created`` audit event (name and prefix, never the key or its hash) in the same transaction.
    """
    ensure_permission(actor, "customers.add_writekey")
    name = name.strip()
    if not name:
        raise ValidationError({"name": "a write key needs a name that says where it is used"})
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    write_key = WriteKey(name=name, prefix=raw_key[:10], key_hash=hash_key(raw_key), created_by=actor)
    write_key.full_clean()
    write_key.save()
    audit_record(
        actor=actor,
        actor_label="" if actor else CLI_LABEL,
        action="writekey.created",
        obj=write_key,
        after=model_snapshot(write_key, AUDITED_FIELDS),
    )
    return write_key, raw_key


@transaction.atomic
def writekey_revoke(*, actor: AbstractBaseUser | None, write_key: WriteKey) -> WriteKey:
    """Revoke a key: messages sent with it are refused from now on.

    Writes a ``writekey.revoked`` audit event in the same transaction; revoking a revoked key writes nothing.
    """
    ensure_permission(actor, "customers.change_writekey")
    if write_key.revoked_at is None:
        before = model_snapshot(write_key, AUDITED_FIELDS)
        write_key.revoked_at = timezone.now()
        write_key.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            actor_label="" if actor else CLI_LABEL,
            action="writekey.revoked",
            obj=write_key,
            before=before,
            after=model_snapshot(write_key, AUDITED_FIELDS),
        )
    return write_key


def writekey_authenticate(raw_key: str | None) -> WriteKey | None:
    """The active key matching ``raw_key``, or None; marks it used (at most once a minute, to spare writes)."""
    if not raw_key:
        return None
    write_key = WriteKey.objects.filter(key_hash=hash_key(raw_key), revoked_at__isnull=True).first()
    if write_key is not None:
        now = timezone.now()
        if write_key.last_used_at is None or (now - write_key.last_used_at).total_seconds() > 60:
            WriteKey.objects.filter(pk=write_key.pk).update(last_used_at=now)
    return write_key
