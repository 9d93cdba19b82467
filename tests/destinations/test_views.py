"""Destination pages: admins manage, ops and marketers read; secrets are never rendered."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audience_ops.destinations.models import Destination
from audience_ops.destinations.services import destination_create

pytestmark = pytest.mark.django_db

TOKEN = "EAAB-view-secret-token-0123-wxyz"


@pytest.fixture
def destination(admin_user):
    return destination_create(
        actor=admin_user,
        name="Meta US",
        kind="meta_custom_audience",
        config={"base_url": "http://127.0.0.1:9/meta", "ad_account_id": "77", "access_token": TOKEN},
    )


def form_data(**overrides):
    data = {
        "kind": "meta_custom_audience",
        "name": "Meta EU",
        "enabled": "on",
        "ad_account_id": "act_555",
        "access_token": TOKEN,
        "identifiers": ["email", "external_id"],
        "phone_region": "GB",
        "api_version": "v25.0",
        "base_url": "https://graph.facebook.com",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("client_fixture", ["marketer_client", "ops_client"])
def test_ops_and_marketers_see_destinations_read_only(request, destination, client_fixture):
    client = request.getfixturevalue(client_fixture)

    listing = client.get(reverse("destinations:destination_list"))
    detail = client.get(destination.get_absolute_url())

    assert listing.status_code == detail.status_code == 200
    page = listing.content.decode() + detail.content.decode()
    assert "Meta US" in page and "••••wxyz" in page
    assert TOKEN not in page
    assert reverse("destinations:destination_create") not in page
    assert reverse("destinations:destination_update", args=[destination.pk]) not in page
    assert reverse("destinations:destination_test", args=[destination.pk]) not in page
    assert f'href="{reverse("destinations:destination_list")}"' in listing.content.decode()  # nav link


@pytest.mark.parametrize("client_fixture", ["marketer_client", "ops_client"])
def test_ops_and_marketers_cannot_change_anything(request, destination, client_fixture):
    client = request.getfixturevalue(client_fixture)

    responses = [
        client.get(reverse("destinations:destination_create")),
        client.post(reverse("destinations:destination_create"), form_data()),
        client.post(reverse("destinations:destination_update", args=[destination.pk]), form_data(name="X")),
        client.post(reverse("destinations:destination_delete", args=[destination.pk])),
        client.post(reverse("destinations:destination_test", args=[destination.pk])),
    ]

    assert [response.status_code for response in responses] == [403] * 5
    destination.refresh_from_db()
    assert destination.name == "Meta US" and destination.last_test_at is None
    assert Destination.objects.count() == 1


def test_admin_creates_a_destination_from_the_form(admin_client_role, admin_user):
    form = admin_client_role.get(reverse("destinations:destination_create") + "?kind=meta_custom_audience")
    assert form.status_code == 200 and 'type="password"' in form.content.decode()

    response = admin_client_role.post(reverse("destinations:destination_create"), form_data())

    destination = Destination.objects.get(name="Meta EU")
    assert response.status_code == 302 and response.url == destination.get_absolute_url()
    assert destination.config["ad_account_id"] == "555"
    assert destination.config["identifiers"] == ["email", "external_id"]
    assert destination.config["phone_region"] == "GB"
    assert destination.get_credentials() == {"access_token": TOKEN}
    assert destination.created_by == admin_user
    detail = admin_client_role.get(response.url).content.decode()
    assert "••••wxyz" in detail and TOKEN not in detail


def test_form_errors_name_the_field(admin_client_role):
    response = admin_client_role.post(
        reverse("destinations:destination_create"), form_data(ad_account_id="my account", phone_region="XX")
    )

    assert response.status_code == 400
    form = response.context["form"]
    assert "is not an ad account id" in form.errors["ad_account_id"][0]
    assert "is not a region code" in form.errors["phone_region"][0]
    assert TOKEN not in response.content.decode()
    assert not Destination.objects.filter(name="Meta EU").exists()


def test_admin_edits_without_retyping_the_secret(admin_client_role, destination):
    page = admin_client_role.get(reverse("destinations:destination_update", args=[destination.pk])).content.decode()
    assert "Stored: ••••wxyz. Leave blank to keep it." in page and TOKEN not in page

    response = admin_client_role.post(
        reverse("destinations:destination_update", args=[destination.pk]),
        form_data(name="Meta US (renamed)", access_token="", enabled=""),
    )

    assert response.status_code == 302
    destination.refresh_from_db()
    assert destination.name == "Meta US (renamed)" and destination.enabled is False
    assert destination.get_credentials() == {"access_token": TOKEN}


def test_test_connection_button_shows_the_result(admin_client_role, admin_user, meta_sandbox):
    destination = destination_create(
        actor=admin_user, name="Sandbox", kind="meta_custom_audience", config=meta_sandbox.destination_config()
    )

    passed = admin_client_role.post(reverse("destinations:destination_test", args=[destination.pk]), follow=True)
    meta_sandbox.reject_token()
    failed = admin_client_role.post(reverse("destinations:destination_test", args=[destination.pk]), follow=True)

    assert "Connection test passed: Connected to ad account" in passed.content.decode()
    assert "Connection test failed: Invalid OAuth access token" in failed.content.decode()
    destination.refresh_from_db()
    assert destination.last_test_ok is False


def test_test_connection_only_accepts_post(admin_client_role, destination):
    response = admin_client_role.get(reverse("destinations:destination_test", args=[destination.pk]))

    assert response.status_code == 405
    destination.refresh_from_db()
    assert destination.last_test_at is None


def test_admin_deletes_after_confirming(admin_client_role, destination):
    confirm = admin_client_role.get(reverse("destinations:destination_delete", args=[destination.pk]))
    assert confirm.status_code == 200 and "Delete destination" in confirm.content.decode()
    assert Destination.objects.filter(pk=destination.pk).exists()

    response = admin_client_role.post(reverse("destinations:destination_delete", args=[destination.pk]), follow=True)

    assert not Destination.objects.filter(pk=destination.pk).exists()
    assert "Destination Meta US deleted." in response.content.decode()
