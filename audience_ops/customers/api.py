"""The Segment-Spec HTTP tracking API: ``POST /v1/{identify,track,page,screen,group,alias,batch}``.

Compatible with Segment's and RudderStack's server libraries pointed at this host. Auth is a write key,
as HTTP Basic ``writeKey:`` (empty password) or ``writeKey`` in the JSON body. Bodies may be gzipped.
Every message of a request is validated before anything is written, and a request's messages are stored
in one transaction; any error answers ``{"success": false, "error", "index"?, "field"?}`` and writes
nothing. ``code`` and ``message`` repeat the error in the shape Segment's and RudderStack's libraries read.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .ingestion import messages_ingest
from .messages import MessageError, TrackingMessage, batch_parse, json_loads, message_parse
from .writekeys import writekey_authenticate

# A gzip stream can be slightly larger than its content (incompressible data); allow that much on the wire.
GZIP_OVERHEAD_BYTES = 1024
# Concurrent requests creating the same profile collide on a unique constraint; the loser retries.
INGEST_ATTEMPTS = 5


class ApiError(Exception):
    """A refused request: the HTTP status and the JSON error body."""

    def __init__(self, status: int, code: str, error: str, *, field: str | None = None, index: int | None = None):
        super().__init__(error)
        self.status = status
        self.code = code
        self.error = error
        self.field = field
        self.index = index

    def response(self) -> JsonResponse:
        body: dict[str, Any] = {"success": False, "error": self.error, "code": self.code, "message": self.error}
        if self.index is not None:
            body["index"] = self.index
        if self.field is not None:
            body["field"] = self.field
        return JsonResponse(body, status=self.status)


@csrf_exempt
@login_not_required
def tracking_view(request: HttpRequest, message_type: str) -> JsonResponse:
    """One endpoint per message type; ``message_type == "batch"`` takes ``{"batch": [...]}``."""
    if request.method != "POST":
        response = ApiError(405, "method_not_allowed", "use POST").response()
        response["Allow"] = "POST"
        return response
    try:
        header_key = _basic_auth_key(request)
        if header_key is not None:
            _authenticate(header_key)
        payload = _json_body(request)
        if header_key is None:
            body_key = payload.get("writeKey") if isinstance(payload, dict) else None
            _authenticate(body_key if isinstance(body_key, str) else None)
        messages = _messages(payload, message_type)
    except ApiError as exc:
        return exc.response()
    messages_ingest(messages=messages, attempts=INGEST_ATTEMPTS)
    return JsonResponse({"success": True})


def _basic_auth_key(request: HttpRequest) -> str | None:
    """The write key of an ``Authorization: Basic`` header, None without one."""
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ApiError(401, "unauthorized", "Authorization: malformed Basic credentials") from None
    return decoded.partition(":")[0]


def _authenticate(raw_key: str | None) -> None:
    if not raw_key:
        raise ApiError(401, "unauthorized", "writeKey: missing (send HTTP Basic 'writeKey:' or writeKey in the body)")
    if writekey_authenticate(raw_key) is None:
        raise ApiError(401, "unauthorized", "writeKey: unknown or revoked write key")


def _json_body(request: HttpRequest) -> Any:
    """The request body as JSON: size-capped before and after gunzipping."""
    limit = settings.TRACKING_MAX_BATCH_BYTES
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise ApiError(400, "invalid_request", f"Content-Encoding: {encoding!r} is not supported (use gzip)")
    wire_limit = limit + GZIP_OVERHEAD_BYTES if encoding == "gzip" else limit
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        raise ApiError(400, "invalid_request", "Content-Length: not a number") from None
    if length > wire_limit:
        raise ApiError(400, "payload_too_large", f"body: {length} bytes is more than the limit of {limit} bytes")
    data = request.body
    if encoding == "gzip":
        data = gunzip_capped(data, limit=limit)
    elif len(data) > limit:
        raise ApiError(400, "payload_too_large", f"body: {len(data)} bytes is more than the limit of {limit} bytes")
    try:
        return json_loads(data)
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "body: not valid JSON") from None


def gunzip_capped(data: bytes, *, limit: int) -> bytes:
    """Decompress gzip ``data`` without ever holding more than ``limit + 1`` bytes of output.

    A decompression bomb stops at the limit; corrupt or truncated data is refused. Concatenated gzip
    members (allowed by RFC 1952) are decompressed in turn.
    """
    output = bytearray()
    remaining = data
    try:
        while True:
            decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            output += decompressor.decompress(remaining, limit + 1 - len(output))
            if len(output) > limit:
                raise ApiError(
                    400, "payload_too_large", f"body: more than the limit of {limit} bytes after decompression"
                )
            if not decompressor.eof:
                raise ApiError(400, "invalid_request", "body: truncated gzip data")
            remaining = decompressor.unused_data
            if not remaining:
                return bytes(output)
    except zlib.error:
        raise ApiError(400, "invalid_request", "body: corrupt gzip data") from None


def _messages(payload: Any, message_type: str) -> list[TrackingMessage]:
    try:
        if message_type == "batch":
            return batch_parse(payload)
        if isinstance(payload, dict):
            payload = {key: value for key, value in payload.items() if key != "writeKey"}
        return [message_parse(payload, message_type=message_type)]
    except MessageError as exc:
        raise ApiError(400, "invalid_message", str(exc), field=exc.field or None, index=exc.index) from None
