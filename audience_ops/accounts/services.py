"""Account services: creating users and giving them a role. Views and the ``users`` command call these."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.exceptions import ValidationError
from django.db import transaction

from .roles import Role, ensure_permission

User = get_user_model()


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise ValidationError({"role": f"unknown role {role!r}; choose one of {', '.join(Role.values)}"})


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
    """Create a user with one role; without a password the account gets an unusable one (set it later)."""
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
    return user


@transaction.atomic
def user_set_role(*, actor: AbstractBaseUser | None, user: AbstractBaseUser, role: str) -> AbstractBaseUser:
    """Replace the user's role (a user holds exactly one)."""
    ensure_permission(actor, "auth.change_user")
    _check_role(role)
    role_groups = Group.objects.filter(name__in=Role.values)
    user.groups.remove(*role_groups)
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@transaction.atomic
def user_set_active(*, actor: AbstractBaseUser | None, user: AbstractBaseUser, active: bool) -> AbstractBaseUser:
    """Deactivate (or reactivate) an account; a deactivated user cannot sign in but keeps their history."""
    ensure_permission(actor, "auth.change_user")
    if actor is not None and actor.pk == user.pk and not active:
        raise ValidationError({"is_active": "you cannot deactivate your own account"})
    user.is_active = active
    user.save(update_fields=["is_active"])
    return user
