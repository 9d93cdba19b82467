"""Account services: creating users and giving them a role. Views and the ``users`` command call these."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.exceptions import ValidationError
from django.db import transaction

from audience_ops.audit.services import CLI_LABEL, audit_record, model_snapshot

from .roles import Role, ensure_permission

User = get_user_model()


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise ValidationError({"role": f"unknown role {role!r}; choose one of {', '.join(Role.values)}"})


def _held_role(user: AbstractBaseUser) -> str | None:
    """The role group(s) the user holds now, read from the database (not a prefetched cache)."""
    names = sorted(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
    return ", ".join(names) or None


def _user_snapshot(user: AbstractBaseUser, **extra: object) -> dict:
    return model_snapshot(user, ["username", "email", "first_name", "last_name", "is_active"]) | extra


@transaction.atomic
def user_create(
    *,
    actor: AbstractBaseUser | None,
    username: str,
    role: str,
    email: str = "",
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
) -> AbstractBaseUser:
    """Create a user with one role; without a password the account gets an unusable one (set it later).

    Writes a ``user.created`` audit event in the same transaction (never the password or its hash).
    """
    ensure_permission(actor, "auth.add_user")
    _check_role(role)
    if User.objects.filter(username=username).exists():
        raise ValidationError({"username": f"a user named {username!r} already exists"})
    user = User(username=username, email=email, first_name=first_name, last_name=last_name)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    user.groups.set([Group.objects.get_or_create(name=role)[0]])
    audit_record(
        actor=actor,
        actor_label="" if actor else CLI_LABEL,
        action="user.created",
        obj=user,
        after=_user_snapshot(user, role=role, has_password=user.has_usable_password()),
    )
    return user


@transaction.atomic
def user_set_role(*, actor: AbstractBaseUser | None, user: AbstractBaseUser, role: str) -> AbstractBaseUser:
    """Replace the user's role (a user holds exactly one).

    Writes a ``user.role_changed`` audit event with the role before and after, in the same transaction; setting
    the role a user already holds changes nothing and writes nothing.
    """
    ensure_permission(actor, "auth.change_user")
    _check_role(role)
    before = _held_role(user)
    role_groups = Group.objects.filter(name__in=Role.values)
    user.groups.remove(*role_groups)
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    if before != role:
        audit_record(
            actor=actor,
            actor_label="" if actor else CLI_LABEL,
            action="user.role_changed",
            obj=user,
            before={"role": before},
            after={"role": role},
        )
    return user


@transaction.atomic
def user_set_active(*, actor: AbstractBaseUser | None, user: AbstractBaseUser, active: bool) -> AbstractBaseUser:
    """Deactivate (or reactivate) an account; a deactivated user cannot sign in but keeps their history.

    Writes a ``user.deactivated`` or ``user.reactivated`` audit event in the same transaction when the state
    actually changes.
    """
    ensure_permission(actor, "auth.change_user")
    if actor is not None and actor.pk == user.pk and not active:
        raise ValidationError({"is_active": "you cannot deactivate your own account"})
    before = _user_snapshot(user)
    user.is_active = active
    user.save(update_fields=["is_active"])
    if before["is_active"] != active:
        audit_record(
            actor=actor,
            actor_label="" if actor else CLI_LABEL,
            action="user.reactivated" if active else "user.deactivated",
            obj=user,
            before=before,
            after=_user_snapshot(user),
        )
    return user
