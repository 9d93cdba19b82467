"""Users and roles pages: admins only; every change goes through the account services."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.test import Client

from audience_ops.accounts.roles import Role, user_role
from audience_ops.accounts.services import user_create, user_set_active, user_set_role

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def colleague(db):
    return user_create(actor=None, username="carl", role=Role.MARKETER, email="carl@example.com", password=None)


POST_ACTIONS = [
    ("/accounts/users/new/", {"username": "eve", "role": "admin", "email": ""}),
    ("/accounts/users/{pk}/role/", {"role": "admin"}),
    ("/accounts/users/{pk}/active/", {"active": "0"}),
]


def assert_colleague_unchanged(colleague) -> None:
    colleague.refresh_from_db()
    assert user_role(colleague) == Role.MARKETER
    assert colleague.is_active is True
    assert not User.objects.filter(username="eve").exists()


# --- who may do what --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/accounts/users/", "/accounts/users/new/"])
def test_anonymous_visitor_is_sent_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/accounts/users/")


@pytest.mark.parametrize(("path", "data"), POST_ACTIONS)
def test_anonymous_post_is_sent_to_login_and_changes_nothing(client, colleague, path, data):
    response = client.post(path.format(pk=colleague.pk), data)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert_colleague_unchanged(colleague)


@pytest.mark.parametrize("role_client", ["marketer_client", "ops_client"])
@pytest.mark.parametrize("path", ["/accounts/users/", "/accounts/users/new/"])
def test_marketer_and_ops_get_403(request, role_client, path):
    client = request.getfixturevalue(role_client)
    assert client.get(path).status_code == 403


@pytest.mark.parametrize("role_client", ["marketer_client", "ops_client"])
@pytest.mark.parametrize(("path", "data"), POST_ACTIONS)
def test_marketer_and_ops_posts_are_refused_and_change_nothing(request, colleague, role_client, path, data):
    client = request.getfixturevalue(role_client)
    response = client.post(path.format(pk=colleague.pk), data)
    assert response.status_code == 403
    assert_colleague_unchanged(colleague)


@pytest.mark.parametrize("path", ["/accounts/users/", "/accounts/users/new/"])
def test_admin_opens_the_user_pages(admin_client_role, path):
    assert admin_client_role.get(path).status_code == 200


@pytest.mark.parametrize("path", ["/accounts/users/{pk}/role/", "/accounts/users/{pk}/active/"])
def test_change_endpoints_accept_only_post(admin_client_role, colleague, path):
    assert admin_client_role.get(path.format(pk=colleague.pk)).status_code == 405


def test_services_refuse_a_marketer_called_directly(marketer, colleague):
    with pytest.raises(PermissionDenied):
        user_create(actor=marketer, username="eve", role=Role.ADMIN)
    with pytest.raises(PermissionDenied):
        user_set_role(actor=marketer, user=colleague, role=Role.ADMIN)
    with pytest.raises(PermissionDenied):
        user_set_active(actor=marketer, user=colleague, active=False)
    assert_colleague_unchanged(colleague)


def test_services_refuse_a_deactivated_admin(admin_user, colleague):
    admin_user.is_active = False
    admin_user.save()
    with pytest.raises(PermissionDenied):
        user_set_role(actor=admin_user, user=colleague, role=Role.OPS)
    assert_colleague_unchanged(colleague)


def test_change_needs_csrf_token(admin_user, colleague):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(f"/accounts/users/{colleague.pk}/role/", {"role": "admin"})
    assert response.status_code == 403
    assert_colleague_unchanged(colleague)


# --- the list ---------------------------------------------------------------------------------------------


def test_user_list_shows_role_badges_and_state(admin_client_role, admin_user, colleague):
    # given
    user_set_active(actor=None, user=colleague, active=False)
    # when
    response = admin_client_role.get("/accounts/users/")
    # then
    html = response.content.decode()
    rows = {row["user"].username: row for row in response.context["rows"]}
    assert set(rows) == {"ada", "carl"}
    assert (rows["ada"]["role"], rows["ada"]["badge"], rows["ada"]["is_self"]) == ("admin", "text-bg-danger", True)
    assert (rows["carl"]["role"], rows["carl"]["badge"], rows["carl"]["is_self"]) == (
        "marketer",
        "text-bg-primary",
        False,
    )
    assert '<span class="badge text-bg-danger">Admin</span>' in html
    assert '<span class="badge text-bg-secondary">deactivated</span>' in html
    assert "no password" in html
    # no button to deactivate yourself, one to reactivate carl
    assert f'action="/accounts/users/{admin_user.pk}/active/"' not in html
    assert f'action="/accounts/users/{colleague.pk}/active/"' in html
    assert "Reactivate" in html


# --- creating ---------------------------------------------------------------------------------------------


def test_admin_creates_a_user_without_password(admin_client_role):
    # when
    response = admin_client_role.post(
        "/accounts/users/new/", {"username": "eve", "email": "eve@example.com", "role": "ops", "password": ""}
    )
    # then
    assert response.status_code == 302
    assert response["Location"] == "/accounts/users/"
    eve = User.objects.get(username="eve")
    assert user_role(eve) == Role.OPS
    assert eve.email == "eve@example.com"
    assert eve.has_usable_password() is False
    follow = admin_client_role.get("/accounts/users/")
    assert "Created eve as Ops. It has no password yet" in follow.content.decode()


def test_admin_creates_a_user_with_password(admin_client_role):
    admin_client_role.post(
        "/accounts/users/new/", {"username": "eve", "email": "", "role": "marketer", "password": "plum-tiger-lantern-9"}
    )
    eve = User.objects.get(username="eve")
    assert eve.check_password("plum-tiger-lantern-9") is True
    assert user_role(eve) == Role.MARKETER


def test_weak_password_is_refused_on_the_password_field(admin_client_role):
    response = admin_client_role.post(
        "/accounts/users/new/", {"username": "eve", "email": "", "role": "marketer", "password": "12345678"}
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"password"}
    assert "This password is too common." in response.context["form"].errors["password"]
    assert not User.objects.filter(username="eve").exists()


def test_duplicate_username_is_refused_on_the_username_field(admin_client_role, colleague):
    response = admin_client_role.post("/accounts/users/new/", {"username": "carl", "email": "", "role": "admin"})
    assert response.context["form"].errors == {"username": ["A user named 'carl' already exists."]}
    assert User.objects.filter(username="carl").count() == 1
    assert_colleague_unchanged(colleague)


def test_unknown_role_is_refused_on_the_role_field(admin_client_role):
    response = admin_client_role.post("/accounts/users/new/", {"username": "eve", "email": "", "role": "owner"})
    assert list(response.context["form"].errors) == ["role"]
    assert not User.objects.filter(username="eve").exists()


# --- changing role and activation -------------------------------------------------------------------------


def test_admin_changes_a_role(admin_client_role, colleague):
    response = admin_client_role.post(f"/accounts/users/{colleague.pk}/role/", {"role": "ops"}, follow=True)
    assert user_role(colleague) == Role.OPS
    assert list(colleague.groups.values_list("name", flat=True)) == ["ops"]
    assert "carl is now Ops." in response.content.decode()


def test_unknown_role_change_is_refused(admin_client_role, colleague):
    response = admin_client_role.post(f"/accounts/users/{colleague.pk}/role/", {"role": "owner"}, follow=True)
    assert "role: Select a valid choice." in response.content.decode()
    assert_colleague_unchanged(colleague)


def test_admin_deactivates_and_reactivates_a_user(admin_client_role, colleague):
    # when
    response = admin_client_role.post(f"/accounts/users/{colleague.pk}/active/", {"active": "0"}, follow=True)
    # then
    colleague.refresh_from_db()
    assert colleague.is_active is False
    assert "carl is deactivated: they can no longer sign in." in response.content.decode()
    # when
    admin_client_role.post(f"/accounts/users/{colleague.pk}/active/", {"active": "1"})
    # then
    colleague.refresh_from_db()
    assert colleague.is_active is True


def test_admin_cannot_deactivate_themselves(admin_client_role, admin_user):
    response = admin_client_role.post(f"/accounts/users/{admin_user.pk}/active/", {"active": "0"}, follow=True)
    admin_user.refresh_from_db()
    assert admin_user.is_active is True
    assert "is_active: you cannot deactivate your own account" in response.content.decode()


def test_deactivated_user_cannot_sign_in(client, colleague):
    # given carl has a password, then is deactivated
    colleague.set_password("plum-tiger-lantern-9")
    colleague.save()
    user_set_active(actor=None, user=colleague, active=False)
    # when
    response = client.post("/login/", {"username": "carl", "password": "plum-tiger-lantern-9"})
    # then
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_changing_an_unknown_user_is_404(admin_client_role):
    assert admin_client_role.post("/accounts/users/999999/role/", {"role": "ops"}).status_code == 404
