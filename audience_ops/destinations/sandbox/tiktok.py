"""Emulator of TikTok's Business API segment endpoints, for the demo and the tests.

Served under ``/tiktok/open_api/v1.3/...`` (a destination's ``base_url`` is ``<sandbox>/tiktok/open_api/v1.3``).
It answers like the platform: every response is the envelope ``{"code", "message", "request_id", "data"}``
and errors come back as a non-zero ``code`` *on HTTP 200* (40105 missing or invalid token, 40002 bad
parameter naming the row, 40001 no permission, 40100 rate limit), except server failures (HTTP 5xx).

- ``POST /segment/audience/`` ``{"advertiser_id", "custom_audience_name", "action": "create"}`` -> ``audience_id``;
- ``POST /segment/mapping/`` ``{"advertiser_ids", "action": "add"|"delete", "id_schema", "batch_data"}``: rows
  aligned with ``id_schema`` (``{}`` for a missing id), ids 64 lowercase hex characters, audience ids owned by
  the advertiser, at most ``max_rows`` (1,000) rows; a bad row fails the whole request, as TikTok does;
- ``GET /advertiser/info/?advertiser_ids=[...]`` and
  ``GET /dmp/custom_audience/get/?advertiser_id=&custom_audience_ids=[...]`` (``cover_num``
  is the matched count, exact here; the real platform refreshes it within 24-48 hours).
- ``POST /dmp/custom_audience/delete/`` ``{"advertiser_id", "custom_audience_ids": [...]}`` deletes audiences
  the advertiser owns (40001 otherwise).

Simulated user base: TikTok knows about 55% of hashed emails and 85% of hashed phones (Meta's emulator: 70%
and 80%), so the same audience matches differently on each platform. A member is matched when any of its
ids is known.

Knobs under ``/_sandbox/tiktok/``: throttle (code 40100 on HTTP 200, optional Retry-After), error (any
envelope code on HTTP 200), fail (HTTP 5xx), hang, reject_token / accept_token, max_rows, reset; every
API call is logged without its token.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from .emulator import Emulator, Knob
from .http import Request, Response
from .members import MemberStore, is_sha256_hex

API_PREFIX = "/tiktok"
CONTROL_PREFIX = "/_sandbox/tiktok"
VERSION_PREFIX = "/open_api/v1.3"
DEFAULT_MAX_ROWS = 1_000
MAX_NAME_LENGTH = 128
KNOWN_SHARES = {"EMAIL_SHA256": 0.55, "PHONE_SHA256": 0.85}
ID_SCHEMAS = frozenset({"EMAIL_SHA256", "PHONE_SHA256", "IDFA_SHA256", "AAID_SHA256", "IDFA_MD5", "AAID_MD5"})
RATE_LIMIT_MESSAGE = "Too many requests. App reaches the QPS limit 10, please retry later."


class TikTokError(Exception):
    """An answer with a non-zero envelope code (HTTP 200 unless ``status`` says otherwise)."""

    def __init__(self, code: int, message: str, *, status: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class Audience:
    id: str
    advertiser_id: str
    name: str
    created_at: int
    members: MemberStore = field(default_factory=lambda: MemberStore(KNOWN_SHARES))

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "advertiser_id": self.advertiser_id,
            "name": self.name,
            "size": len(self.members),
            "matched": self.members.matched,
        }


class TikTokSandbox(Emulator):
    """The emulator's state and request handling. Thread-safe: every state change holds one lock."""

    def reset(self) -> None:
        with self._lock:
            super().reset()
            self.audiences: dict[str, Audience] = {}
            self._ids = itertools.count(7_100_000_001)
            self._request_ids = itertools.count(1)
            self.max_rows = DEFAULT_MAX_ROWS

    # --- the Business API ----------------------------------------------------------------------------

    def handle_api(self, request: Request) -> Response:
        """A Business API request; its path starts after ``/tiktok``."""
        path = request.path
        op = _operation(request.method, path)
        entry: dict[str, Any] = {"method": request.method, "path": path, "op": op}
        self._log_call(entry, op)
        with self._lock:
            request_id = f"sandbox-{next(self._request_ids):08d}"
            headers: dict[str, str] = {}
            try:
                data = self._dispatch(request, op, entry, headers)
                response = Response(200, {"code": 0, "message": "OK", "request_id": request_id, "data": data})
            except TikTokError as error:
                entry["error_code"] = error.code
                body = {"code": error.code, "message": error.message, "request_id": request_id, "data": {}}
                response = Response(error.status, body, headers)
            entry["status"] = response.status
            return response

    def _dispatch(self, request: Request, op: str, entry: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        if request.params.get("__too_large__"):
            raise TikTokError(40002, "The request body is too large", status=413)
        if not request.path.startswith(VERSION_PREFIX + "/"):
            raise TikTokError(40002, f"Unsupported API path {request.path}: expected {VERSION_PREFIX}/...")
        token = request.headers.get("Access-Token", "").strip()
        if not token:
            raise TikTokError(40105, "The access token is null. Please pass the Access-Token header.")
        if self._token_rejected:
            raise TikTokError(40105, "The access token is invalid or has expired.")
        fail = self._knobs.get("fail")
        if fail and fail.takes(op):
            raise TikTokError(50000, "Internal service error, please retry later.", status=fail.options["status"])
        throttle = self._knobs.get("throttle")
        if throttle and throttle.takes(op):
            if throttle.options.get("retry_after") is not None:
                headers["Retry-After"] = str(throttle.options["retry_after"])
            raise TikTokError(int(throttle.options["code"]), RATE_LIMIT_MESSAGE)
        error = self._knobs.get("error")
        if error and error.takes(op):
            raise TikTokError(int(error.options["code"]), str(error.options["message"]))
        route = (request.method, request.path[len(VERSION_PREFIX) :].rstrip("/") + "/")
        if route == ("POST", "/segment/audience/"):
            return self._create_audience(request.json_body, entry)
        if route == ("POST", "/segment/mapping/"):
            return self._mapping(request.json_body, entry)
        if route == ("GET", "/advertiser/info/"):
            ids = _json_list(request.params.get("advertiser_ids"), "advertiser_ids")
            return {"list": [_advertiser(advertiser_id) for advertiser_id in ids]}
        if route == ("GET", "/dmp/custom_audience/get/"):
            return self._read_audiences(request.params)
        if route == ("POST", "/dmp/custom_audience/delete/"):
            return self._delete_audiences(request.json_body)
        raise TikTokError(40002, f"Unsupported {request.method} request to {request.path}")

    def _create_audience(self, body: Any, entry: dict[str, Any]) -> dict[str, Any]:
        body = _json_object(body)
        advertiser_id = _advertiser_id(body.get("advertiser_id"), "advertiser_id")
        if body.get("action") != "create":
            raise TikTokError(40002, "action: must be create")
        name = body.get("custom_audience_name")
        if not isinstance(name, str) or not name.strip():
            raise TikTokError(40002, "custom_audience_name: required")
        if len(name) > MAX_NAME_LENGTH:
            raise TikTokError(40002, f"custom_audience_name: at most {MAX_NAME_LENGTH} characters")
        audience = Audience(
            id=str(next(self._ids)), advertiser_id=advertiser_id, name=name, created_at=int(time.time())
        )
        self.audiences[audience.id] = audience
        entry["audience_id"] = audience.id
        return {"audience_id": audience.id}

    def _mapping(self, body: Any, entry: dict[str, Any]) -> dict[str, Any]:
        body = _json_object(body)
        advertiser_ids = body.get("advertiser_ids")
        if not isinstance(advertiser_ids, list) or not advertiser_ids:
            raise TikTokError(40002, "advertiser_ids: a non-empty list is required")
        advertisers = {_advertiser_id(value, "advertiser_ids") for value in advertiser_ids}
        action = body.get("action")
        if action not in ("add", "delete"):
            raise TikTokError(40002, "action: must be add or delete")
        schema = body.get("id_schema")
        if not isinstance(schema, list) or not schema or any(column not in ID_SCHEMAS for column in schema):
            raise TikTokError(40002, f"id_schema: a non-empty list drawn from {', '.join(sorted(ID_SCHEMAS))}")
        if len(set(schema)) != len(schema):
            raise TikTokError(40002, "id_schema: a type is repeated")
        rows = body.get("batch_data")
        if not isinstance(rows, list) or not rows:
            raise TikTokError(40002, "batch_data: a non-empty list is required")
        if len(rows) > self.max_rows:
            raise TikTokError(40002, f"batch_data: at most {self.max_rows} rows per request, got {len(rows)}")
        entry.update(action=action, rows=len(rows), id_schema=schema)
        parsed: list[tuple[dict[str, str], set[str]]] = []
        for index, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != len(schema):
                raise TikTokError(40002, f"batch_data[{index}]: must have {len(schema)} items, aligned with id_schema")
            values: dict[str, str] = {}
            audience_ids: set[str] = set()
            for column, cell in zip(schema, row, strict=True):
                if cell == {}:
                    continue
                if not isinstance(cell, dict) or not isinstance(cell.get("id"), str):
                    raise TikTokError(40002, f"batch_data[{index}]: each item is {{}} or {{id, audience_ids}}")
                if column.endswith("_SHA256") and not is_sha256_hex(cell["id"]):
                    raise TikTokError(40002, f"batch_data[{index}]: {column} id is not a lowercase SHA-256 hex digest")
                ids = cell.get("audience_ids")
                if not isinstance(ids, list) or not ids:
                    raise TikTokError(40002, f"batch_data[{index}]: audience_ids is required")
                values[column] = cell["id"]
                audience_ids.update(str(audience_id) for audience_id in ids)
            if not values:
                raise TikTokError(40002, f"batch_data[{index}]: the row has no id")
            for audience_id in audience_ids:
                audience = self.audiences.get(audience_id)
                if audience is None or audience.advertiser_id not in advertisers:
                    raise TikTokError(40001, f"No permission to operate audience {audience_id} of these advertisers")
            parsed.append((values, audience_ids))
        for values, audience_ids in parsed:
            for audience_id in audience_ids:
                store = self.audiences[audience_id].members
                store.add(values) if action == "add" else store.remove(values)
        entry["audience_ids"] = sorted({audience_id for _values, ids in parsed for audience_id in ids})
        return {}

    def _read_audiences(self, params: dict[str, Any]) -> dict[str, Any]:
        advertiser_id = _advertiser_id(params.get("advertiser_id"), "advertiser_id")
        ids = _json_list(params.get("custom_audience_ids"), "custom_audience_ids")
        entries = []
        for audience_id in ids:
            audience = self.audiences.get(str(audience_id))
            if audience is None or audience.advertiser_id != advertiser_id:
                raise TikTokError(40001, f"No permission to read audience {audience_id}")
            details = {
                "audience_id": audience.id,
                "name": audience.name,
                "cover_num": audience.members.matched,
                "is_valid": True,
                "is_expiring": False,
                "audience_type": "Customer File Audience",
                "create_time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(audience.created_at)),
            }
            entries.append({"audience_details": details, "audience_history": []})
        return {"list": entries}

    def _delete_audiences(self, body: Any) -> dict[str, Any]:
        body = _json_object(body)
        advertiser_id = _advertiser_id(body.get("advertiser_id"), "advertiser_id")
        ids = [str(audience_id) for audience_id in _json_list(body.get("custom_audience_ids"), "custom_audience_ids")]
        for audience_id in ids:
            audience = self.audiences.get(audience_id)
            if audience is None or audience.advertiser_id != advertiser_id:
                raise TikTokError(40001, f"No permission to delete audience {audience_id}")
        for audience_id in ids:
            del self.audiences[audience_id]
        return {}

    # --- control endpoints for tests -----------------------------------------------------------------

    def _inspect(self, parts: list[str], method: str) -> Response | None:
        if parts == ["audiences"] and method == "GET":
            return Response(200, {"audiences": [audience.summary() for audience in self.audiences.values()]})
        if len(parts) == 3 and parts[0] == "audiences" and parts[2] == "members" and method == "GET":
            audience = self.audiences.get(parts[1])
            if audience is None:
                return Response(404, {"error": f"no audience {parts[1]}"})
            return Response(200, {"audience_id": audience.id, "members": audience.members.listing()})
        return None

    def _set_knob(self, action: str, body: dict[str, Any], count: int, ops: frozenset[str]) -> bool:
        if action == "throttle":
            options = {"code": int(body.get("code", 40100)), "retry_after": body.get("retry_after")}
            self._knobs["throttle"] = Knob(count, ops, options)
        elif action == "error":
            options = {"code": int(body.get("code", 40002)), "message": body.get("message") or "Parameter error"}
            self._knobs["error"] = Knob(count, ops, options)
        elif action == "max_rows":
            self.max_rows = int(body.get("n", DEFAULT_MAX_ROWS))
        else:
            return False
        return True


def _operation(method: str, path: str) -> str:
    """A name for what a request does, so tests can count data calls."""
    if path.endswith("/segment/audience/"):
        return "create_audience"
    if path.endswith("/segment/mapping/"):
        return "mapping"
    if path.endswith("/advertiser/info/"):
        return "read_advertiser"
    if path.endswith("/dmp/custom_audience/get/"):
        return "read_audience"
    if path.endswith("/dmp/custom_audience/delete/"):
        return "delete_audience"
    return "other"


def _json_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise TikTokError(40002, "The request body must be a JSON object")
    return body


def _json_list(raw: Any, name: str) -> list[Any]:
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        value = None
    if not isinstance(value, list) or not value:
        raise TikTokError(40002, f"{name}: a JSON list is required")
    return value


def _advertiser_id(value: Any, name: str) -> str:
    text = str(value or "").strip()
    if not text.isdigit():
        raise TikTokError(40002, f"{name}: {value!r} is not an advertiser id")
    return text


def _advertiser(advertiser_id: Any) -> dict[str, Any]:
    advertiser_id = _advertiser_id(advertiser_id, "advertiser_ids")
    return {
        "advertiser_id": advertiser_id,
        "name": f"Sandbox advertiser {advertiser_id}",
        "status": "STATUS_ENABLE",
        "currency": "USD",
        "timezone": "Etc/GMT",
    }
