"""Emulator of Meta's Graph API for customer-file custom audiences, for the demo and the tests.

It validates requests the way the platform does (token -> code 190, bad payload -> code 100 with a message,
more than 10,000 rows -> code 100, badly hashed values -> counted in ``num_invalid_entries`` and not
added), stores each audience's hashed members, and keeps a simulated platform user base so a match rate is
arithmetic over the hashes rather than a constant:

- a hashed email "has a Meta account" when ``int(hash[:8], 16) < 0.70 * 2**32`` (about 70% of emails);
- a hashed phone does when ``int(hash[:8], 16) < 0.80 * 2**32`` (about 80% of valid phones);
- ``EXTERN_ID`` alone matches nobody (it is the advertiser's key, not a platform identifier).

A member is matched when any of its hashes is known; ``approximate_count_lower_bound`` and
``_upper_bound`` both report that exact count (Meta rounds; an emulator should not).

Knobs for tests (``/_sandbox/meta/...``): throttle the next N calls with a rate-limit code, fail the next
N with HTTP 500, hang the next N for S seconds (then handle them: the platform applied a request whose
client gave up), reject every token, reset. Every API call is logged without its token.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from .emulator import Emulator, Knob
from .http import Request, Response

API_PREFIX = "/meta"
CONTROL_PREFIX = "/_sandbox/meta"
MAX_ROWS = 10_000
MAX_AUDIENCES_PER_ACCOUNT = 500
EMAIL_KNOWN_SHARE = 0.70
PHONE_KNOWN_SHARE = 0.80
SINGLE_KEY_SCHEMAS = {"EMAIL_SHA256": "EMAIL", "PHONE_SHA256": "PHONE"}
MULTI_KEYS = frozenset(
    {
        "EXTERN_ID",
        "EMAIL",
        "PHONE",
        "GEN",
        "DOBY",
        "DOBM",
        "DOBD",
        "LN",
        "FN",
        "FI",
        "CT",
        "ST",
        "ZIP",
        "MADID",
        "COUNTRY",
        "APPUID",
    }
)
UNHASHED_KEYS = frozenset({"EXTERN_ID", "MADID", "APPUID"})
CUSTOMER_FILE_SOURCES = frozenset({"USER_PROVIDED_ONLY", "PARTNER_PROVIDED_ONLY", "BOTH_USER_AND_PARTNER_PROVIDED"})
THROTTLE_MESSAGES = {
    4: ("Application request limit reached", 1504022),
    17: ("User request limit reached", 2446079),
    613: ("Calls to this api have exceeded the rate limit.", 1487742),
    80003: (
        "There have been too many calls to this ad-account. Wait a bit and try again. For more info, please refer "
        "to https://developers.facebook.com/docs/graph-api/overview/rate-limiting#custom-audience.",
        2446079,
    ),
    80004: (
        "There have been too many calls to this ad-account. Wait a bit and try again. For more info, please refer "
        "to https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-management.",
        2446079,
    ),
}
_HASH = re.compile(r"^[0-9a-f]{64}$")
_VERSION = re.compile(r"^v(\d+)\.(\d+)$")
_OLDEST_VERSION = (22, 0)
_SHARE_SCALE = 2**32


def is_known(key: str, value: str) -> bool:
    """Whether the simulated platform has a user with this hashed identifier (see the module docstring)."""
    if not value or not _HASH.match(value):
        return False
    share = {"EMAIL": EMAIL_KNOWN_SHARE, "PHONE": PHONE_KNOWN_SHARE}.get(key)
    return share is not None and int(value[:8], 16) < share * _SHARE_SCALE


def row_key(row: dict[str, str]) -> str:
    """One canonical string per member (keys sorted, empty values dropped): compact for large audiences."""
    return "\t".join(f"{key}={value}" for key, value in sorted(row.items()) if value)


def row_from_key(key: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in key.split("\t") if part)


def row_is_matched(row: dict[str, str]) -> bool:
    return any(is_known(key, value) for key, value in row.items())


@dataclass
class Audience:
    id: str
    account_id: str
    name: str
    description: str
    customer_file_source: str
    created_at: int
    members: set[str] = field(default_factory=set)
    matched: int = 0
    # key -> value -> member keys holding it; built only when a removal names a subset of a member's keys.
    index: dict[str, dict[str, set[str]]] | None = None
    sessions: dict[int, dict[str, Any]] = field(default_factory=dict)

    def add(self, row: dict[str, str]) -> None:
        key = row_key(row)
        if key in self.members:
            return
        self.members.add(key)
        self.matched += row_is_matched(row)
        if self.index is not None:
            for column, value in row.items():
                if value:
                    self.index.setdefault(column, {}).setdefault(value, set()).add(key)

    def discard(self, key: str) -> None:
        if key not in self.members:
            return
        self.members.discard(key)
        row = row_from_key(key)
        self.matched -= row_is_matched(row)
        if self.index is not None:
            for column, value in row.items():
                holders = self.index.get(column, {}).get(value)
                if holders is not None:
                    holders.discard(key)
                    if not holders:
                        del self.index[column][value]

    def remove(self, row: dict[str, str]) -> None:
        """Remove every member whose values include all of ``row``'s (removal by EXTERN_ID alone works)."""
        present = {column: value for column, value in row.items() if value}
        exact = row_key(present)
        if exact in self.members:
            self.discard(exact)
            return
        if self.index is None:
            self.index = {}
            for member in self.members:
                for column, value in row_from_key(member).items():
                    self.index.setdefault(column, {}).setdefault(value, set()).add(member)
        candidates: set[str] | None = None
        for column, value in present.items():
            holders = self.index.get(column, {}).get(value, set())
            candidates = set(holders) if candidates is None else candidates & holders
            if not candidates:
                return
        for member in candidates or ():
            self.discard(member)

    def graph(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "name": self.name,
            "description": self.description,
            "subtype": "CUSTOM",
            "customer_file_source": self.customer_file_source,
            "approximate_count_lower_bound": self.matched,
            "approximate_count_upper_bound": self.matched,
            "operation_status": {"code": 200, "description": "Normal"},
            "delivery_status": {"code": 200, "description": "This audience is ready for use."},
            "time_created": self.created_at,
        }


class GraphError(Exception):
    """An error the emulated platform answers with, in the Graph API envelope."""

    def __init__(self, code: int, message: str, *, status: int = 400, subcode: int | None = None, **extra: Any):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.subcode = subcode
        self.extra = extra

    def response(self, headers: dict[str, str] | None = None) -> Response:
        error: dict[str, Any] = {
            "message": self.message,
            "type": "OAuthException",
            "code": self.code,
            "fbtrace_id": "SandboxTrace",
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error.update(self.extra)
        return Response(self.status, {"error": error}, headers or {})


class MetaSandbox(Emulator):
    """The emulator's state and request handling. Thread-safe: every state change holds one lock."""

    def reset(self) -> None:
        with self._lock:
            super().reset()
            self.audiences: dict[str, Audience] = {}
            self._next_id = 23850000000000001

    # --- the Graph API -------------------------------------------------------------------------------

    def handle_api(self, request: Request) -> Response:
        """A Graph API request; its path starts after ``/meta``."""
        parts = [part for part in request.path.split("/") if part]
        method = request.method
        if method == "POST" and str(request.params.get("method", "")).upper() == "DELETE":
            method = "DELETE"
        op = _operation(method, parts)
        entry: dict[str, Any] = {"method": method, "path": "/" + "/".join(parts), "op": op}
        self._log_call(entry, op)
        with self._lock:
            try:
                response = self._dispatch(request, method, parts, op, entry)
            except GraphError as error:
                entry["error_code"] = error.code
                response = error.response(self._usage_headers(request, parts, error))
            entry["status"] = response.status
            return response

    def _dispatch(self, request: Request, method: str, parts: list[str], op: str, entry: dict[str, Any]) -> Response:
        if request.params.get("__too_large__"):
            raise GraphError(100, "(#100) The request body is too large", status=413)
        if not parts or not _VERSION.match(parts[0]):
            raise GraphError(2500, "Unknown path components: the path must start with an API version such as v25.0")
        major, minor = (int(number) for number in _VERSION.match(parts[0]).groups())
        if (major, minor) < _OLDEST_VERSION:
            raise GraphError(2635, f"(#2635) You are calling a deprecated version of the Ads API ({parts[0]}).")
        token = str(request.params.get("access_token") or _bearer(request.headers.get("Authorization", "")))
        if not token:
            raise GraphError(104, "An access token is required to request this resource.")
        if self._token_rejected:
            raise GraphError(190, "Invalid OAuth access token - Cannot parse access token", status=400)
        fail = self._knobs.get("fail")
        if fail and fail.takes(op):
            raise GraphError(
                2,
                "An unexpected error has occurred. Please retry your request later.",
                status=int(fail.options.get("status", 500)),
                is_transient=True,
            )
        throttle = self._knobs.get("throttle")
        if throttle and throttle.takes(op):
            code = int(throttle.options["code"])
            message, subcode = THROTTLE_MESSAGES.get(code, ("Rate limit reached", None))
            raise GraphError(code, message, subcode=subcode, status=400, is_transient=False)
        rest = parts[1:]
        if len(rest) == 2 and rest[0].startswith("act_") and rest[1] == "customaudiences" and method == "POST":
            return self._create_audience(request, rest[0][4:], entry)
        if len(rest) == 1 and rest[0].startswith("act_") and method == "GET":
            return self._read_account(rest[0][4:])
        if len(rest) == 2 and rest[1] == "users" and method in ("POST", "DELETE"):
            return self._users(request, self._audience(rest[0]), removing=method == "DELETE", entry=entry)
        if len(rest) == 2 and rest[1] == "sessions" and method == "GET":
            audience = self._audience(rest[0])
            return Response(200, {"data": [dict(session) for session in audience.sessions.values()]})
        if len(rest) == 1 and method == "GET":
            return Response(200, _fields(self._audience(rest[0]).graph(), request.params.get("fields")))
        if len(rest) == 1 and method == "DELETE":
            audience = self._audience(rest[0])
            del self.audiences[audience.id]
            return Response(200, {"success": True})
        raise GraphError(100, f"Unsupported {method.lower()} request to /{'/'.join(parts)}", subcode=33)

    def _audience(self, audience_id: str) -> Audience:
        audience = self.audiences.get(audience_id)
        if audience is None:
            raise GraphError(
                100,
                f"Unsupported request. Object with ID '{audience_id}' does not exist, cannot be loaded due to "
                "missing permissions, or does not support this operation.",
                subcode=33,
            )
        return audience

    def _read_account(self, account_id: str) -> Response:
        if not account_id.isdigit():
            raise GraphError(100, f"(#100) act_{account_id} is not a valid ad account id")
        return Response(
            200, {"id": f"act_{account_id}", "name": f"Sandbox ad account {account_id}", "account_status": 1}
        )

    def _create_audience(self, request: Request, account_id: str, entry: dict[str, Any]) -> Response:
        params = request.params
        if not account_id.isdigit():
            raise GraphError(100, f"(#100) act_{account_id} is not a valid ad account id")
        name = str(params.get("name") or "").strip()
        if not name:
            raise GraphError(100, "(#100) The parameter name is required")
        if params.get("subtype") != "CUSTOM":
            raise GraphError(100, "(#100) subtype must be CUSTOM for a customer file custom audience")
        source = params.get("customer_file_source")
        if source not in CUSTOMER_FILE_SOURCES:
            raise GraphError(
                100, f"(#100) customer_file_source must be one of {', '.join(sorted(CUSTOMER_FILE_SOURCES))}"
            )
        if sum(1 for audience in self.audiences.values() if audience.account_id == account_id) >= (
            MAX_AUDIENCES_PER_ACCOUNT
        ):
            raise GraphError(100, "(#100) This ad account has reached its limit of 500 customer file audiences")
        audience = Audience(
            id=str(self._next_id),
            account_id=account_id,
            name=name,
            description=str(params.get("description") or ""),
            customer_file_source=source,
            created_at=int(time.time()),
        )
        self._next_id += 1
        self.audiences[audience.id] = audience
        entry["audience_id"] = audience.id
        return Response(200, {"id": audience.id})

    def _users(self, request: Request, audience: Audience, *, removing: bool, entry: dict[str, Any]) -> Response:
        schema, rows = _parse_payload(request.params.get("payload"))
        session = _parse_session(request.params.get("session"))
        entry["audience_id"] = audience.id
        entry["rows"] = len(rows)
        entry["schema"] = schema
        columns = [SINGLE_KEY_SCHEMAS[schema]] if isinstance(schema, str) else schema
        invalid: dict[str, str] = {}
        valid_rows: list[dict[str, str]] = []
        for row in rows:
            problem = None
            values: dict[str, str] = {}
            for column, value in zip(columns, row, strict=True):
                if value == "":
                    continue
                if column not in UNHASHED_KEYS and not _HASH.match(value):
                    problem = (value, f"{column} is not a lowercase SHA-256 hex digest")
                    break
                values[column] = value
            if problem is None and not values:
                problem = ("", "the row has no value")
            if problem is not None:
                if len(invalid) < 100:
                    invalid.setdefault(problem[0], problem[1])
                continue
            valid_rows.append(values)
        num_invalid = len(rows) - len(valid_rows)
        for values in valid_rows:
            if removing:
                audience.remove(values)
            else:
                audience.add(values)
        body: dict[str, Any] = {
            "audience_id": audience.id,
            "num_received": len(rows),
            "num_invalid_entries": num_invalid,
        }
        if invalid:
            body["invalid_entry_samples"] = invalid
        if session is not None:
            body.update(self._track_session(audience, session, received=len(rows), invalid=num_invalid))
            entry["session_id"] = session["session_id"]
        return Response(200, body)

    def _track_session(self, audience: Audience, session: dict[str, Any], *, received: int, invalid: int) -> dict:
        """Sessions accumulate counts; a closed session refuses later batches, except a resent first batch
        (the same upload retried after a lost answer), which starts it again."""
        session_id = session["session_id"]
        state = audience.sessions.get(session_id)
        if state is not None and state["closed"] and session["batch_seq"] != 1:
            raise GraphError(2650, "This session has already finished: its last batch was received.", subcode=1870159)
        if state is None or session["batch_seq"] == 1:
            state = {"session_id": session_id, "num_received": 0, "num_invalid_entries": 0, "closed": False}
            state["start_time"] = int(time.time())
            audience.sessions[session_id] = state
        state["num_received"] += received
        state["num_invalid_entries"] += invalid
        state["closed"] = bool(session.get("last_batch_flag"))
        if state["closed"]:
            state["end_time"] = int(time.time())
        return {
            "session_id": session_id,
            "num_received": state["num_received"],
            "num_invalid_entries": state["num_invalid_entries"],
        }

    def _usage_headers(self, request: Request, parts: list[str], error: GraphError) -> dict[str, str]:
        """Rate-limit answers carry Meta's usage header; the knob decides the minutes and a Retry-After."""
        if error.code not in THROTTLE_MESSAGES:
            return {}
        throttle = self._knobs.get("throttle")
        options = throttle.options if throttle else {}
        account = next((part for part in parts if part.startswith("act_")), "act_sandbox")
        usage = {
            account: [
                {
                    "type": "custom_audience",
                    "call_count": 100,
                    "total_cputime": 10,
                    "total_time": 10,
                    "estimated_time_to_regain_access": options.get("regain_minutes", 0),
                }
            ]
        }
        headers = {"X-Business-Use-Case-Usage": json.dumps(usage)}
        if options.get("retry_after") is not None:
            headers["Retry-After"] = str(options["retry_after"])
        return headers

    # --- control endpoints for tests -----------------------------------------------------------------

    def _inspect(self, parts: list[str], method: str) -> Response | None:
        if parts == ["audiences"] and method == "GET":
            return Response(200, {"audiences": [self._summary(audience) for audience in self.audiences.values()]})
        if len(parts) == 3 and parts[0] == "audiences" and parts[2] == "members" and method == "GET":
            audience = self.audiences.get(parts[1])
            if audience is None:
                return Response(404, {"error": f"no audience {parts[1]}"})
            members = sorted(audience.members)
            return Response(200, {"audience_id": audience.id, "members": [row_from_key(key) for key in members]})
        return None

    def _set_knob(self, action: str, body: dict[str, Any], count: int, ops: frozenset[str]) -> bool:
        if action != "throttle":
            return False
        code = int(body.get("code", 80003))
        options = {"code": code, "regain_minutes": body.get("regain_minutes", 0)}
        options["retry_after"] = body.get("retry_after")
        self._knobs["throttle"] = Knob(count, ops, options)
        return True

    def _summary(self, audience: Audience) -> dict[str, Any]:
        return {
            "id": audience.id,
            "account_id": audience.account_id,
            "name": audience.name,
            "size": len(audience.members),
            "matched": audience.matched,
        }


def _operation(method: str, parts: list[str]) -> str:
    """A name for what a request does, so tests can count data calls."""
    rest = parts[1:]
    if len(rest) == 2 and rest[1] == "users":
        return {"POST": "add", "DELETE": "remove"}.get(method, "users")
    if len(rest) == 2 and rest[1] == "customaudiences":
        return "create_audience"
    if len(rest) == 1 and rest[0].startswith("act_"):
        return "read_account"
    if len(rest) == 1:
        return "read_audience" if method == "GET" else "delete_audience"
    return "other"


def _bearer(header: str) -> str:
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() in ("bearer", "oauth") else ""


def _fields(data: dict[str, Any], fields: Any) -> dict[str, Any]:
    if not fields:
        return {"id": data["id"], "name": data["name"]}
    wanted = [name.strip() for name in str(fields).split(",") if name.strip()]
    return {name: data[name] for name in ["id", *wanted] if name in data}


def _parse_payload(raw: Any) -> tuple[str | list[str], list[list[str]]]:
    """Validate ``payload`` like the platform: schema, rows of the schema's width, at most 10,000 rows."""
    if raw is None or raw == "":
        raise GraphError(100, "(#100) The parameter payload is required")
    if isinstance(raw, str):
        try:
            payload = json.loads(raw)
        except ValueError:
            raise GraphError(100, "(#100) param payload must be a JSON object") from None
    else:
        payload = raw
    if not isinstance(payload, dict):
        raise GraphError(100, "(#100) param payload must be a JSON object")
    schema = payload.get("schema")
    data = payload.get("data")
    if isinstance(schema, str):
        if schema not in SINGLE_KEY_SCHEMAS:
            raise GraphError(
                100, f"(#100) Invalid schema: {schema} (the sandbox takes {', '.join(SINGLE_KEY_SCHEMAS)})"
            )
        width = 1
    elif isinstance(schema, list) and schema:
        unknown = [key for key in schema if key not in MULTI_KEYS]
        if unknown:
            raise GraphError(100, f"(#100) Invalid schema key(s): {', '.join(map(str, unknown))}")
        if len(set(schema)) != len(schema):
            raise GraphError(100, "(#100) Invalid schema: a key is repeated")
        width = len(schema)
    else:
        raise GraphError(100, "(#100) param payload[schema] is required")
    if not isinstance(data, list) or not data:
        raise GraphError(100, "(#100) param payload[data] must be a non-empty array")
    if len(data) > MAX_ROWS:
        raise GraphError(100, f"(#100) Too many rows in one request: {len(data)} (at most {MAX_ROWS})")
    rows: list[list[str]] = []
    for index, row in enumerate(data):
        if isinstance(row, str) and width == 1:
            row = [row]
        if not isinstance(row, list) or len(row) != width:
            found = len(row) if isinstance(row, list) else type(row).__name__
            raise GraphError(100, f"(#100) payload[data][{index}] has {found} values; the schema has {width} key(s)")
        if not all(isinstance(value, str) for value in row):
            raise GraphError(100, f"(#100) payload[data][{index}] must contain only strings")
        rows.append(row)
    return schema, rows


def _parse_session(raw: Any) -> dict[str, Any] | None:
    if raw is None or raw == "":
        return None
    try:
        session = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise GraphError(100, "(#100) param session must be a JSON object") from None
    if not isinstance(session, dict):
        raise GraphError(100, "(#100) param session must be a JSON object")
    session_id = session.get("session_id")
    if not isinstance(session_id, int) or isinstance(session_id, bool) or not 0 < session_id < 2**63:
        raise GraphError(100, "(#100) param session[session_id] must be a positive 64-bit integer")
    batch_seq = session.get("batch_seq")
    if not isinstance(batch_seq, int) or isinstance(batch_seq, bool) or batch_seq < 1:
        raise GraphError(100, "(#100) param session[batch_seq] must be a positive integer")
    return session
