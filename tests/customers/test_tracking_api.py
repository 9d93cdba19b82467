"""The Segment-Spec tracking API: auth, limits, validation and dedupe; every refusal writes nothing."""

from __future__ import annotations

import base64
import gzip
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from django.db import IntegrityError, connection

from audience_ops.customers import ingestion
from audience_ops.customers.models import AnonymousId, Event, IdentifyCall, Profile, WriteKey
from audience_ops.customers.writekeys import writekey_create, writekey_revoke

pytestmark = pytest.mark.django_db


@pytest.fixture
def write_key() -> str:
    _key, raw_key = writekey_create(actor=None, name="storefront")
    return raw_key


def basic(raw_key: str) -> str:
    return "Basic " + base64.b64encode(f"{raw_key}:".encode()).decode()


def post(client, path: str, body: Any, *, key: str | None = None, gzipped: bool = False, **headers: str):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    if gzipped:
        data = gzip.compress(data)
        headers["HTTP_CONTENT_ENCODING"] = "gzip"
    if key is not None:
        headers["HTTP_AUTHORIZATION"] = basic(key)
    return client.post(path, data=data, content_type="application/json", **headers)


def assert_nothing_written() -> None:
    counts = [model.objects.count() for model in (Profile, AnonymousId, Event, IdentifyCall)]
    assert counts == [0, 0, 0, 0]


def track(n: int = 0, **extra: Any) -> dict[str, Any]:
    return {"type": "track", "userId": f"u{n}", "event": "Product Viewed", "messageId": f"m{n}", **extra}


# Success ---------------------------------------------------------------------------------------------------


def test_track_with_basic_auth_stores_the_event(client, write_key):
    response = post(
        client,
        "/v1/track",
        {"userId": "u1", "event": "Order Completed", "properties": {"total": 30}, "messageId": "m1"},
        key=write_key,
    )
    assert response.status_code == 200
    assert response.json() == {"success": True}
    event = Event.objects.get()
    assert (event.profile.external_id, event.name, event.properties, event.message_id) == (
        "u1",
        "Order Completed",
        {"total": 30},
        "m1",
    )


def test_write_key_in_the_body_authenticates(client, write_key):
    response = post(client, "/v1/identify", {"writeKey": write_key, "userId": "u1", "traits": {"plan": "pro"}})
    assert response.status_code == 200
    assert Profile.objects.get().traits == {"plan": "pro"}


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/v1/identify", {"userId": "u1", "traits": {"email": "a@b.co"}}, ("u1", "a@b.co", 0)),
        ("/v1/page", {"userId": "u1", "name": "Home"}, ("u1", None, 1)),
        ("/v1/screen", {"userId": "u1", "name": "Cart"}, ("u1", None, 1)),
        ("/v1/alias", {"userId": "u1", "previousId": "a1"}, ("u1", None, 0)),
    ],
)
def test_every_single_message_endpoint_stores_its_message(client, write_key, path, body, expected):
    response = post(client, path, body, key=write_key)
    assert response.status_code == 200
    stored = Profile.objects.get()
    assert (stored.external_id, stored.email, stored.events.count()) == expected


def test_group_is_accepted_and_stores_nothing(client, write_key):
    response = post(client, "/v1/group", {"userId": "u1", "groupId": "acme"}, key=write_key)
    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert_nothing_written()


def test_batch_stores_every_message_in_order(client, write_key):
    body = {
        "batch": [
            {"type": "track", "anonymousId": "a1", "event": "Product Viewed", "messageId": "m1"},
            {"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": {"email": "x@y.z"}},
            {"type": "track", "anonymousId": "a1", "event": "Order Completed", "messageId": "m2"},
        ],
        "context": {"library": {"name": "test"}},
    }
    response = post(client, "/v1/batch", body, key=write_key)
    assert response.status_code == 200
    known = Profile.objects.get()
    assert (known.external_id, known.email) == ("u1", "x@y.z")
    assert sorted(known.events.values_list("message_id", flat=True)) == ["m1", "m2"]


def test_null_anonymous_id_is_accepted(client, write_key):
    response = post(client, "/v1/batch", {"batch": [track(1, anonymousId=None)]}, key=write_key)
    assert response.status_code == 200
    assert Event.objects.get().profile.external_id == "u1"
    assert AnonymousId.objects.count() == 0


def test_gzipped_batch_is_accepted(client, write_key):
    response = post(client, "/v1/batch", {"batch": [track(1), track(2)]}, key=write_key, gzipped=True)
    assert response.status_code == 200
    assert sorted(Event.objects.values_list("message_id", flat=True)) == ["m1", "m2"]


def test_a_batch_at_the_message_count_limit_is_accepted(client, write_key, settings):
    settings.TRACKING_MAX_BATCH_MESSAGES = 5
    response = post(client, "/v1/batch", {"batch": [track(n) for n in range(5)]}, key=write_key)
    assert response.status_code == 200
    assert Event.objects.count() == 5


# Dedupe ----------------------------------------------------------------------------------------------------


def test_a_retried_request_is_stored_once(client, write_key):
    body = {"batch": [track(1), {"type": "identify", "userId": "u1", "traits": {"n": 1}, "messageId": "i1"}]}
    first = post(client, "/v1/batch", body, key=write_key)
    body["batch"][1]["traits"] = {"n": 2}
    retry = post(client, "/v1/batch", body, key=write_key, HTTP_X_RETRY_COUNT="1")
    assert (first.status_code, retry.status_code) == (200, 200)
    assert (Event.objects.count(), IdentifyCall.objects.count()) == (1, 1)
    assert Profile.objects.get().traits == {"n": 1}


def test_a_duplicate_within_one_batch_is_stored_once(client, write_key):
    response = post(client, "/v1/batch", {"batch": [track(1), track(1, event="Other")]}, key=write_key)
    assert response.status_code == 200
    assert list(Event.objects.values_list("name", flat=True)) == ["Product Viewed"]


# Auth ------------------------------------------------------------------------------------------------------


def test_missing_auth_is_refused(client, write_key):
    response = post(client, "/v1/batch", {"batch": [track(1)]})
    assert response.status_code == 401
    assert response.json()["success"] is False
    assert response.json()["error"] == ("writeKey: missing (send HTTP Basic 'writeKey:' or writeKey in the body)")
    assert_nothing_written()


def test_unknown_write_key_is_refused(client, write_key):
    response = post(client, "/v1/batch", {"batch": [track(1)]}, key=write_key + "x")
    assert response.status_code == 401
    assert response.json()["error"] == "writeKey: unknown or revoked write key"
    assert_nothing_written()


def test_revoked_write_key_is_refused(client, write_key):
    writekey_revoke(actor=None, write_key=WriteKey.objects.get())
    response = post(client, "/v1/track", {"userId": "u1", "event": "E"}, key=write_key)
    assert response.status_code == 401
    assert_nothing_written()


def test_unknown_write_key_in_the_body_is_refused(client, write_key):
    response = post(client, "/v1/track", {"writeKey": "wk_nope", "userId": "u1", "event": "E"})
    assert response.status_code == 401
    assert_nothing_written()


def test_bad_basic_header_is_refused_even_with_a_good_body_key(client, write_key):
    body = {"writeKey": write_key, "userId": "u1", "event": "E"}
    response = post(client, "/v1/track", body, HTTP_AUTHORIZATION="Basic not-base64!")
    assert response.status_code == 401
    assert response.json()["error"] == "Authorization: malformed Basic credentials"
    assert_nothing_written()


def test_auth_is_checked_before_the_body_is_read(client, write_key):
    response = post(client, "/v1/batch", b"{not json", key="wk_wrong")
    assert response.status_code == 401
    assert_nothing_written()


def test_the_api_needs_no_login_and_no_csrf_token(write_key):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = post(strict, "/v1/track", {"userId": "u1", "event": "E"}, key=write_key)
    assert response.status_code == 200


def test_get_is_not_allowed(client, write_key):
    response = client.get("/v1/track", HTTP_AUTHORIZATION=basic(write_key))
    assert response.status_code == 405
    assert response["Allow"] == "POST"


# Limits and bad input --------------------------------------------------------------------------------------


def test_invalid_json_is_refused(client, write_key):
    response = post(client, "/v1/batch", b'{"batch": [', key=write_key)
    assert response.status_code == 400
    assert response.json() == {
        "success": False,
        "error": "body: not valid JSON",
        "code": "invalid_json",
        "message": "body: not valid JSON",
    }
    assert_nothing_written()


@pytest.mark.parametrize("body", [b"NaN", b'{"batch": [], "x": 1e999}', b"[" * 50_000])
def test_json_no_database_can_store_is_refused(client, write_key, body):
    response = post(client, "/v1/batch", body, key=write_key)
    assert response.status_code == 400
    assert response.json()["error"] == "body: not valid JSON"
    assert_nothing_written()


def test_gzip_bomb_is_refused_without_inflating_it(client, write_key):
    # 50 MB of zeros compress to about 50 KB
    bomb = gzip.compress(b'{"batch": [' + b" " * 50_000_000 + b"]}")
    response = post(client, "/v1/batch", bomb, key=write_key, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400
    assert response.json()["error"] == "body: more than the limit of 512000 bytes after decompression"
    assert_nothing_written()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x1f\x8b\x08\x00garbage-not-deflate", "body: corrupt gzip data"),
        (b"plain text, not gzip", "body: corrupt gzip data"),
        (gzip.compress(json.dumps({"batch": [track(1)]}).encode())[:-12], "body: truncated gzip data"),
    ],
)
def test_corrupt_gzip_is_refused(client, write_key, data, expected):
    response = post(client, "/v1/batch", data, key=write_key, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400
    assert response.json()["error"] == expected
    assert_nothing_written()


def test_unsupported_content_encoding_is_refused(client, write_key):
    response = post(client, "/v1/batch", {"batch": [track(1)]}, key=write_key, HTTP_CONTENT_ENCODING="br")
    assert response.status_code == 400
    assert response.json()["error"] == "Content-Encoding: 'br' is not supported (use gzip)"
    assert_nothing_written()


def test_message_over_32_kb_is_refused(client, write_key):
    big = track(1, properties={"blob": "x" * 33_000})
    response = post(client, "/v1/batch", {"batch": [track(0), big]}, key=write_key)
    assert response.status_code == 400
    body = response.json()
    assert body["index"] == 1
    assert "field" not in body
    assert body["error"].startswith("batch[1]: message is ")
    assert body["error"].endswith(" bytes, more than the limit of 32768 bytes")
    assert_nothing_written()


def test_single_message_over_32_kb_is_refused(client, write_key):
    response = post(client, "/v1/track", track(1, properties={"blob": "x" * 33_000}), key=write_key)
    assert response.status_code == 400
    assert "more than the limit of 32768 bytes" in response.json()["error"]
    assert_nothing_written()


def test_batch_over_500_kb_is_refused(client, write_key):
    # 20 messages of 30 KB: each under the message limit, together over the batch limit
    body = {"batch": [track(n, properties={"blob": "x" * 30_000}) for n in range(20)]}
    response = post(client, "/v1/batch", body, key=write_key)
    assert response.status_code == 400
    assert response.json()["error"].endswith("bytes is more than the limit of 512000 bytes")
    assert_nothing_written()


def test_batch_over_500_kb_once_decompressed_is_refused(client, write_key):
    body = {"batch": [track(n, properties={"blob": "x" * 30_000}) for n in range(20)]}
    response = post(client, "/v1/batch", body, key=write_key, gzipped=True)
    assert response.status_code == 400
    assert response.json()["error"] == "body: more than the limit of 512000 bytes after decompression"
    assert_nothing_written()


def test_batch_over_2500_messages_is_refused(client, write_key):
    body = {"batch": [{"type": "track", "userId": "u", "event": "E"}] * 2501}
    response = post(client, "/v1/batch", body, key=write_key)
    assert response.status_code == 400
    assert response.json()["error"] == "batch: 2501 messages is more than the limit of 2500 per batch"
    assert response.json()["field"] == "batch"
    assert_nothing_written()


T = {"type": "track", "userId": "u", "event": "E"}


@pytest.mark.parametrize(
    ("item", "error", "field"),
    [
        ({"type": "track", "event": "E"}, "batch[1].userId: userId or anonymousId is required", "userId"),
        ({**T, "userId": None, "anonymousId": None}, "batch[1].userId: userId or anonymousId is required", "userId"),
        ({"type": "track", "userId": "u"}, "batch[1].event: required for track messages", "event"),
        ({**T, "timestamp": "soon"}, "batch[1].timestamp: not a valid ISO 8601 timestamp: 'soon'", "timestamp"),
        ({**T, "properties": ["x"]}, "batch[1].properties: must be a JSON object", "properties"),
        ({"type": "identify", "userId": "u", "traits": "vip"}, "batch[1].traits: must be a JSON object", "traits"),
        ({**T, "userId": {"id": 1}}, "batch[1].userId: must be a string (or an integer)", "userId"),
        ({**T, "messageId": "m" * 101}, "batch[1].messageId: must be at most 100 characters", "messageId"),
        ({"type": "alias", "userId": "u"}, "batch[1].previousId: required for alias messages", "previousId"),
        ({**T, "type": "buy"}, "batch[1].type: must be one of identify, track, page, screen, group, alias", "type"),
    ],
)
def test_one_invalid_message_refuses_the_whole_batch(client, write_key, item, error, field):
    # given a valid message first, so a partial write would show
    response = post(client, "/v1/batch", {"batch": [track(0), item, track(2)]}, key=write_key)
    assert response.status_code == 400
    assert response.json() == {
        "success": False,
        "error": error,
        "code": "invalid_message",
        "message": error,
        "index": 1,
        "field": field,
    }
    assert_nothing_written()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"batch": "all"}, "batch: required, a list of messages"),
        ({"batch": [track(0)], "context": "web"}, "context: must be a JSON object"),
        ([track(0)], "the body must be a JSON object"),
    ],
)
def test_bad_batch_envelope_is_refused(client, write_key, body, error):
    response = post(client, "/v1/batch", body, key=write_key)
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert "index" not in response.json()
    assert_nothing_written()


def test_single_message_error_has_no_index(client, write_key):
    response = post(client, "/v1/track", {"userId": "u1"}, key=write_key)
    assert response.status_code == 400
    assert response.json()["error"] == "event: required for track messages"
    assert response.json()["field"] == "event"
    assert "index" not in response.json()
    assert_nothing_written()


def test_a_database_failure_mid_request_writes_nothing(client, write_key, monkeypatch):
    # given inserting the identify calls fails after the profiles and events of the request were written
    original = ingestion.rows_insert

    def failing(model, objects):
        if model is IdentifyCall:
            raise RuntimeError("disk full")
        return original(model, objects)

    monkeypatch.setattr(ingestion, "rows_insert", failing)
    body = {"batch": [track(1), {"type": "identify", "userId": "u1", "traits": {"plan": "x"}}]}
    # when
    with pytest.raises(RuntimeError):
        post(client, "/v1/batch", body, key=write_key)
    # then the request's transaction rolled back
    assert_nothing_written()


def test_a_concurrent_duplicate_insert_is_retried(client, write_key, monkeypatch):
    # given another request stores the same message while this one is being written
    original = ingestion._chunk_ingest
    calls = []

    def racing(chunk, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            Profile.objects.create(external_id="u1")
            raise IntegrityError("duplicate key value violates unique constraint")
        return original(chunk, **kwargs)

    monkeypatch.setattr(ingestion, "_chunk_ingest", racing)
    response = post(client, "/v1/track", {"userId": "u1", "event": "E", "messageId": "m1"}, key=write_key)
    assert response.status_code == 200
    assert len(calls) == 2
    assert list(Event.objects.values_list("profile__external_id", flat=True)) == ["u1"]


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need a server database")
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_for_the_same_new_customers_lose_nothing(live_server, write_key):
    # given four senders, each setting its own trait on the same ten new customers, round after round
    users = [f"u{n}" for n in range(10)]

    def send_round(sender: int, round_: int) -> int:
        batch = []
        for user in users:
            batch.append(
                {
                    "type": "identify",
                    "userId": user,
                    "anonymousId": f"anon-{user}-{sender}",
                    "traits": {f"sender{sender}": round_},
                    "messageId": f"i-{sender}-{round_}-{user}",
                }
            )
            batch.append({"type": "track", "userId": user, "event": "E", "messageId": f"e-{sender}-{round_}-{user}"})
        response = requests.post(f"{live_server.url}/v1/batch", json={"batch": batch}, auth=(write_key, ""), timeout=60)
        return response.status_code

    def send(sender: int) -> list[int]:
        return [send_round(sender, round_) for round_ in range(3)]

    # when they all send at once
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = [status for sender_statuses in pool.map(send, range(4)) for status in sender_statuses]
    # then every request succeeded, each customer exists once, and no sender's trait was overwritten
    assert statuses == [200] * 12
    assert sorted(Profile.objects.values_list("external_id", flat=True)) == users
    assert Event.objects.count() == 4 * 3 * 10
    assert AnonymousId.objects.count() == 4 * 10
    for profile in Profile.objects.all():
        assert profile.traits == {f"sender{sender}": 2 for sender in range(4)}
