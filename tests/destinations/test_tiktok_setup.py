"""Setting up a TikTok destination: the command line, the admin form, and the sandbox as ``run_sandbox`` serves it."""

from __future__ import annotations

import json
from io import StringIO

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from audience_ops.destinations.models import Destination

pytestmark = pytest.mark.django_db

TOKEN = "tiktok-form-secret-token-wxyz"


def run(*args: str) -> str:
    out = StringIO()
    call_command("destinations", *args, stdout=out)
    return out.getvalue()


def test_cli_adds_lists_and_tests_a_tiktok_destination(tiktok_sandbox):
    config = tiktok_sandbox.destination_config(email_strip_dots_and_tags=True)

    added = run("add", "TikTok US", "--kind", "tiktok_audience", "--config", json.dumps(config))
    listed = run("list")
    tested = run("test", "TikTok US")

    destination = Destination.objects.get(name="TikTok US")
    assert "Created destination" in added and "(tiktok_audience)" in added
    assert destination.get_credentials() == {"access_token": config["access_token"]}
    assert destination.config["email_strip_dots_and_tags"] is True
    assert config["access_token"] not in listed and "••••6789" in listed
    assert "Connected to TikTok advertiser" in tested


def test_cli_errors_name_the_key():
    config = {"advertiser_id": "7000000000001", "access_token": "t" * 20, "email_strip_dots_and_tags": "no"}

    with pytest.raises(CommandError, match=r"config\.email_strip_dots_and_tags: 'no' is not true or false"):
        run("add", "TikTok", "--kind", "tiktok_audience", "--config", json.dumps(config))


def test_cli_test_fails_with_tiktoks_message(tiktok_sandbox):
    run("add", "TikTok", "--kind", "tiktok_audience", "--config", json.dumps(tiktok_sandbox.destination_config()))
    tiktok_sandbox.reject_token()

    with pytest.raises(CommandError, match="access token is invalid"):
        run("test", "TikTok")


def test_admin_form_has_the_tiktok_fields_and_creates_the_destination(admin_client_role, tiktok_sandbox):
    page = admin_client_role.get(reverse("destinations:destination_create") + "?kind=tiktok_audience")
    html = page.content.decode()
    assert page.status_code == 200
    for name in ("advertiser_id", "access_token", "identifiers", "phone_region", "email_strip_dots_and_tags"):
        assert f'name="{name}"' in html
    assert 'type="password"' in html

    response = admin_client_role.post(
        reverse("destinations:destination_create"),
        {
            "kind": "tiktok_audience",
            "name": "TikTok sandbox",
            "enabled": "on",
            "advertiser_id": "7000000000001",
            "access_token": TOKEN,
            "identifiers": ["phone"],
            "phone_region": "gb",
            "base_url": tiktok_sandbox.base_url,
        },
    )

    destination = Destination.objects.get(name="TikTok sandbox")
    assert response.status_code == 302
    assert destination.config == {
        "base_url": tiktok_sandbox.base_url,
        "advertiser_id": "7000000000001",
        "identifiers": ["phone"],
        "phone_region": "GB",
        "email_strip_dots_and_tags": False,
    }
    assert destination.get_credentials() == {"access_token": TOKEN}
    test = admin_client_role.post(reverse("destinations:destination_test", args=[destination.pk]), follow=True)
    assert "Connection test passed" in test.content.decode()


def test_admin_form_errors_land_on_the_field(admin_client_role):
    response = admin_client_role.post(
        reverse("destinations:destination_create"),
        {
            "kind": "tiktok_audience",
            "name": "T",
            "advertiser_id": "adv one",
            "access_token": TOKEN,
            "identifiers": ["email"],
            "phone_region": "US",
            "base_url": "https://business-api.tiktok.com/open_api/v1.3",
        },
    )

    assert response.status_code == 400
    assert "is not a numeric id" in response.context["form"].errors["advertiser_id"][0]
    assert TOKEN not in response.content.decode()


def test_the_sandbox_root_lists_every_emulator(sandbox_server):
    sandboxes = requests.get(sandbox_server.url + "/", timeout=5).json()["sandboxes"]

    assert sandboxes["tiktok"] == {"api": "/tiktok/open_api/v1.3", "control": "/_sandbox/tiktok"}
    assert sandboxes["google"] == {"api": "/google/v1", "control": "/_sandbox/google"}
    assert "meta" in sandboxes


def test_sandbox_validates_mapping_requests_like_tiktok(tiktok_sandbox):
    headers = {"Access-Token": "t"}
    url = tiktok_sandbox.base_url
    created = requests.post(
        f"{url}/segment/audience/",
        json={"advertiser_id": "1", "custom_audience_name": "A", "action": "create"},
        headers=headers,
        timeout=5,
    ).json()
    audience_id = created["data"]["audience_id"]
    cell = {"id": "a" * 64, "audience_ids": [audience_id]}

    def mapping(**body):
        payload = {"advertiser_ids": ["1"], "action": "add", "id_schema": ["EMAIL_SHA256"], "batch_data": [[cell]]}
        payload.update(body)
        return requests.post(f"{url}/segment/mapping/", json=payload, headers=headers, timeout=5)

    assert created["code"] == 0 and created["message"] == "OK"
    assert mapping().json()["code"] == 0
    misaligned = mapping(batch_data=[[cell, {}]])
    assert misaligned.status_code == 200 and misaligned.json()["code"] == 40002
    assert "aligned with id_schema" in misaligned.json()["message"]
    assert mapping(action="replace").json()["code"] == 40002
    assert mapping(id_schema=["EMAIL"]).json()["code"] == 40002
    assert mapping(batch_data=[[{}]]).json()["code"] == 40002
    assert mapping(advertiser_ids=["2"]).json()["code"] == 40001  # the audience belongs to advertiser 1
    no_token = requests.post(f"{url}/segment/mapping/", json={}, timeout=5).json()
    assert no_token["code"] == 40105


def test_demo_destinations_are_created_once_and_follow_the_sandbox_url(settings):
    from audience_ops.destinations.demo import ensure_demo_google_destination, ensure_demo_tiktok_destination

    settings.SANDBOX_BASE_URL = "http://127.0.0.1:8765"
    tiktok = ensure_demo_tiktok_destination()
    google = ensure_demo_google_destination()
    settings.SANDBOX_BASE_URL = "http://127.0.0.1:9999/"

    assert ensure_demo_tiktok_destination().pk == tiktok.pk
    assert ensure_demo_google_destination().pk == google.pk
    assert Destination.objects.count() == 2
    tiktok.refresh_from_db()
    google.refresh_from_db()
    assert tiktok.config["base_url"] == "http://127.0.0.1:9999/tiktok/open_api/v1.3"
    assert google.config["base_url"] == "http://127.0.0.1:9999/google/v1"
    assert google.config["consent_traits"]["ad_user_data"] == "consent_ad_user_data"
