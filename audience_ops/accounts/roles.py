"""The three roles of Audience Ops, as Django groups with permissions.

A role is a group; what a role may do is the set of permissions below. Views check the permission
(``PermissionRequiredMixin``) and services check it again (:func:`ensure_permission`), so a command or a
job that calls a service directly is held to the same rule.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission
from django.core.exceptions import PermissionDenied
from django.db import models


class Role(models.TextChoices):
    MARKETER = "marketer", "Marketer"
    OPS = "ops", "Ops"
    ADMIN = "admin", "Admin"


# "app_label.codename" for every permission a role holds. Apps that do not exist yet are skipped at sync
# time; tests assert that every name here resolves once all apps are installed.
ROLE_PERMISSIONS: dict[str, set[str]] = {
    # Marketers build audiences, keep the QA test profiles and run QA; they see where audiences are synced.
    Role.MARKETER: {
        "customers.view_profile",
        "customers.view_event",
        "audiences.view_audience",
        "audiences.add_audience",
        "audiences.change_audience",
        "audiences.view_qatestprofile",
        "audiences.add_qatestprofile",
        "audiences.change_qatestprofile",
        "audiences.delete_qatestprofile",
        "destinations.view_destination",
        "syncs.view_sync",
        "monitoring.view_alert",
    },
    # Ops approve launches (never their own), operate live audiences and syncs, and watch alerts.
    Role.OPS: {
        "audit.view_auditevent",
        "customers.view_profile",
        "customers.view_event",
        "audiences.view_audience",
        "audiences.approve_audience",
        "audiences.operate_audience",
        "audiences.view_qatestprofile",
        "destinations.view_destination",
        "syncs.view_sync",
        "syncs.add_sync",
        "syncs.change_sync",
        "syncs.run_sync",
        "monitoring.view_alert",
        "monitoring.change_alert",
    },
    # Admins manage destinations, credentials, users and write keys, and retire stale audiences.
    Role.ADMIN: {
        "audit.view_auditevent",
        "customers.view_profile",
        "customers.view_event",
        "customers.view_writekey",
        "customers.add_writekey",
        "customers.change_writekey",
        "audiences.view_audience",
        "audiences.change_audience",
        "audiences.operate_audience",
        "audiences.retire_audience",
        "audiences.view_qatestprofile",
        "destinations.view_destination",
        "destinations.add_destination",
        "destinations.change_destination",
        "destinations.delete_destination",
        "syncs.view_sync",
        "syncs.add_sync",
        "syncs.change_sync",
        "syncs.run_sync",
        "monitoring.view_alert",
        "monitoring.change_alert",
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
    },
}


def sync_role_groups(**_: Any) -> None:
    """Create the role groups and give each exactly its permissions (idempotent, runs after migrate)."""
    for role, names in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        wanted = []
        for name in names:
            app_label, codename = name.split(".", 1)
            permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if permission is not None:
                wanted.append(permission)
        group.permissions.set(wanted)


def user_role(user: AbstractBaseUser | AnonymousUser) -> str | None:
    """The user's role name (superusers count as admin), or None."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    names = {group.name for group in user.groups.all()}
    for role in (Role.ADMIN, Role.OPS, Role.MARKETER):
        if role in names:
            return role
    return None


def ensure_permission(actor: AbstractBaseUser | AnonymousUser | None, permission: str) -> None:
    """Raise ``PermissionDenied`` unless ``actor`` holds ``permission``.

    ``actor=None`` means the operator at the command line, who already has the keys to the database.
    """
    if actor is None:
        return
    if not actor.is_active or not actor.has_perm(permission):
        raise PermissionDenied(f"{getattr(actor, 'username', 'anonymous')} may not do this ({permission}).")
