"""The destination page says what the destination can do: removal, batch size, hashing, what each identifier becomes."""

from __future__ import annotations

import pytest
from django.test import override_settings

from audience_ops.destinations.services import destination_create

pytestmark = pytest.mark.django_db


def capabilities_html(client, destination) -> str:
    page = client.get(destination.get_absolute_url()).content.decode()
    start = page.index('id="capabilities"')
    return page[start : page.index("</table>", start)]


def test_meta_page_shows_removal_batch_size_and_the_identifier_rules(ops_client, admin_user):
    destination = destination_create(
        actor=admin_user,
        name="Meta US",
        kind="meta_custom_audience",
        config={"ad_account_id": "77", "access_token": "EAAB-token-0123456789", "identifiers": ["email", "phone"]},
    )

    html = capabilities_html(ops_client, destination)

    assert "yes: mirror syncs remove people who leave" in html
    assert "10000 rows per request" in html
    assert "E.164 digits without +" in html
    assert "EXTERN_ID" not in html  # external_id is not mapped on this destination


def test_google_page_names_the_gmail_rule_and_consent(ops_client, admin_user):
    destination = destination_create(
        actor=admin_user,
        name="Google CM",
        kind="google_customer_match",
        config={"operating_account_id": "1234567890", "user_list_id": "555", "access_token": "ya29.token-abcdef"},
    )

    html = capabilities_html(ops_client, destination)

    assert "gmail/googlemail dots and +suffix removed" in html
    assert "members without consent (from their traits) are not sent" in html


def test_unreadable_credentials_still_render_the_page(ops_client, admin_user):
    destination = destination_create(
        actor=admin_user,
        name="Meta old key",
        kind="meta_custom_audience",
        config={"ad_account_id": "77", "access_token": "EAAB-token-0123456789"},
    )

    with override_settings(FIELD_ENCRYPTION_KEYS=["ZmRlZmRlZmRlZmRlZmRlZmRlZmRlZmRlZmRlZmRlZmQ="]):
        response = ops_client.get(destination.get_absolute_url())

    assert response.status_code == 200
    assert "cannot be read with the configured keys" in response.content.decode()
