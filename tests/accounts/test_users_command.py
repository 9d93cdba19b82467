"""``manage.py users add``: the operator's way to create accounts with a role."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from audience_ops.accounts.roles import Role, user_role

pytestmark = pytest.mark.django_db

User = get_user_model()


def run(*args: str) -> str:
    out = StringIO()
    call_command("users", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("role", [Role.MARKETER, Role.OPS, Role.ADMIN])
def test_add_assigns_the_role(role):
    output = run("add", "eve", "--role", role, "--email", "eve@example.com")
    eve = User.objects.get(username="eve")
    assert user_role(eve) == role
    assert list(eve.groups.values_list("name", flat=True)) == [role]
    assert eve.email == "eve@example.com"
    assert output == f"created eve ({role})\n"


def test_add_without_password_gives_an_unusable_password():
    run("add", "eve", "--role", "ops")
    assert User.objects.get(username="eve").has_usable_password() is False


def test_add_with_password_lets_the_user_sign_in(client):
    run("add", "eve", "--role", "ops", "--password", "plum-tiger-lantern-9")
    assert User.objects.get(username="eve").check_password("plum-tiger-lantern-9") is True
    assert client.login(username="eve", password="plum-tiger-lantern-9") is True


def test_duplicate_username_is_an_error_and_creates_nothing():
    # given
    run("add", "eve", "--role", "marketer", "--email", "first@example.com")
    # when
    with pytest.raises(CommandError, match="username: a user named 'eve' already exists"):
        run("add", "eve", "--role", "admin", "--email", "second@example.com")
    # then the first account is untouched
    eve = User.objects.get(username="eve")
    assert User.objects.count() == 1
    assert eve.email == "first@example.com"
    assert user_role(eve) == Role.MARKETER


def test_bad_role_is_an_error_and_creates_nothing():
    with pytest.raises(CommandError, match="invalid choice: 'owner'"):
        run("add", "eve", "--role", "owner")
    assert not User.objects.filter(username="eve").exists()


def test_list_shows_role_and_state():
    run("add", "eve", "--role", "ops", "--email", "eve@example.com")
    run("add", "zed", "--role", "admin")
    User.objects.filter(username="zed").update(is_active=False)
    assert run("list") == "eve\tops\teve@example.com\nzed\tadmin\t inactive\n"
