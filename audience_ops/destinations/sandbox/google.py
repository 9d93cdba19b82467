"""Emulator of Google's Data Manager API (Customer Match audience members), for the demo and the tests.

Served under ``/google/v1/...`` (a destination's ``base_url`` is ``<sandbox>/google/v1``):

- ``POST /audienceMembers:ingest`` and ``POST /audienceMembers:remove`` validate the request like the API
  (bearer token -> 401 ``UNAUTHENTICATED``; 1-10 destinations with a numeric ``operatingAccount.accountId``,
  ``accountType`` GOOGLE_ADS and a numeric ``productDestinationId``; 1-10,000 members of 1-10 identifiers;
  ``encoding`` HEX or BASE64; on ingest ``termsOfService.customerMatchTermsOfServiceStatus: ACCEPTED``), each
  failure a 400 ``INVALID_ARGUMENT`` naming Google's ``ErrorReason``; they answer ``{"requestId"}`` and apply the
  change (``validateOnly`` checks and changes nothing);
- a member whose hash is not a SHA-256 in the request's encoding fails on its own (``INVALID_SHA256_FORMAT``,
  counted in the request status); a member whose effective consent (its own, else the request's) is not
  ``CONSENT_GRANTED`` for both ad user data and ad personalization is not processed, as Google does for EEA
  users, and is counted in the request log as ``not_consented``;
- ``GET /requestStatus:retrieve?requestId=`` answers ``PROCESSING`` for the first ``processing_polls`` polls
  (1 by default, so clients must poll), then ``SUCCESS``, ``PARTIAL_SUCCESS`` or ``FAILED`` with record counts,
  error counts per reason and an ``uploadMatchRateRange``.

Simulated user base: Google knows about 60% of hashed emails and 50% of hashed phones; a member is matched
when any of its identifiers is known. User lists are created on first use.

Knobs under ``/_sandbox/google/``: throttle (HTTP 429 ``RESOURCE_EXHAUSTED``, optional Retry-After and
RetryInfo delay), fail (HTTP 5xx), hang, reject_token / accept_token, processing (polls answering PROCESSING),
outcome (the next N requests end FAILED with a reason), reset; every API call is logged without its token.
"""

from __future__ import annotations

import base64
import binascii
import itertools
from dataclasses import dataclass, field
from typing import Any

from .emulator import Emulator, Knob
from .http import Request, Response
from .members import MemberStore, is_sha256_hex, knows

API_PREFIX = "/google"
CONTROL_PREFIX = "/_sandbox/google"
VERSION_PREFIX = "/v1"
MAX_MEMBERS = 10_000
MAX_IDENTIFIERS = 10
MAX_DESTINATIONS = 10
KNOWN_SHARES = {"emailAddress": 0.60, "phoneNumber": 0.50}
ENCODINGS = frozenset({"HEX", "BASE64"})
GRANTED = "CONSENT_GRANTED"
_STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
_STATUS_NAMES.update({429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"})


class GoogleError(Exception):
    """A google.rpc.Status answer: HTTP ``status``, its canonical name, a message and an ErrorReason."""

    def __init__(self, status: int, message: str, *, reason: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.headers = headers or {}
        self.details: list[dict[str, Any]] = []

    def response(self) -> Response:
        details = list(self.details)
        if self.reason:
            details.insert(
                0,
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": self.reason,
                    "domain": "datamanager.googleapis.com",
                },
            )
        error = {
            "code": self.status,
            "message": self.message,
            "status": _STATUS_NAMES.get(self.status, "UNKNOWN"),
            "details": details,
        }
        return Response(self.status, {"error": error}, self.headers)


@dataclass
class UserList:
    id: str
    account_id: str
    members: MemberStore = field(default_factory=lambda: MemberStore(KNOWN_SHARES))

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "size": len(self.members),
            "matched": self.members.matched,
        }


@dataclass
class Upload:
    """One ingest or remove request as ``requestStatus:retrieve`` reports it."""

    request_id: str
    destination: dict[str, Any]
    removing: bool
    records: int
    identifiers: int
    errors: dict[str, int]
    matched: int
    polls_left: int
    failed_reason: str | None = None

    def status(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"destination": self.destination}
        if self.polls_left > 0:
            self.polls_left -= 1
            entry["requestStatus"] = "PROCESSING"
            return entry
        failed = sum(self.errors.values())
        if self.failed_reason:
            state, errors = "FAILED", {self.failed_reason: self.records}
        elif failed >= self.records:
            state, errors = "FAILED", self.errors
        else:
            state, errors = ("PARTIAL_SUCCESS" if failed else "SUCCESS"), self.errors
        entry["requestStatus"] = state
        if errors:
            entry["errorInfo"] = {
                "errorCounts": [{"reason": reason, "recordCount": str(count)} for reason, count in errors.items()]
            }
        if self.removing:
            counts = {"recordCount": str(self.records), "userIdentifierCount": str(self.identifiers)}
            entry["audienceMembersRemovalStatus"] = {"userDataRemovalStatus": counts}
        else:
            counts = {
                "recordCount": str(self.records),
                "userIdentifierCount": str(self.identifiers),
                "uploadMatchRateRange": match_rate_range(self.matched, self.records - failed),
            }
            entry["audienceMembersIngestionStatus"] = {"userDataIngestionStatus": counts}
        return entry


def match_rate_range(matched: int, total: int) -> str:
    """Data Manager's MatchRateRange bucket for ``matched`` of ``total`` processed records."""
    if total <= 0:
        return "MATCH_RATE_RANGE_NOT_ELIGIBLE"
    percent = 100 * matched // total
    if percent < 20:
        return "MATCH_RATE_RANGE_LESS_THAN_20"
    low = min(90, percent // 10 * 10)
    return f"MATCH_RATE_RANGE_{low}_TO_{low + 10}"


class GoogleSandbox(Emulator):
    """The emulator's state and request handling. Thread-safe: every state change holds one lock."""

    def reset(self) -> None:
        with self._lock:
            super().reset()
            self.lists: dict[str, UserList] = {}
            self.uploads: dict[str, Upload] = {}
            self._request_ids = itertools.count(1)
            self.processing_polls = 1

    # --- the Data Manager API ------------------------------------------------------------------------

    def handle_api(self, request: Request) -> Response:
        """A Data Manager request; its path starts after ``/google``."""
        op = _operation(request.method, request.path)
        entry: dict[str, Any] = {"method": request.method, "path": request.path, "op": op}
        self._log_call(entry, op)
        with self._lock:
            try:
                response = Response(200, self._dispatch(request, op, entry))
            except GoogleError as error:
                entry["error"] = error.reason or _STATUS_NAMES.get(error.status, str(error.status))
                response = error.response()
            entry["status"] = response.status
            return response

    def _dispatch(self, request: Request, op: str, entry: dict[str, Any]) -> dict[str, Any]:
        if request.params.get("__too_large__"):
            raise GoogleError(400, "Request payload size exceeds the limit.", reason="INVALID_ARGUMENT")
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip() or self._token_rejected:
            raise GoogleError(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
                "other valid authentication credential.",
                reason="ACCESS_TOKEN_TYPE_UNSUPPORTED" if not token.strip() else "ACCESS_TOKEN_EXPIRED",
            )
        fail = self._knobs.get("fail")
        if fail and fail.takes(op):
            status = int(fail.options["status"])
            raise GoogleError(status, "The service is currently unavailable." if status == 503 else "Internal error.")
        throttle = self._knobs.get("throttle")
        if throttle and throttle.takes(op):
            error = GoogleError(
                429,
                "Quota exceeded for quota metric 'Ingest requests' and limit 'Ingest requests per minute' of "
                "service 'datamanager.googleapis.com'.",
                reason="RATE_LIMIT_EXCEEDED",
            )
            error.details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "RESOURCE_EXHAUSTED",
                    "metadata": {"quota_limit": "IngestRequestsPerMinutePerProject"},
                }
            )
            if throttle.options.get("retry_after") is not None:
                error.headers["Retry-After"] = str(throttle.options["retry_after"])
            if throttle.options.get("retry_delay") is not None:
                error.details.append(
                    {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": f"{throttle.options['retry_delay']}s",
                    }
                )
            raise error
        path = request.path
        if request.method == "POST" and path == VERSION_PREFIX + "/audienceMembers:ingest":
            return self._members(request.json_body, removing=False, entry=entry)
        if request.method == "POST" and path == VERSION_PREFIX + "/audienceMembers:remove":
            return self._members(request.json_body, removing=True, entry=entry)
        if request.method == "GET" and path == VERSION_PREFIX + "/requestStatus:retrieve":
            request_id = str(request.params.get("requestId") or "")
            entry["request_id"] = request_id
            upload = self.uploads.get(request_id)
            if upload is None:
                raise GoogleError(404, f"Request {request_id!r} was not found.", reason="NOT_FOUND")
            status = upload.status()
            entry["request_status"] = status["requestStatus"]
            return {"requestStatusPerDestination": [status]}
        raise GoogleError(404, f"Method not found: {request.method} {path}", reason="NOT_FOUND")

    def _members(self, body: Any, *, removing: bool, entry: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise GoogleError(400, "Invalid JSON payload received.", reason="INVALID_FORMAT")
        destinations = body.get("destinations")
        if not isinstance(destinations, list) or not destinations:
            raise GoogleError(
                400, "destinations: at least one destination is required.", reason="REQUIRED_FIELD_MISSING"
            )
        if len(destinations) > MAX_DESTINATIONS:
            raise GoogleError(400, "destinations: at most 10 per request.", reason="TOO_MANY_DESTINATIONS")
        lists = [self._user_list(destination) for destination in destinations]
        members = body.get("audienceMembers")
        if not isinstance(members, list) or not members:
            raise GoogleError(400, "audience_members: required.", reason="REQUIRED_FIELD_MISSING")
        if len(members) > MAX_MEMBERS:
            raise GoogleError(
                400,
                f"audience_members: at most {MAX_MEMBERS} per request, got {len(members)}.",
                reason="TOO_MANY_AUDIENCE_MEMBERS",
            )
        encoding = body.get("encoding")
        if encoding not in ENCODINGS:
            raise GoogleError(400, "encoding: HEX or BASE64 is required for UserData.", reason="INVALID_ENUM_VALUE")
        if not removing:
            terms = (body.get("termsOfService") or {}).get("customerMatchTermsOfServiceStatus")
            if terms != "ACCEPTED":
                raise GoogleError(
                    400,
                    "The Customer Match terms of service must be accepted.",
                    reason="TERMS_AND_CONDITIONS_NOT_SIGNED",
                )
        request_consent = body.get("consent") if isinstance(body.get("consent"), dict) else {}
        rows: list[dict[str, str]] = []
        errors: dict[str, int] = {}
        identifiers = 0
        not_consented = 0
        for index, member in enumerate(members):
            row, problem = _member_row(member, index, encoding)
            identifiers += len(row)
            if problem:
                errors[problem] = errors.get(problem, 0) + 1
                continue
            if not removing:
                consent = {**request_consent, **(member.get("consent") or {})}
                if consent.get("adUserData") != GRANTED or consent.get("adPersonalization") != GRANTED:
                    not_consented += 1
                    continue
            rows.append(row)
        entry.update(records=len(members), not_consented=not_consented, invalid=sum(errors.values()))
        entry["list_ids"] = [user_list.id for user_list in lists]
        if body.get("validateOnly") is True:
            entry["validate_only"] = True
            return {}
        request_id = f"sandbox-request-{next(self._request_ids):06d}"
        entry["request_id"] = request_id
        outcome = self._knobs.get("outcome")
        failed_reason = str(outcome.options["reason"]) if outcome and outcome.takes(entry["op"]) else None
        matched = 0
        if failed_reason is None:
            for user_list in lists:
                for row in rows:
                    user_list.members.remove(row) if removing else user_list.members.add(row)
            matched = sum(
                1 for row in rows if any(knows(value, KNOWN_SHARES.get(key, 0.0)) for key, value in row.items())
            )
        self.uploads[request_id] = Upload(
            request_id=request_id,
            destination=destinations[0],
            removing=removing,
            records=len(members),
            identifiers=identifiers,
            errors=errors,
            matched=matched,
            polls_left=self.processing_polls,
            failed_reason=failed_reason,
        )
        return {"requestId": request_id}

    def _user_list(self, destination: Any) -> UserList:
        if not isinstance(destination, dict):
            raise GoogleError(400, "destinations: each destination is an object.", reason="INVALID_DESTINATION")
        account = destination.get("operatingAccount") or {}
        account_id = str(account.get("accountId") or "")
        account_type = account.get("accountType") or account.get("product")
        if not account_id.isdigit():
            raise GoogleError(
                400, "operating_account.account_id: a numeric id is required.", reason="INVALID_DESTINATION"
            )
        if account_type != "GOOGLE_ADS":
            raise GoogleError(400, "operating_account.account_type: must be GOOGLE_ADS.", reason="INVALID_DESTINATION")
        list_id = str(destination.get("productDestinationId") or "")
        if not list_id.isdigit():
            raise GoogleError(
                400, f"product_destination_id: {list_id!r} is not a user list id.", reason="INVALID_USER_LIST_ID"
            )
        user_list = self.lists.setdefault(list_id, UserList(id=list_id, account_id=account_id))
        if user_list.account_id != account_id:
            raise GoogleError(
                403,
                f"The operating account {account_id} has no access to user list {list_id}.",
                reason="PERMISSION_DENIED",
            )
        return user_list

    # --- control endpoints for tests -----------------------------------------------------------------

    def _inspect(self, parts: list[str], method: str) -> Response | None:
        if parts == ["lists"] and method == "GET":
            return Response(200, {"lists": [user_list.summary() for user_list in self.lists.values()]})
        if len(parts) == 3 and parts[0] == "lists" and parts[2] == "members" and method == "GET":
            user_list = self.lists.get(parts[1])
            if user_list is None:
                return Response(404, {"error": f"no user list {parts[1]}"})
            return Response(200, {"list_id": user_list.id, "members": user_list.members.listing()})
        return None

    def _set_knob(self, action: str, body: dict[str, Any], count: int, ops: frozenset[str]) -> bool:
        if action == "throttle":
            options = {"retry_after": body.get("retry_after"), "retry_delay": body.get("retry_delay")}
            self._knobs["throttle"] = Knob(count, ops, options)
        elif action == "outcome":
            self._knobs["outcome"] = Knob(count, ops, {"reason": body.get("reason") or "INTERNAL_ERROR"})
        elif action == "processing":
            self.processing_polls = int(body.get("polls", 1))
        else:
            return False
        return True


def _operation(method: str, path: str) -> str:
    if path.endswith("/audienceMembers:ingest"):
        return "ingest"
    if path.endswith("/audienceMembers:remove"):
        return "remove"
    if path.endswith("/requestStatus:retrieve"):
        return "status"
    return "other"


def _member_row(member: Any, index: int, encoding: str) -> tuple[dict[str, str], str | None]:
    """A member's identifiers as stored (hex hashes), or the ErrorReason that makes this record fail.

    A malformed member *shape* fails the whole request (400); a malformed *value* fails only its record.
    """
    user_data = member.get("userData") if isinstance(member, dict) else None
    identifiers = user_data.get("userIdentifiers") if isinstance(user_data, dict) else None
    if not isinstance(identifiers, list) or not identifiers:
        raise GoogleError(
            400, f"audience_members[{index}].user_data.user_identifiers: required.", reason="REQUIRED_FIELD_MISSING"
        )
    if len(identifiers) > MAX_IDENTIFIERS:
        raise GoogleError(
            400,
            f"audience_members[{index}]: at most {MAX_IDENTIFIERS} user identifiers.",
            reason="TOO_MANY_USER_IDENTIFIERS",
        )
    row: dict[str, str] = {}
    problem = None
    for identifier in identifiers:
        if not isinstance(identifier, dict) or len(identifier) != 1:
            raise GoogleError(
                400,
                f"audience_members[{index}]: each user identifier sets exactly one field.",
                reason="INVALID_ARGUMENT",
            )
        ((key, value),) = identifier.items()
        if key == "address":
            row["address"] = (
                "|".join(str(value.get(part, "")) for part in ("givenName", "familyName", "regionCode", "postalCode"))
                if isinstance(value, dict)
                else ""
            )
            continue
        if key not in KNOWN_SHARES or not isinstance(value, str):
            raise GoogleError(
                400, f"audience_members[{index}]: unknown user identifier {key!r}.", reason="INVALID_ARGUMENT"
            )
        hex_value = _as_hex(value, encoding)
        if hex_value is None:
            problem = problem or ("INVALID_HEX_ENCODING" if encoding == "HEX" else "INVALID_BASE64_ENCODING")
        elif not is_sha256_hex(hex_value):
            problem = problem or "INVALID_SHA256_FORMAT"
        else:
            row[key] = hex_value
    return row, problem


def _as_hex(value: str, encoding: str) -> str | None:
    """The value as lowercase hex, or None when it is not valid in ``encoding``."""
    if encoding == "HEX":
        try:
            bytes.fromhex(value)
        except ValueError:
            return None
        return value.lower()
    try:
        return base64.b64decode(value, validate=True).hex()
    except (binascii.Error, ValueError):
        return None
