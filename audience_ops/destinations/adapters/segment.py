"""Journey state for analytics tools: a Segment-Spec ``track`` event per membership change.

Every add is an ``Audience Entered`` event and every removal an ``Audience Exited`` event, sent with
``POST {host}/v1/batch`` (HTTP Basic ``write_key:``, as Segment's own libraries do). Properties: audience
slug, name, kind, intent, offer, version, run id (and the sync id). The profile is ``userId`` (its external
id) or, for an anonymous profile, ``anonymousId`` (its newest anonymous id); its email goes in
``context.traits``. ``messageId`` is derived from the run, change and profile, so a retried batch is
deduplicated by the receiver.

Limits from the spec: at most 32 KB per event (a bigger one is reported as a row error, never sent), at
most 500 KB and 2,500 events per request; one engine batch (500 changes) is split by size when needed.
HTTP 429 honours ``Retry-After``; 5xx, timeouts and connection errors are transient; any other 4xx is
permanent with the receiver's message.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import requests
from django import forms

from .. import normalise
from . import config_checks, config_fields, http
from .base import (
    Adapter,
    BatchResult,
    Capabilities,
    ConfigError,
    MatchStats,
    PreparedRow,
    RawIdentifiers,
    RowError,
)

DEFAULT_HOST = "https://api.segment.io"
BATCH_SIZE = 500
MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_EVENTS = 2_500
# Headers a receiver may say how long to wait in (seconds), in the order they are read.
RETRY_HEADERS = ("Retry-After", "X-RateLimit-Reset")
EVENTS = {"add": "Audience Entered", "remove": "Audience Exited"}
_CONFIG_KEYS = ("host", "write_key")


class SegmentAnalyticsAdapter(Adapter):
    """Sends audience entered/exited events to a Segment-Spec HTTP tracking API."""

    kind: ClassVar[str] = "segment_analytics"
    label: ClassVar[str] = "Analytics (Segment Spec events)"
    secret_keys: ClassVar[frozenset[str]] = frozenset({"write_key"})

    # --- configuration -------------------------------------------------------------------------------

    @classmethod
    def clean_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        errors: dict[str, str] = {}
        config_checks.unknown_keys(config, _CONFIG_KEYS, errors)
        cleaned = {
            "host": config_checks.http_url(config, "host", DEFAULT_HOST, errors),
            "write_key": config_checks.required_text(config, "write_key", "the source's write key", errors),
        }
        if errors:
            raise ConfigError(errors)
        return cleaned

    @classmethod
    def form_fields(cls) -> dict[str, forms.Field]:
        return {
            "host": config_fields.base_url(
                DEFAULT_HOST,
                label="Tracking API host",
                help_text="Events go to HOST/v1/batch (Segment: https://api.segment.io; EU: "
                "https://events.eu1.segmentapis.com; any Segment-Spec compatible API).",
            ),
            "write_key": config_fields.secret("Write key", "The source's write key."),
        }

    # --- operations ----------------------------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            identifier_types=("external_id",),
            batch_size=BATCH_SIZE,
            supports_removal=True,
            hashes_identifiers=False,
            needs_traits=True,  # for the anonymous id of profiles without an external id
        )

    def prepare(self, raw: RawIdentifiers) -> PreparedRow | None:
        """``userId`` (external id) or ``anonymousId``; the email as a trait. None when neither id exists."""
        values: dict[str, str] = {}
        external_id = normalise.normalise_external_id(raw.external_id)
        if external_id:
            values["userId"] = external_id
        elif raw.anonymous_id:
            values["anonymousId"] = raw.anonymous_id
        else:
            return None
        email = normalise.normalise_email(raw.email) if raw.email else None
        if email:
            values["email"] = email
        return PreparedRow(profile_id=raw.profile_id, values=values)

    def ensure_audience(self, *, remote_id: str | None, name: str, description: str) -> str:
        """Analytics tools have no audience object: the events carry the audience slug."""
        if remote_id:
            return remote_id
        return self.context.audience_slug if self.context is not None else name

    def add(self, *, remote_id: str, rows: Sequence[PreparedRow], batch_id: str) -> BatchResult:
        return self._send("add", rows=rows)

    def remove(self, *, remote_id: str, rows: Sequence[PreparedRow], batch_id: str) -> BatchResult:
        return self._send("remove", rows=rows)

    def match_stats(self, *, remote_id: str) -> MatchStats:
        """Analytics tools report no match: every accepted event counts."""
        return MatchStats(matched=None)

    def test_connection(self) -> str:
        """Post an empty batch: checks the host and the write key without creating any event."""
        self._post({"batch": []})
        return f"Connected to {self.config['host']}/v1/batch."

    # --- payloads ------------------------------------------------------------------------------------

    def event(self, op: str, row: PreparedRow) -> dict[str, Any]:
        """One Segment ``track`` event for a membership change."""
        context = self.context
        properties: dict[str, Any] = {
            "audience_slug": context.audience_slug if context else "",
            "audience_name": context.audience_name if context else "",
            "audience_kind": context.audience_kind if context else "",
            "intent": context.intent if context else "",
            "offer": context.offer if context else "",
            "version": context.version if context else None,
            "run_id": context.run_id if context else None,
            "sync_id": context.sync_id if context else None,
        }
        event: dict[str, Any] = {
            "type": "track",
            "event": EVENTS[op],
            "properties": properties,
            "messageId": f"ao-{properties['run_id']}-{op}-{row.profile_id}",
            "timestamp": context.as_of if context else dt.datetime.now(dt.UTC).isoformat(),
            "context": {"library": {"name": "audience-ops"}},
        }
        for key in ("userId", "anonymousId"):
            if key in row.values:
                event[key] = row.values[key]
        if "email" in row.values:
            event["context"]["traits"] = {"email": row.values["email"]}
        return event

    def _send(self, op: str, *, rows: Sequence[PreparedRow]) -> BatchResult:
        """Events for ``rows`` in as many requests as the spec's size limits need."""
        self.check_batch(rows)
        errors: list[RowError] = []
        chunks: list[list[bytes]] = [[]]
        size = 0
        for row in rows:
            encoded = json.dumps(self.event(op, row), separators=(",", ":")).encode()
            if len(encoded) > MAX_EVENT_BYTES:
                errors.append(RowError(row.profile_id, f"Event of {len(encoded)} bytes exceeds the 32 KB limit"))
                continue
            if chunks[-1] and (size + len(encoded) + 64 > MAX_BATCH_BYTES or len(chunks[-1]) >= MAX_BATCH_EVENTS):
                chunks.append([])
                size = 0
            chunks[-1].append(encoded)
            size += len(encoded) + 1
        sent = 0
        for chunk in chunks:
            if not chunk:
                continue
            body = b'{"batch":[' + b",".join(chunk) + b'],"sentAt":' + json.dumps(_now()).encode() + b"}"
            self._post_raw(body)
            sent += len(chunk)
        return BatchResult(received=sent, invalid=0, row_errors=tuple(errors), response={"events": sent})

    # --- HTTP ----------------------------------------------------------------------------------------

    def _post(self, payload: dict[str, Any]) -> None:
        self._post_raw(json.dumps(payload, separators=(",", ":")).encode())

    def _post_raw(self, body: bytes) -> None:
        url = f"{self.config['host']}/v1/batch"
        response = http.call(
            self.session,
            "POST",
            url,
            who="The tracking API",
            data=body,
            auth=(self.config["write_key"], ""),
            headers={"Content-Type": "application/json"},
            timeout=self.timeout,
            allow_redirects=False,
        )
        if 200 <= response.status_code < 300:
            return
        raise http.status_error(response, _message(response), retry_after=http.retry_after(response, *RETRY_HEADERS))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _message(response: requests.Response) -> str:
    """The receiver's own error message when it gave one, else the HTTP status."""
    body = http.json_object(response)
    if body:
        for key in ("message", "error", "detail"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message")
            if value:
                return f"{value} (HTTP {response.status_code})"
    return f"The tracking API answered HTTP {response.status_code} {response.reason or ''}".strip()
