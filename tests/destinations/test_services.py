"""Destination services: validation per kind, encrypted and masked credentials, audit, permissions."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from audience_ops.audit.models import AuditEvent
from audience_ops.destinations.models import Destination, mask_secret
from audience_ops.destinations.services import (
    destination_create,
    destination_delete,
    destination_test_connection,
    destination_update,
)

pytestmark = pytest.mark.django_db

TOKEN = "EAAB-secret-token-0123456789-wxyz"


def meta_config(**overrides):
    config = {
        "base_url": "http://127.0.0.1:9/meta",
        "ad_account_id": "act_1234",
        "access_token": TOKEN,
        "identifiers": ["email", "phone"],
    }
    config.update(overrides)
    return config


def raw_credentials_column(destination: Destination) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM destinations_destination WHERE id = %s", [destination.pk])
        return cursor.fetchone()[0]


def test_create_splits_the_secret_off_encrypts_it_and_fills_in_defaults(admin_user):
    destination = destination_create(
        actor=admin_user, name="Meta US", kind="meta_custom_audience", config=meta_config()
    )

    destination.refresh_from_db()
    assert destination.config == {
        "base_url": "http://127.0.0.1:9/meta",
        "api_version": "v25.0",
        "ad_account_id": "1234",
        "identifiers": ["email", "phone"],
        "phone_region": "US",
    }
    raw = raw_credentials_column(destination)
    assert TOKEN not in raw and "access_token" not in raw
    assert destination.get_credentials() == {"access_token": TOKEN}
    assert destination.masked_credentials() == {"access_token": "••••wxyz"}
    assert destination.created_by == admin_user


def test_audit_records_the_change_with_credentials_masked(admin_user):
    destination = destination_create(
        actor=admin_user, name="Meta US", kind="meta_custom_audience", config=meta_config()
    )
    destination_update(
        actor=admin_user,
        destination=destination,
        config=meta_config(access_token="EAAB-new-token-9876543210-abcd"),
    )

    events = list(AuditEvent.objects.filter(action__startswith="destination.").order_by("id"))
    assert [event.action for event in events] == ["destination.create", "destination.update"]
    assert events[0].after["credentials"] == {"access_token": "••••wxyz"}
    assert events[1].changes["credentials"] == [{"access_token": "••••wxyz"}, {"access_token": "••••abcd"}]
    everything = json.dumps([[event.before, event.after, event.changes] for event in events])
    assert TOKEN not in everything and "new-token" not in everything


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            meta_config(identifiers=["email", "fax"]),
            'config.identifiers[1]: "fax" is not one of email, phone, external_id',
        ),
        (meta_config(identifiers=[]), "config.identifiers: a non-empty list"),
        (meta_config(identifiers=["email", "email"]), 'config.identifiers[1]: "email" is listed twice'),
        (meta_config(ad_account_id="my-account"), 'config.ad_account_id: "my-account" is not an ad account id'),
        (meta_config(access_token=""), "config.access_token: required"),
        (meta_config(phone_region="XX"), "config.phone_region: 'XX' is not a region code"),
        (meta_config(api_version="25"), "config.api_version: '25' is not a Graph API version"),
        (meta_config(base_url="ftp://x"), "config.base_url: 'ftp://x' is not an http(s) URL"),
        (meta_config(colour="blue"), "config.colour: unknown key"),
    ],
)
def test_invalid_config_is_refused_with_the_key_named(admin_user, config, message):
    with pytest.raises(ValidationError) as caught:
        destination_create(actor=admin_user, name="Meta", kind="meta_custom_audience", config=config)

    assert any(text.startswith(message) for text in caught.value.message_dict["config"])
    assert not Destination.objects.exists()


def test_unknown_kind_and_duplicate_name_are_refused(admin_user):
    with pytest.raises(ValidationError, match="not a destination kind"):
        destination_create(actor=admin_user, name="X", kind="carrier_pigeon", config={})
    destination_create(actor=admin_user, name="Meta", kind="meta_custom_audience", config=meta_config())
    with pytest.raises(ValidationError, match="already exists"):
        destination_create(actor=admin_user, name="Meta", kind="meta_custom_audience", config=meta_config())
    assert Destination.objects.count() == 1


def test_update_keeps_the_stored_secret_when_it_is_left_blank(admin_user):
    destination = destination_create(actor=admin_user, name="Meta", kind="meta_custom_audience", config=meta_config())
    token_before = raw_credentials_column(destination)

    destination_update(
        actor=admin_user,
        destination=destination,
        name="Meta US",
        config=meta_config(access_token="", identifiers=["email"]),
    )

    destination.refresh_from_db()
    assert destination.name == "Meta US"
    assert destination.config["identifiers"] == ["email"]
    assert destination.get_credentials() == {"access_token": TOKEN}
    assert raw_credentials_column(destination) == token_before


def test_an_update_that_changes_nothing_writes_no_audit_event(admin_user):
    destination = destination_create(actor=admin_user, name="Meta", kind="meta_custom_audience", config=meta_config())

    destination_update(actor=admin_user, destination=destination, config=meta_config(access_token=""), enabled=True)

    assert AuditEvent.objects.filter(action="destination.update").count() == 0


def test_a_new_secret_with_the_same_last_characters_is_still_recorded_as_a_change(admin_user):
    destination = destination_create(actor=admin_user, name="Meta", kind="meta_custom_audience", config=meta_config())

    destination_update(actor=admin_user, destination=destination, config=meta_config(access_token="other-token-wxyz"))

    event = AuditEvent.objects.get(action="destination.update")
    assert event.changes == {"credentials_changed": [None, True]}


def test_only_admins_manage_destinations(marketer, ops_user, admin_user):
    for actor in (marketer, ops_user):
        with pytest.raises(PermissionDenied):
            destination_create(actor=actor, name="Meta", kind="meta_custom_audience", config=meta_config())
    destination = destination_create(actor=admin_user, name="Meta", kind="meta_custom_audience", config=meta_config())
    for actor in (marketer, ops_user):
        with pytest.raises(PermissionDenied):
            destination_update(actor=actor, destination=destination, name="Other")
        with pytest.raises(PermissionDenied):
            destination_delete(actor=actor, destination=destination)
        with pytest.raises(PermissionDenied):
            destination_test_connection(actor=actor, destination=destination)
    destination.refresh_from_db()
    assert destination.name == "Meta"


def test_delete_is_audited(admin_user):
    destination = destination_create(actor=admin_user, name="Meta", kind="meta_custom_audience", config=meta_config())
    pk = destination.pk

    destination_delete(actor=admin_user, destination=destination)

    assert not Destination.objects.filter(pk=pk).exists()
    event = AuditEvent.objects.get(action="destination.delete")
    assert event.object_id == str(pk) and event.before["credentials"] == {"access_token": "••••wxyz"}


def test_delete_is_refused_while_a_sync_uses_the_destination(admin_user):
    destination = destination_create(actor=admin_user, name="Meta", kind="meta_custom_audience", config=meta_config())
    audience = apps.get_model("audiences", "Audience").objects.create(
        slug="cart",
        name="Cart",
        kind="targeting",
        objective="analytics",
        owner=admin_user,
        purpose="x",
        retire_on=dt.date(2027, 1, 1),
    )
    apps.get_model("syncs", "Sync").objects.create(audience=audience, destination=destination)

    with pytest.raises(ValidationError, match="used by 1 sync"):
        destination_delete(actor=admin_user, destination=destination)

    assert Destination.objects.filter(pk=destination.pk).exists()
    assert not AuditEvent.objects.filter(action="destination.delete").exists()


def test_connection_test_records_success(admin_user, meta_sandbox):
    destination = destination_create(
        actor=admin_user, name="Meta", kind="meta_custom_audience", config=meta_sandbox.destination_config()
    )

    ok, message = destination_test_connection(actor=admin_user, destination=destination)

    destination.refresh_from_db()
    assert ok and "Connected to ad account" in message
    assert destination.last_test_ok is True and destination.last_test_message == message
    assert destination.last_test_at is not None
    assert AuditEvent.objects.get(action="destination.test").after == {"ok": True, "message": message}


def test_connection_test_records_the_platform_message_on_failure(admin_user, meta_sandbox):
    destination = destination_create(
        actor=admin_user, name="Meta", kind="meta_custom_audience", config=meta_sandbox.destination_config()
    )
    meta_sandbox.reject_token()

    ok, message = destination_test_connection(actor=admin_user, destination=destination)

    destination.refresh_from_db()
    assert not ok and "Invalid OAuth access token" in message
    assert destination.last_test_ok is False
    assert "sandbox-token" not in message


def test_mask_shows_only_the_last_four_characters_of_long_secrets():
    assert mask_secret("EAAB-secret-token-wxyz") == "••••wxyz"
    assert mask_secret("short") == "••••"
    assert mask_secret(None) == "••••"
