"""Setting up a Google Customer Match destination: the command line, the admin form, and the sandbox's checks."""

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

TOKEN = "ya29.google-form-secret-wxyz"


def run(*args: str) -> str:
    out = StringIO()
    call_command("destinations", *args, stdout=out)
    return out.getvalue()


def test_cli_adds_lists_and_tests_a_google_destination(google_sandbox):
    config = google_sandbox.destination_config(
        operating_account_id="123-456-7890",
        consent_traits={"ad_user_data": "eea_ads", "ad_personalization": "eea_personalised"},
    )

    added = run("add", "Google CM", "--kind", "google_customer_match", "--config", json.dumps(config))
    listed = run("list")
    tested = run("test", "Google CM")

    destination = Destination.objects.get(name="Google CM")
    assert "(google_customer_match)" in added
    assert destination.config["operating_account_id"] == "1234567890"
    assert destination.config["consent_traits"] == {"ad_user_data": "eea_ads", "ad_personalization": "eea_personalised"}
    assert destination.get_credentials() == {"access_token": config["access_token"]}
    assert config["access_token"] not in listed
    assert "Connected: Google accepts uploads to user list 5550001" in tested
    assert google_sandbox.members("5550001") == []  # the connection test is validateOnly


def test_cli_errors_name_the_key():
    config = {"operating_account_id": "1", "user_list_id": "list-1", "access_token": "t" * 20}

    with pytest.raises(CommandError, match=r"config\.user_list_id: \"list-1\" is not a numeric id"):
        run("add", "Google", "--kind", "google_customer_match", "--config", json.dumps(config))


def test_admin_form_has_the_google_fields_and_creates_the_destination(admin_client_role, google_sandbox):
    page = admin_client_role.get(reverse("destinations:destination_create") + "?kind=google_customer_match")
    html = page.content.decode()
    for name in ("operating_account_id", "user_list_id", "access_token", "consent_traits_0", "consent_traits_1"):
        assert f'name="{name}"' in html

    response = admin_client_role.post(
        reverse("destinations:destination_create"),
        {
            "kind": "google_customer_match",
            "name": "Google sandbox",
            "enabled": "on",
            "operating_account_id": "1234567890",
            "user_list_id": "5550001",
            "access_token": TOKEN,
            "identifiers": ["email", "phone"],
            "phone_region": "US",
            "consent_traits_0": "eea_ads",
            "consent_traits_1": "",
            "base_url": google_sandbox.base_url,
        },
    )

    destination = Destination.objects.get(name="Google sandbox")
    assert response.status_code == 302
    assert destination.config["consent_traits"] == {
        "ad_user_data": "eea_ads",
        "ad_personalization": "consent_ad_personalization",
    }
    assert destination.get_credentials() == {"access_token": TOKEN}
    edit = admin_client_role.get(reverse("destinations:destination_update", args=[destination.pk])).content.decode()
    assert 'value="eea_ads"' in edit and TOKEN not in edit


def test_sandbox_validates_requests_like_the_data_manager_api(google_sandbox):
    url = google_sandbox.base_url
    headers = {"Authorization": "Bearer t"}
    member = {"userData": {"userIdentifiers": [{"emailAddress": "a" * 64}]}}
    body = {
        "destinations": [
            {"operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": "1"}, "productDestinationId": "9"}
        ],
        "audienceMembers": [member],
        "encoding": "HEX",
        "termsOfService": {"customerMatchTermsOfServiceStatus": "ACCEPTED"},
    }

    def ingest(**changes):
        return requests.post(f"{url}/audienceMembers:ingest", json={**body, **changes}, headers=headers, timeout=5)

    def reason(response):
        return response.json()["error"]["details"][0]["reason"]

    assert "requestId" in ingest().json()
    assert reason(ingest(audienceMembers=[member] * 10_001)) == "TOO_MANY_AUDIENCE_MEMBERS"
    too_many_ids = {"userData": {"userIdentifiers": [{"emailAddress": "a" * 64}] * 11}}
    assert reason(ingest(audienceMembers=[too_many_ids])) == "TOO_MANY_USER_IDENTIFIERS"
    assert reason(ingest(termsOfService={})) == "TERMS_AND_CONDITIONS_NOT_SIGNED"
    assert reason(ingest(encoding="PLAIN")) == "INVALID_ENUM_VALUE"
    unauthenticated = requests.post(f"{url}/audienceMembers:ingest", json=body, timeout=5)
    assert unauthenticated.status_code == 401 and unauthenticated.json()["error"]["status"] == "UNAUTHENTICATED"
    # without consent the member is accepted on the wire but not processed (EEA rule), and logged as such
    ingest(consent={"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_DENIED"})
    assert google_sandbox.data_calls()[-1]["not_consented"] == 1
    # base64 encoding is understood too
    import base64

    b64 = base64.b64encode(bytes.fromhex("b" * 64)).decode()
    granted = {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"}
    ingest(
        encoding="BASE64", audienceMembers=[{"userData": {"userIdentifiers": [{"emailAddress": b64}]}}], consent=granted
    )
    assert "b" * 64 in google_sandbox.member_values("9", "emailAddress")
