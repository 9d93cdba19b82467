"""Write-key pages: admins only, the raw key shown exactly once, revocation behind a confirmation."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from audience_ops.customers.models import WriteKey
from audience_ops.customers.writekeys import hash_key, writekey_create, writekey_revoke

pytestmark = pytest.mark.django_db


PAGES = ["/profiles/write-keys/", "/profiles/write-keys/new/", "/profiles/write-keys/{pk}/revoke/"]


@pytest.fixture
def write_key(admin_user) -> WriteKey:
    key, _raw = writekey_create(actor=admin_user, name="storefront")
    return key


# --- who may do what --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_visitor_is_sent_to_login(client, write_key, path):
    response = client.get(path.format(pk=write_key.pk))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/profiles/write-keys/")


@pytest.mark.parametrize("role_client", ["marketer_client", "ops_client"])
@pytest.mark.parametrize("path", PAGES)
def test_marketer_and_ops_get_403_on_every_write_key_page(request, write_key, role_client, path):
    client = request.getfixturevalue(role_client)
    response = client.get(path.format(pk=write_key.pk))
    assert response.status_code == 403


@pytest.mark.parametrize("path", PAGES)
def test_admin_opens_every_write_key_page(admin_client_role, write_key, path):
    response = admin_client_role.get(path.format(pk=write_key.pk))
    assert response.status_code == 200


@pytest.mark.parametrize("role_client", ["marketer_client", "ops_client"])
def test_marketer_and_ops_cannot_create_a_key(request, role_client):
    client = request.getfixturevalue(role_client)
    response = client.post("/profiles/write-keys/new/", {"name": "sneaky"})
    assert response.status_code == 403
    assert not WriteKey.objects.exists()


@pytest.mark.parametrize("role_client", ["marketer_client", "ops_client"])
def test_marketer_and_ops_cannot_revoke_a_key(request, write_key, role_client):
    client = request.getfixturevalue(role_client)
    response = client.post(f"/profiles/write-keys/{write_key.pk}/revoke/")
    assert response.status_code == 403
    write_key.refresh_from_db()
    assert write_key.revoked_at is None


def test_services_refuse_a_marketer_called_directly(marketer, write_key):
    with pytest.raises(PermissionDenied):
        writekey_create(actor=marketer, name="sneaky")
    with pytest.raises(PermissionDenied):
        writekey_revoke(actor=marketer, write_key=write_key)
    write_key.refresh_from_db()
    assert write_key.revoked_at is None
    assert list(WriteKey.objects.values_list("name", flat=True)) == ["storefront"]


# --- creating ---------------------------------------------------------------------------------------------


def test_admin_creates_a_key_and_sees_it_once(admin_client_role, admin_user):
    # when
    response = admin_client_role.post("/profiles/write-keys/new/", {"name": "  mobile app "})
    # then the result page shows the raw key, whose hash is what is stored
    assert response.status_code == 200
    raw_key = response.context["raw_key"]
    key = WriteKey.objects.get()
    assert key.name == "mobile app"
    assert key.created_by == admin_user
    assert key.key_hash == hash_key(raw_key)
    assert raw_key.startswith(key.prefix)
    html = response.content.decode()
    assert f'value="{raw_key}"' in html
    assert f"-u '{raw_key}:'" in html
    assert "curl -X POST 'http://testserver/v1/track'" in html
    assert 'data-copy-target="#raw-key"' in html
    assert "no-store" in response["Cache-Control"]
    # and the key appears nowhere afterwards
    assert raw_key not in admin_client_role.get("/profiles/write-keys/").content.decode()


def test_a_key_needs_a_name(admin_client_role):
    response = admin_client_role.post("/profiles/write-keys/new/", {"name": "   "})
    assert response.status_code == 200
    assert response.context["form"].errors == {"name": ["This field is required."]}
    assert not WriteKey.objects.exists()


def test_key_list_shows_prefix_creator_and_state(admin_client_role, admin_user, write_key):
    # given
    revoked, _raw = writekey_create(actor=None, name="old import")
    writekey_revoke(actor=None, write_key=revoked)
    # when
    response = admin_client_role.get("/profiles/write-keys/")
    # then
    html = response.content.decode()
    assert list(response.context["write_keys"]) == [revoked, write_key]
    assert f"{write_key.prefix}…" in html
    assert "<td>ada</td>" in html
    assert "<td>command line</td>" in html
    assert "never" in html
    assert html.count('<span class="badge text-bg-success">active</span>') == 1
    assert html.count("revoked 20") == 1
    assert html.count("/revoke/") == 1


# --- revoking ---------------------------------------------------------------------------------------------


def test_revoke_page_asks_before_revoking(admin_client_role, write_key):
    # when
    response = admin_client_role.get(f"/profiles/write-keys/{write_key.pk}/revoke/")
    # then nothing is revoked yet
    assert "Revoke write key “storefront”?" in response.content.decode()
    write_key.refresh_from_db()
    assert write_key.revoked_at is None


def test_admin_revokes_a_key(admin_client_role, write_key):
    # when
    response = admin_client_role.post(f"/profiles/write-keys/{write_key.pk}/revoke/", follow=True)
    # then
    write_key.refresh_from_db()
    assert write_key.revoked_at is not None
    assert response.redirect_chain == [("/profiles/write-keys/", 302)]
    assert "is revoked; messages sent with it are now refused" in response.content.decode()


def test_revoking_twice_keeps_the_first_revocation_time(admin_client_role, write_key):
    admin_client_role.post(f"/profiles/write-keys/{write_key.pk}/revoke/")
    write_key.refresh_from_db()
    first = write_key.revoked_at
    response = admin_client_role.post(f"/profiles/write-keys/{write_key.pk}/revoke/", follow=True)
    write_key.refresh_from_db()
    assert write_key.revoked_at == first
    assert "was already revoked" in response.content.decode()


def test_revoke_needs_csrf_token(admin_user, write_key):
    # given a client that enforces CSRF like a browser
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    # when
    response = client.post(f"/profiles/write-keys/{write_key.pk}/revoke/")
    # then
    assert response.status_code == 403
    write_key.refresh_from_db()
    assert write_key.revoked_at is None


def test_revoking_an_unknown_key_is_404(admin_client_role):
    assert admin_client_role.post("/profiles/write-keys/999999/revoke/").status_code == 404
