"""``manage.py profiles show KEY``: one profile as JSON, several as a list, none as exit status 1."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audience_ops.customers.ingestion import messages_ingest
from audience_ops.customers.messages import message_parse
from audience_ops.customers.models import Profile

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 1, 12, 0, 30, tzinfo=UTC)


def ingest(*raws: dict) -> None:
    messages_ingest(messages=[message_parse(raw) for raw in raws], received_at=NOW)


def show(key: str) -> tuple[object, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("profiles", "show", key, stdout=out, stderr=err)
    return json.loads(out.getvalue()), err.getvalue()


@pytest.fixture
def converter() -> Profile:
    """An anonymous-to-known converter with events on both sides of the merge, stored out of order."""
    ingest(
        {"type": "track", "anonymousId": "a-1", "event": "Product Added", "messageId": "m2",
         "properties": {"sku": "COF-1"}, "timestamp": "2025-05-02T09:00:00+02:00"},
        {"type": "page", "anonymousId": "a-1", "name": "Home", "messageId": "m1",
         "timestamp": "2025-05-01T10:00:00.250Z"},
        {"type": "identify", "userId": "u-1", "anonymousId": "a-1",
         "traits": {"email": "Ann@Example.com", "phone": "+1 555 0100", "plan": "gold"}},
        {"type": "track", "userId": "u-1", "event": "Order Completed", "messageId": "m3",
         "properties": {"total": 42.5}},
    )  # fmt: skip
    return Profile.objects.get(external_id="u-1")


def expected_export(profile: Profile) -> dict:
    return {
        "id": profile.pk,
        "external_id": "u-1",
        "email": "Ann@Example.com",
        "phone": "+1 555 0100",
        "traits": {"plan": "gold"},
        "anonymous_ids": ["a-1"],
        "created_at": "2025-06-01T12:00:30Z",
        "events": [
            {"name": "Page Viewed", "occurred_at": "2025-05-01T10:00:00.250000Z", "properties": {"name": "Home"}},
            {"name": "Product Added", "occurred_at": "2025-05-02T07:00:00Z", "properties": {"sku": "COF-1"}},
            {"name": "Order Completed", "occurred_at": "2025-06-01T12:00:30Z", "properties": {"total": 42.5}},
        ],
    }


@pytest.mark.parametrize("key", ["u-1", "ann@example.com", "ANN@EXAMPLE.COM", "+1 555 0100", "a-1"])
def test_show_finds_the_profile_by_any_identifier(converter, key):
    shown, err = show(key)
    assert shown == expected_export(converter)
    assert err == ""


def test_show_an_anonymous_profile():
    ingest({"type": "track", "anonymousId": "guest-9", "event": "Product Viewed", "messageId": "m1"})
    shown, _ = show("guest-9")
    assert shown["external_id"] is None
    assert shown["anonymous_ids"] == ["guest-9"]
    assert [event["name"] for event in shown["events"]] == ["Product Viewed"]


def test_show_prints_every_profile_sharing_an_email_as_a_list():
    ingest(
        {"type": "identify", "userId": "u-1", "traits": {"email": "family@example.com"}},
        {"type": "identify", "userId": "u-2", "traits": {"email": "Family@Example.com"}},
    )
    shown, err = show("family@example.com")
    assert [profile["external_id"] for profile in shown] == ["u-1", "u-2"]
    assert err.strip() == "2 profiles match 'family@example.com'; printing them all as a JSON list"


def test_show_unknown_key_exits_with_status_1():
    ingest({"type": "identify", "userId": "u-1"})
    out = io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("profiles", "show", "nobody@example.com", stdout=out)
    assert excinfo.value.returncode == 1
    assert str(excinfo.value) == "no profile matches 'nobody@example.com' (external id, email, phone or anonymous id)"
    assert out.getvalue() == ""
