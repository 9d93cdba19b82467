"""Roles are groups with permissions: every named permission must exist, and each group holds exactly its set."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.core.exceptions import PermissionDenied

from audience_ops.accounts.roles import ROLE_PERMISSIONS, Role, ensure_permission, sync_role_groups, user_role

pytestmark = pytest.mark.django_db

ALL_PERMISSION_NAMES = sorted({name for names in ROLE_PERMISSIONS.values() for name in names})


@pytest.mark.parametrize("name", ALL_PERMISSION_NAMES)
def test_every_permission_named_in_role_permissions_exists(name):
    app_label, codename = name.split(".", 1)
    assert Permission.objects.filter(content_type__app_label=app_label, codename=codename).count() == 1


def test_every_role_has_a_permission_set():
    assert set(ROLE_PERMISSIONS) == set(Role.values)


@pytest.mark.parametrize("role", Role.values)
def test_each_role_group_holds_exactly_its_permissions(role):
    group = Group.objects.get(name=role)
    held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
    assert held == ROLE_PERMISSIONS[role]


def test_sync_removes_a_permission_given_by_hand():
    # given a permission added to the marketer group outside the code
    group = Group.objects.get(name=Role.MARKETER)
    group.permissions.add(Permission.objects.get(content_type__app_label="auth", codename="add_user"))
    # when
    sync_role_groups()
    # then
    held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
    assert held == ROLE_PERMISSIONS[Role.MARKETER]


def test_user_role_names_the_role(marketer, ops_user, admin_user):
    assert (user_role(marketer), user_role(ops_user), user_role(admin_user)) == ("marketer", "ops", "admin")
    assert user_role(AnonymousUser()) is None


def test_superuser_counts_as_admin_and_a_user_without_group_has_no_role():
    User = get_user_model()
    root = User.objects.create_superuser(username="root", password="x-long-enough-password")
    plain = User.objects.create_user(username="plain", password="x-long-enough-password")
    assert user_role(root) == Role.ADMIN
    assert user_role(plain) is None


def test_ensure_permission_refuses_missing_permission_and_inactive_users(marketer, admin_user):
    ensure_permission(admin_user, "auth.add_user")
    ensure_permission(None, "auth.add_user")
    with pytest.raises(PermissionDenied, match=r"maria may not do this \(auth.add_user\)"):
        ensure_permission(marketer, "auth.add_user")
    admin_user.is_active = False
    with pytest.raises(PermissionDenied):
        ensure_permission(admin_user, "auth.add_user")
