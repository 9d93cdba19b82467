"""Receivers for the event-shaped destinations: a Segment-Spec ``/v1/batch`` endpoint and a Standard
Webhooks endpoint. Each records what it accepted and replays it into "who is in each audience now", so
tests and the demo can compare a destination's state with the audience.

- ``/segment/v1/batch`` (controls under ``/_sandbox/segment/``): HTTP Basic ``writeKey:`` (or ``writeKey``
  in the body); the spec's limits (32 KB per event, 500 KB and 2,500 events per batch -> 400); events need
  ``userId`` or ``anonymousId``; duplicates (same ``messageId``) are accepted and ignored.
- ``/webhook/<path>`` (controls under ``/_sandbox/webhook/``): verifies ``webhook-signature`` against the
  receiver's secret (:data:`SANDBOX_WEBHOOK_SECRET` unless set) within 5 minutes; dedupes on ``webhook-id``.

Knobs: throttle the next N calls (429 with ``Retry-After``), fail them (HTTP status), reject the key (401),
``gone`` (webhook: 410 from now on), ``reset``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from typing import Any

from .http import Request, Response

SEGMENT_API_PREFIX = "/segment"
SEGMENT_CONTROL_PREFIX = "/_sandbox/segment"
WEBHOOK_API_PREFIX = "/webhook"
WEBHOOK_CONTROL_PREFIX = "/_sandbox/webhook"
SANDBOX_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"audience-ops-sandbox-webhook-key!").decode()
MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_EVENTS = 2_500
TOLERANCE_SECONDS = 300


class _Knobs:
    """Throttle/fail counters shared by both receivers."""

    def __init__(self) -> None:
        self.throttle = 0
        self.retry_after: float | None = None
        self.fail = 0
        self.fail_status = 500
        self.rejected = False
        self.gone = False

    def answer(self) -> Response | None:
        """The knob's answer for this call, or None to handle it normally."""
        if self.gone:
            return Response(410, {"message": "This endpoint is gone"})
        if self.rejected:
            return Response(401, {"message": "Invalid write key or signature secret"})
        if self.throttle > 0:
            self.throttle -= 1
            headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
            return Response(429, {"message": "Too many requests"}, headers)
        if self.fail > 0:
            self.fail -= 1
            return Response(self.fail_status, {"message": f"Sandbox failure (HTTP {self.fail_status})"})
        return None

    def control(self, request: Request) -> Response | None:
        path, params = request.path, request.params
        if path == "/throttle":
            self.throttle = int(params.get("n", 1))
            self.retry_after = params.get("retry_after")
        elif path == "/fail":
            self.fail = int(params.get("n", 1))
            self.fail_status = int(params.get("status", 500))
        elif path == "/reject":
            self.rejected = True
        elif path == "/accept":
            self.rejected = False
            self.gone = False
        elif path == "/gone":
            self.gone = True
        else:
            return None
        return Response(200, {"ok": True})


class _Receiver:
    """Common state: a lock, knobs, the request log and the replayed membership per audience."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.knobs = _Knobs()
        self.requests: list[dict[str, Any]] = []
        self.seen: set[str] = set()
        self.members: dict[str, dict[str, dict[str, Any]]] = {}  # audience -> profile key -> identity
        self.changes: list[dict[str, Any]] = []

    def apply(self, audience: str, key: str, change: str, identity: dict[str, Any]) -> None:
        held = self.members.setdefault(audience, {})
        if change == "entered":
            held[key] = identity
        else:
            held.pop(key, None)
        self.changes.append({"audience": audience, "key": key, "change": change})

    def handle_control(self, request: Request) -> Response:
        with self.lock:
            if request.path == "/reset":
                self.reset()
                return Response(200, {"ok": True})
            if request.path == "/requests":
                return Response(200, {"requests": list(self.requests)})
            if request.path == "/members":
                audience = request.params.get("audience", "")
                return Response(200, {"members": sorted(self.members.get(audience, {}))})
            if request.path == "/changes":
                return Response(200, {"changes": list(self.changes)})
            answer = self.knobs.control(request)
        return answer or Response(404, {"message": f"No control {request.path}"})


class SegmentReceiver(_Receiver):
    """A Segment-Spec batch endpoint that records ``Audience Entered``/``Exited`` events."""

    def reset(self) -> None:
        super().reset()
        self.batches: list[dict[str, Any]] = []  # every accepted body, as sent

    def handle_control(self, request: Request) -> Response:
        if request.path == "/batches":
            with self.lock:
                return Response(200, {"batches": list(self.batches)})
        return super().handle_control(request)

    def handle_api(self, request: Request) -> Response:
        if request.path != "/v1/batch" or request.method != "POST":
            return Response(404, {"message": f"No endpoint {request.method} {request.path}"})
        with self.lock:
            answer = self.knobs.answer()
            entry = {"path": request.path, "events": 0, "status": 200}
            self.requests.append(entry)
            if answer is not None:
                entry["status"] = answer.status
                return answer
            if not _write_key(request):
                entry["status"] = 401
                return Response(401, {"message": "Missing write key"})
            body = request.json_body
            if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
                entry["status"] = 400
                return Response(400, {"message": "The body must be a JSON object with a batch list"})
            problem = validate_batch(body["batch"], raw_size=len(request.raw_body))
            if problem:
                entry["status"] = 400
                return Response(400, {"message": problem})
            entry["events"] = len(body["batch"])
            self.batches.append(body)
            for event in body["batch"]:
                message_id = event.get("messageId")
                if message_id in self.seen:
                    continue
                if message_id:
                    self.seen.add(message_id)
                audience = (event.get("properties") or {}).get("audience_slug", "")
                key = event.get("userId") or f"anon:{event.get('anonymousId')}"
                change = {"Audience Entered": "entered", "Audience Exited": "exited"}.get(event.get("event"))
                if change:
                    self.apply(audience, key, change, event)
            return Response(200, {"success": True})


def validate_batch(batch: list[Any], *, raw_size: int) -> str | None:
    """Why a batch breaks the spec's rules, or None."""
    if raw_size > MAX_BATCH_BYTES:
        return f"Batch of {raw_size} bytes exceeds 500 KB"
    if len(batch) > MAX_BATCH_EVENTS:
        return f"{len(batch)} events exceed 2,500 per batch"
    for index, event in enumerate(batch):
        if not isinstance(event, dict):
            return f"batch[{index}] is not an object"
        if len(json.dumps(event, separators=(",", ":")).encode()) > MAX_EVENT_BYTES:
            return f"batch[{index}] exceeds 32 KB"
        if not (event.get("userId") or event.get("anonymousId")):
            return f"batch[{index}]: no_user_anon_id"
        if event.get("type") == "track" and not event.get("event"):
            return f"batch[{index}]: track without event"
    return None


def _write_key(request: Request) -> str:
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            return base64.b64decode(header[6:]).decode().split(":", 1)[0]
        except ValueError:
            return ""
    body = request.json_body
    return str(body.get("writeKey") or "") if isinstance(body, dict) else ""


class WebhookReceiver(_Receiver):
    """A Standard Webhooks endpoint that verifies signatures and records membership changes."""

    def reset(self) -> None:
        super().reset()
        self.secret = SANDBOX_WEBHOOK_SECRET
        self.deliveries: list[dict[str, Any]] = []

    def handle_control(self, request: Request) -> Response:
        if request.path == "/secret":
            with self.lock:
                self.secret = str(request.params.get("secret") or SANDBOX_WEBHOOK_SECRET)
            return Response(200, {"ok": True})
        if request.path == "/deliveries":
            with self.lock:
                return Response(200, {"deliveries": list(self.deliveries)})
        return super().handle_control(request)

    def handle_api(self, request: Request) -> Response:
        if request.method != "POST":
            return Response(405, {"message": "POST only"})
        with self.lock:
            answer = self.knobs.answer()
            entry = {"path": request.path, "changes": 0, "status": 200}
            self.requests.append(entry)
            if answer is not None:
                entry["status"] = answer.status
                return answer
            problem = verify(self.secret, request)
            if problem:
                entry["status"] = 401
                return Response(401, {"message": problem})
            msg_id = request.headers.get("Webhook-Id", "")
            body = request.json_body if isinstance(request.json_body, dict) else {}
            data = body.get("data") or {}
            changes = data.get("changes") or []
            entry["changes"] = len(changes)
            self.deliveries.append(
                {
                    "id": msg_id,
                    "headers": {k: v for k, v in request.headers.items() if k.startswith("Webhook")},
                    "body": request.raw_body.decode(),
                }
            )
            if msg_id in self.seen:
                return Response(200, {"duplicate": True})
            self.seen.add(msg_id)
            audience = (data.get("audience") or {}).get("slug", "")
            for change in changes:
                self.apply(audience, change.get("profile_key", ""), change.get("change", ""), change)
            return Response(200, {"received": len(changes)})


def verify(secret: str, request: Request) -> str | None:
    """Why the request's Standard Webhooks signature does not verify, or None."""
    msg_id = request.headers.get("Webhook-Id", "")
    timestamp = request.headers.get("Webhook-Timestamp", "")
    signatures = request.headers.get("Webhook-Signature", "")
    if not (msg_id and timestamp and signatures):
        return "Missing webhook-id, webhook-timestamp or webhook-signature"
    try:
        sent = int(timestamp)
    except ValueError:
        return "webhook-timestamp is not an integer"
    if abs(time.time() - sent) > TOLERANCE_SECONDS:
        return "webhook-timestamp is too old or too new"
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{timestamp}.".encode() + request.raw_body, hashlib.sha256).digest()
    ).decode()
    for signature in signatures.split(" "):
        version, _, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return None
    return "No matching signature"
