"""The message validator shared by the tracking API and ``ingest``: typed results and field-named errors."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

import pytest

from audience_ops.customers.messages import (
    MessageError,
    TrackingMessage,
    batch_parse,
    json_loads,
    jsonl_read,
    message_parse,
)


def _error(raw, **kwargs) -> str:
    with pytest.raises(MessageError) as excinfo:
        message_parse(raw, **kwargs)
    return str(excinfo.value)


def test_track_message_is_typed():
    message = message_parse(
        {
            "type": "track",
            "userId": "u1",
            "anonymousId": "a1",
            "event": "Order Completed",
            "properties": {"total": 25.5, "category": "coffee"},
            "messageId": "m-1",
            "timestamp": "2025-03-01T12:30:00+01:00",
            "context": {"traits": {"email": "ignored@example.com"}},
        }
    )
    assert message == TrackingMessage(
        type="track",
        message_id="m-1",
        user_id="u1",
        anonymous_id="a1",
        event="Order Completed",
        properties={"total": 25.5, "category": "coffee"},
        timestamp=datetime(2025, 3, 1, 11, 30, tzinfo=UTC),
        context={"traits": {"email": "ignored@example.com"}},
    )
    assert message.traits == {}


def test_identify_traits_are_trimmed_and_blank_identifiers_become_null():
    message = message_parse(
        {
            "type": "identify",
            "userId": "u1",
            "traits": {"email": "  Ann@Example.com ", "phone": "   ", "plan": " pro ", "age": None},
        }
    )
    assert message.traits == {"email": "Ann@Example.com", "phone": None, "plan": " pro ", "age": None}


def test_identify_reads_context_traits_under_its_own_traits():
    # RudderStack's library sends identify traits only in context.traits
    message = message_parse(
        {
            "type": "identify",
            "userId": "u1",
            "traits": {"plan": "gold"},
            "context": {"traits": {"plan": "free", "email": " a@b.co ", "tier": 2}},
        }
    )
    assert message.traits == {"plan": "gold", "email": "a@b.co", "tier": 2}


def test_context_traits_of_an_identify_must_be_an_object():
    assert _error({"type": "identify", "userId": "u", "context": {"traits": "vip"}}) == (
        "context.traits: must be a JSON object"
    )


def test_integer_phone_and_ids_are_read_as_strings():
    message = message_parse(
        {"type": "identify", "userId": 42, "anonymousId": 7, "traits": {"phone": 15551234567}, "messageId": "m"}
    )
    assert (message.user_id, message.anonymous_id, message.traits["phone"]) == ("42", "7", "15551234567")


def test_null_anonymous_id_is_accepted_with_a_user_id():
    message = message_parse({"type": "track", "userId": "u1", "anonymousId": None, "event": "Signed Up"})
    assert message.user_id == "u1"
    assert message.anonymous_id is None


def test_missing_message_id_gets_a_fresh_uuid4():
    first = message_parse({"type": "track", "userId": "u1", "event": "E"})
    second = message_parse({"type": "track", "userId": "u1", "event": "E"})
    assert uuid.UUID(first.message_id).version == 4
    assert first.message_id != second.message_id


def test_timestamp_without_offset_is_utc_and_original_timestamp_is_the_fallback():
    naive = message_parse({"type": "track", "userId": "u", "event": "E", "timestamp": "2025-01-02T03:04:05"})
    zulu = message_parse({"type": "track", "userId": "u", "event": "E", "timestamp": "2025-01-02T03:04:05.250Z"})
    fallback = message_parse(
        {"type": "track", "userId": "u", "event": "E", "originalTimestamp": "2025-01-02T03:04:05-05:00"}
    )
    both = message_parse(
        {
            "type": "track",
            "userId": "u",
            "event": "E",
            "timestamp": "2025-01-01T00:00:00Z",
            "originalTimestamp": "2024-01-01T00:00:00Z",
        }
    )
    none = message_parse({"type": "track", "userId": "u", "event": "E"})
    assert naive.timestamp == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert zulu.timestamp == datetime(2025, 1, 2, 3, 4, 5, 250000, tzinfo=UTC)
    assert fallback.timestamp == datetime(2025, 1, 2, 8, 4, 5, tzinfo=UTC)
    assert fallback.timestamp.tzinfo == UTC
    assert both.timestamp == datetime(2025, 1, 1, tzinfo=UTC)
    assert none.timestamp is None


def test_page_and_screen_become_viewed_events_with_name_and_category():
    page = message_parse(
        {"type": "page", "anonymousId": "a", "name": "Pricing", "category": "Docs", "properties": {"path": "/p"}}
    )
    screen = message_parse({"type": "screen", "userId": "u", "name": "Cart"}, message_type="screen")
    assert (page.event, page.properties) == ("Page Viewed", {"path": "/p", "name": "Pricing", "category": "Docs"})
    assert (screen.event, screen.properties) == ("Screen Viewed", {"name": "Cart"})


def test_alias_carries_previous_id():
    message = message_parse({"type": "alias", "userId": "u1", "previousId": "anon-9"})
    assert message.previous_id == "anon-9"
    assert message.linked_anonymous_ids == ["anon-9"]


def test_group_is_accepted():
    message = message_parse({"type": "group", "userId": "u1", "groupId": "g1", "traits": {"name": "Acme"}})
    assert message.type == "group"
    assert message.traits == {}


def test_url_type_wins_over_the_body_type():
    message = message_parse({"type": "identify", "userId": "u", "event": "E"}, message_type="track")
    assert message.type == "track"


TRACK = {"type": "track", "userId": "u", "event": "E"}
IDENTIFY = {"type": "identify", "userId": "u"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([], "must be a JSON object"),
        ({"userId": "u"}, "type: required, one of identify, track, page, screen, group, alias"),
        ({"type": "purchase", "userId": "u"}, "type: must be one of identify, track, page, screen, group, alias"),
        ({"type": "track", "event": "E"}, "userId: userId or anonymousId is required"),
        ({**TRACK, "userId": None, "anonymousId": None}, "userId: userId or anonymousId is required"),
        ({"type": "track", "userId": "u"}, "event: required for track messages"),
        ({**TRACK, "event": ""}, "event: must be a non-empty string"),
        ({**TRACK, "event": 12}, "event: must be a non-empty string"),
        ({**TRACK, "event": "E" * 256}, "event: must be at most 255 characters"),
        ({**TRACK, "userId": 1.5}, "userId: must be a string (or an integer)"),
        ({**TRACK, "userId": True}, "userId: must be a string (or an integer)"),
        ({**TRACK, "userId": "  "}, "userId: must not be blank"),
        ({**TRACK, "userId": "u" * 256}, "userId: must be at most 255 characters"),
        ({**TRACK, "anonymousId": ["a"]}, "anonymousId: must be a string (or an integer)"),
        ({**TRACK, "properties": []}, "properties: must be a JSON object"),
        ({**TRACK, "context": "web"}, "context: must be a JSON object"),
        ({**TRACK, "integrations": 1}, "integrations: must be a JSON object"),
        ({**IDENTIFY, "traits": "vip"}, "traits: must be a JSON object"),
        ({**IDENTIFY, "traits": {"email": 5}}, "traits.email: must be a string or null"),
        ({**IDENTIFY, "traits": {"email": "x" * 321}}, "traits.email: must be at most 320 characters"),
        ({**IDENTIFY, "traits": {"phone": [1]}}, "traits.phone: must be a string, an integer or null"),
        ({**IDENTIFY, "traits": {"phone": "1" * 65}}, "traits.phone: must be at most 64 characters"),
        ({**TRACK, "timestamp": "yesterday"}, "timestamp: not a valid ISO 8601 timestamp: 'yesterday'"),
        ({**TRACK, "timestamp": 1700000000}, "timestamp: must be an ISO 8601 string"),
        (
            {**TRACK, "originalTimestamp": "2025-13-01"},
            "originalTimestamp: not a valid ISO 8601 timestamp: '2025-13-01'",
        ),
        ({**TRACK, "messageId": "m" * 101}, "messageId: must be at most 100 characters"),
        ({**TRACK, "messageId": 17}, "messageId: must be a non-empty string"),
        ({**TRACK, "messageId": ""}, "messageId: must be a non-empty string"),
        ({"type": "alias", "userId": "u"}, "previousId: required for alias messages"),
        ({"type": "alias", "anonymousId": "a", "previousId": "p"}, "userId: required for alias messages"),
        ({"type": "page", "userId": "u", "name": 3}, "name: must be a string"),
        ({**TRACK, "userId": "u\x00"}, "contains a NUL character (\\u0000), which cannot be stored"),
        ({**TRACK, "properties": {"k": "\ud800"}}, "contains an unpaired UTF-16 surrogate (invalid Unicode text)"),
    ],
)
def test_invalid_messages_name_the_field(raw, expected):
    assert _error(raw) == expected


def test_literal_backslash_u0000_text_is_not_a_nul():
    message = message_parse({"type": "track", "userId": "u", "event": "E", "properties": {"k": "\\u0000"}})
    assert message.properties == {"k": "\\u0000"}


def test_message_size_is_measured_as_compact_json(settings):
    settings.TRACKING_MAX_MESSAGE_BYTES = 100
    base = {"type": "track", "userId": "u", "event": "E", "properties": {"p": ""}}
    overhead = len(b'{"type":"track","userId":"u","event":"E","properties":{"p":""}}')
    exactly = {**base, "properties": {"p": "x" * (100 - overhead)}}
    # A two-byte UTF-8 character counts twice: é is 2 bytes.
    over = {**base, "properties": {"p": "é" * (100 - overhead)}}
    assert message_parse(exactly).properties["p"] == "x" * (100 - overhead)
    assert _error(over) == f"message is {overhead + 2 * (100 - overhead)} bytes, more than the limit of 100 bytes"


def test_batch_merges_shared_context_and_integrations_under_each_item():
    messages = batch_parse(
        {
            "context": {"library": {"name": "shared"}, "ip": "1.2.3.4"},
            "integrations": {"All": True},
            "batch": [
                {"type": "track", "userId": "u", "event": "E", "context": {"ip": "5.6.7.8"}},
                {"type": "identify", "userId": "u", "integrations": {"All": False}},
            ],
        }
    )
    assert messages[0].context == {"library": {"name": "shared"}, "ip": "5.6.7.8"}
    assert messages[0].integrations == {"All": True}
    assert messages[1].context == {"library": {"name": "shared"}, "ip": "1.2.3.4"}
    assert messages[1].integrations == {"All": False}


def test_batch_error_names_the_index_and_field():
    with pytest.raises(MessageError) as excinfo:
        batch_parse({"batch": [{"type": "identify", "userId": "u"}] * 3 + [{"type": "track", "userId": "u"}]})
    assert str(excinfo.value) == "batch[3].event: required for track messages"
    assert (excinfo.value.index, excinfo.value.field) == (3, "event")


def test_batch_item_that_is_not_an_object():
    with pytest.raises(MessageError) as excinfo:
        batch_parse({"batch": ["track"]})
    assert str(excinfo.value) == "batch[0]: must be a JSON object"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ([], "the body must be a JSON object"),
        ({}, "batch: required, a list of messages"),
        ({"batch": {"type": "track"}}, "batch: required, a list of messages"),
        ({"batch": [], "context": []}, "context: must be a JSON object"),
    ],
)
def test_batch_envelope_errors(payload, expected):
    with pytest.raises(MessageError) as excinfo:
        batch_parse(payload)
    assert str(excinfo.value) == expected


def test_batch_message_count_limit(settings):
    settings.TRACKING_MAX_BATCH_MESSAGES = 3
    item = {"type": "track", "userId": "u", "event": "E"}
    assert len(batch_parse({"batch": [item] * 3})) == 3
    with pytest.raises(MessageError) as excinfo:
        batch_parse({"batch": [item] * 4})
    assert str(excinfo.value) == "batch: 4 messages is more than the limit of 3 per batch"


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e400", '{"a": NaN}'])
def test_json_loads_refuses_numbers_no_database_stores(text):
    with pytest.raises(ValueError):
        json_loads(text)


def test_jsonl_read_numbers_lines_and_skips_blank_ones():
    data = (
        b'{"type":"track","userId":"u","event":"E","messageId":"m1"}\n'
        b"\n"
        b"   \n"
        b'{"type":"track","userId":"u"}\n'
        b"{not json\n"
        b'{"type":"identify","userId":"u","messageId":"m2"}'
    )
    results = list(jsonl_read(io.BytesIO(data)))
    assert [number for number, _ in results] == [1, 4, 5, 6]
    assert results[0][1].message_id == "m1"
    assert str(results[1][1]) == "event: required for track messages"
    assert str(results[2][1]) == "invalid JSON (Expecting property name enclosed in double quotes at column 2)"
    assert results[3][1].message_id == "m2"


def test_jsonl_read_refuses_a_runaway_line_and_keeps_counting(settings):
    settings.TRACKING_MAX_BATCH_BYTES = 64
    good = b'{"type":"track","userId":"u","event":"E","messageId":"m9"}\n'
    data = b'{"type":"track","userId":"u","event":"' + b"x" * 500 + b'"}\n' + good
    copy = io.BytesIO()
    results = list(jsonl_read(io.BytesIO(data), copy_to=copy))
    assert str(results[0][1]) == "line is longer than 64 bytes"
    assert results[0][0] == 1
    assert (results[1][0], results[1][1].message_id) == (2, "m9")
    assert copy.getvalue() == data


def test_jsonl_read_reports_non_utf8_and_too_deeply_nested_lines():
    data = b'{"type":"track","userId":"\xff","event":"E"}\n' + b"[" * 100_000 + b"\n"
    results = [(number, str(error)) for number, error in jsonl_read(io.BytesIO(data))]
    assert results == [(1, "invalid JSON (not UTF-8 text)"), (2, "invalid JSON (nested too deeply)")]
