"""Validation of Segment-Spec messages into typed objects, shared by the tracking API and ``manage.py ingest``.

One validator for both entry points, so a message the API refuses is refused by ``ingest`` with the same
reason. Errors name the field (``event: required for track messages``); the callers add where the message
was (``batch[3].``, ``line 12: ``).

Choices made where the Segment Spec leaves room, so both entry points behave the same:

- ``userId``, ``anonymousId`` and ``previousId`` may be JSON integers: they are read as their decimal string
  (``42`` -> ``"42"``), as Segment's own libraries coerce them. Floats, booleans, blanks and other types are
  refused, because they are almost always a bug in the sender.
- ``null`` is the same as a missing field for ids, ``traits``, ``properties``, ``context`` and
  ``integrations`` (Segment's libraries send ``"anonymousId": null``).
- ``traits.email`` must be a string or null; ``traits.phone`` a string, an integer or null. Both are
  trimmed; a blank value is stored as null, because an empty identifier matches nobody anywhere.
- ``alias`` needs ``previousId`` and ``userId`` (the Spec's alias call always has both).
- ``page`` and ``screen`` become events named "Page Viewed" and "Screen Viewed" whose properties are the
  message's ``properties`` plus its top-level ``name`` and ``category`` when given (those win).
- ``group`` is validated like any message and then ignored by ingestion (groups are not modelled).
- An identify's traits are its ``traits`` over its ``context.traits`` (top-level keys win): RudderStack's
  libraries send identify traits only in ``context.traits``. Other messages' ``context.traits`` are ignored.
- The size limit is measured on the message as received (before a batch's ``context`` is merged in), as
  compact UTF-8 JSON.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

from django.conf import settings

MESSAGE_TYPES = ("identify", "track", "page", "screen", "group", "alias")
# Page and screen calls are stored as events with these names (the Segment convention for destinations
# that only know events), so an audience can say "viewed a page" with an ordinary event rule.
PAGE_EVENT_NAME = "Page Viewed"
SCREEN_EVENT_NAME = "Screen Viewed"

# Column sizes of the customers models: a longer value is refused here rather than failing the database.
MAX_ID_LENGTH = 255
MAX_EVENT_NAME_LENGTH = 255
MAX_MESSAGE_ID_LENGTH = 100
MAX_EMAIL_LENGTH = 320
MAX_PHONE_LENGTH = 64


class MessageError(ValueError):
    """A message that cannot be accepted; ``field`` is the dotted path of the offending field."""

    def __init__(self, field: str, reason: str, *, index: int | None = None) -> None:
        self.field = field
        self.reason = reason
        self.index = index
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"batch[{self.index}]" if self.index is not None else ""
        if where and self.field:
            where += "."
        path = where + self.field
        return f"{path}: {self.reason}" if path else self.reason

    def at_index(self, index: int) -> MessageError:
        return MessageError(self.field, self.reason, index=index)


@dataclass(frozen=True, slots=True)
class TrackingMessage:
    """A validated message, reduced to what ingestion uses.

    ``timestamp`` is the event time in UTC (``timestamp``, else ``originalTimestamp``), or None when the
    message carries neither and the receive time applies. ``traits`` are only set for identify messages.
    ``context`` and ``integrations`` (with a batch's shared values merged in) are kept for callers;
    ingestion stores neither.
    """

    type: str
    message_id: str
    user_id: str | None = None
    anonymous_id: str | None = None
    previous_id: str | None = None
    event: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    timestamp: datetime | None = None
    context: dict[str, Any] = field(default_factory=dict)
    integrations: dict[str, Any] = field(default_factory=dict)

    @property
    def linked_anonymous_ids(self) -> list[str]:
        """The anonymous ids this message ties to its ``userId`` (an alias's ``previousId`` counts as one)."""
        ids = [value for value in (self.anonymous_id, self.previous_id) if value is not None]
        return ids if len(ids) < 2 or ids[0] != ids[1] else ids[:1]

    @property
    def can_change_stored_profiles(self) -> bool:
        """Whether ingesting this message may update or merge existing profiles (and so needs row locks)."""
        return self.type == "identify" or (self.user_id is not None and bool(self.linked_anonymous_ids))


def json_loads(data: bytes | str) -> Any:
    """``json.loads`` that refuses NaN, Infinity and numbers too large for a float, which no database stores."""
    return json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_float)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def message_parse(
    raw: Any,
    *,
    message_type: str | None = None,
    context: dict[str, Any] | None = None,
    integrations: dict[str, Any] | None = None,
) -> TrackingMessage:
    """Validate one message and return it typed, or raise :class:`MessageError` naming the field.

    ``message_type`` is given by single-message endpoints (the type comes from the URL); otherwise the
    message's own ``type`` is required. ``context`` and ``integrations`` (a batch's shared values) are
    merged under the message's own, whose keys win.
    """
    if not isinstance(raw, dict):
        raise MessageError("", "must be a JSON object")
    _check_size_and_text(raw)

    if message_type is None:
        message_type = raw.get("type")
        if message_type is None:
            raise MessageError("type", f"required, one of {', '.join(MESSAGE_TYPES)}")
        if message_type not in MESSAGE_TYPES:
            raise MessageError("type", f"must be one of {', '.join(MESSAGE_TYPES)}")

    user_id = _identifier(raw, "userId")
    anonymous_id = _identifier(raw, "anonymousId")
    if user_id is None and anonymous_id is None:
        raise MessageError("userId", "userId or anonymousId is required")
    message_id = raw.get("messageId")
    if message_id is None:
        # Without a messageId the message cannot be deduplicated; it still needs a unique key.
        message_id = str(uuid.uuid4())
    elif not isinstance(message_id, str) or not message_id.strip():
        raise MessageError("messageId", "must be a non-empty string")
    elif len(message_id) > MAX_MESSAGE_ID_LENGTH:
        raise MessageError("messageId", f"must be at most {MAX_MESSAGE_ID_LENGTH} characters")
    own_context = _object(raw, "context")
    own_integrations = _object(raw, "integrations")
    timestamp = _timestamp(raw, "timestamp")
    original_timestamp = _timestamp(raw, "originalTimestamp")
    timestamp = timestamp or original_timestamp

    common = {
        "type": message_type,
        "message_id": message_id,
        "user_id": user_id,
        "anonymous_id": anonymous_id,
        "context": {**context, **own_context} if context else own_context,
        "integrations": {**integrations, **own_integrations} if integrations else own_integrations,
    }
    if message_type == "identify":
        return TrackingMessage(**common, traits=_identify_traits(raw, common["context"]), timestamp=timestamp)
    if message_type == "track":
        event = raw.get("event")
        if event is None:
            raise MessageError("event", "required for track messages")
        if not isinstance(event, str) or not event.strip():
            raise MessageError("event", "must be a non-empty string")
        if len(event) > MAX_EVENT_NAME_LENGTH:
            raise MessageError("event", f"must be at most {MAX_EVENT_NAME_LENGTH} characters")
        return TrackingMessage(**common, event=event, properties=_object(raw, "properties"), timestamp=timestamp)
    if message_type in ("page", "screen"):
        properties = dict(_object(raw, "properties"))
        for name in ("name", "category"):
            value = raw.get(name)
            if value is not None:
                if not isinstance(value, str):
                    raise MessageError(name, "must be a string")
                properties[name] = value
        event = PAGE_EVENT_NAME if message_type == "page" else SCREEN_EVENT_NAME
        return TrackingMessage(**common, event=event, properties=properties, timestamp=timestamp)
    if message_type == "alias":
        previous_id = _identifier(raw, "previousId")
        if previous_id is None:
            raise MessageError("previousId", "required for alias messages")
        if user_id is None:
            raise MessageError("userId", "required for alias messages")
        return TrackingMessage(**common, previous_id=previous_id, timestamp=timestamp)
    # group: validated, then ignored by ingestion.
    _object(raw, "traits")
    return TrackingMessage(**common, timestamp=timestamp)


def batch_parse(payload: Any) -> list[TrackingMessage]:
    """Validate a ``/v1/batch`` body: every message first, so one bad message rejects the whole batch.

    The batch's own ``context`` and ``integrations`` are merged into each item (the item's keys win), as
    Segment does.
    """
    if not isinstance(payload, dict):
        raise MessageError("", "the body must be a JSON object")
    items = payload.get("batch")
    if not isinstance(items, list):
        raise MessageError("batch", "required, a list of messages")
    limit = settings.TRACKING_MAX_BATCH_MESSAGES
    if len(items) > limit:
        raise MessageError("batch", f"{len(items)} messages is more than the limit of {limit} per batch")
    context = _object(payload, "context")
    integrations = _object(payload, "integrations")
    messages = []
    for index, item in enumerate(items):
        try:
            message = message_parse(item, context=context, integrations=integrations)
        except MessageError as exc:
            raise exc.at_index(index) from None
        messages.append(message)
    return messages


def _check_size_and_text(raw: dict[str, Any]) -> None:
    """Enforce the size limit on the compact JSON, and refuse text no database column can hold."""
    try:
        encoded = json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise MessageError("", "contains an unpaired UTF-16 surrogate (invalid Unicode text)") from None
    limit = settings.TRACKING_MAX_MESSAGE_BYTES
    if len(encoded) > limit:
        raise MessageError("", f"message is {len(encoded)} bytes, more than the limit of {limit} bytes")
    if b"\\u0000" in encoded and _contains_nul(raw):
        raise MessageError("", "contains a NUL character (\\u0000), which cannot be stored")


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(key) or _contains_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_contains_nul(item) for item in value)
    return False


def _identifier(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise MessageError(name, "must be a string (or an integer)")
    if not value.strip():
        raise MessageError(name, "must not be blank")
    if len(value) > MAX_ID_LENGTH:
        raise MessageError(name, f"must be at most {MAX_ID_LENGTH} characters")
    return value


def _object(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MessageError(name, "must be a JSON object")
    return value


def _timestamp(raw: dict[str, Any], name: str) -> datetime | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MessageError(name, "must be an ISO 8601 string")
    return timestamp_parse(value, field=name)


def timestamp_parse(value: str, *, field: str = "timestamp") -> datetime:
    """An ISO 8601 timestamp as an aware UTC datetime; without a UTC offset it is read as UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise MessageError(field, f"not a valid ISO 8601 timestamp: {value[:40]!r}") from None


def _identify_traits(raw: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """An identify's traits: ``traits``, over ``context.traits`` where RudderStack's libraries put them."""
    traits = _object(raw, "traits")
    context_traits = context.get("traits")
    if context_traits is not None and not isinstance(context_traits, dict):
        raise MessageError("context.traits", "must be a JSON object")
    if context_traits:
        traits = {**context_traits, **traits}
    if "email" not in traits and "phone" not in traits:
        return traits
    traits = dict(traits)
    if "email" in traits:
        email = traits["email"]
        if email is not None and not isinstance(email, str):
            raise MessageError("traits.email", "must be a string or null")
        traits["email"] = _trimmed(email, "traits.email", MAX_EMAIL_LENGTH)
    if "phone" in traits:
        phone = traits["phone"]
        if isinstance(phone, int) and not isinstance(phone, bool):
            phone = str(phone)
        if phone is not None and not isinstance(phone, str):
            raise MessageError("traits.phone", "must be a string, an integer or null")
        traits["phone"] = _trimmed(phone, "traits.phone", MAX_PHONE_LENGTH)
    return traits


def _trimmed(value: str | None, name: str, max_length: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > max_length:
        raise MessageError(name, f"must be at most {max_length} characters")
    return value or None


def jsonl_read(
    file: BinaryIO, *, copy_to: BinaryIO | None = None
) -> Iterator[tuple[int, TrackingMessage | MessageError]]:
    """Read JSON Lines from a binary file: yields ``(line number, message or error)``, skipping blank lines.

    Holds one line at a time, and never more than the batch size limit of one line, so a file of any
    length (or a runaway line) reads in bounded memory. ``copy_to`` receives every byte read (to spool
    stdin for a second pass).
    """
    limit = settings.TRACKING_MAX_BATCH_BYTES
    number = 0
    while line := file.readline(limit + 1):
        number += 1
        if copy_to is not None:
            copy_to.write(line)
        if len(line) > limit and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):  # skip the rest of the runaway line
                line = file.readline(65536)
                if copy_to is not None:
                    copy_to.write(line)
            yield number, MessageError("", f"line is longer than {limit} bytes")
            continue
        if not line.strip():
            continue
        try:
            raw = json_loads(line)
        except (ValueError, RecursionError) as exc:
            yield number, MessageError("", f"invalid JSON ({_json_reason(exc)})")
            continue
        try:
            yield number, message_parse(raw)
        except MessageError as exc:
            yield number, exc


def _json_reason(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return str(exc)
